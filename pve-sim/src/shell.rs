//! The small command interpreter for what managers run inside simulated guests (see
//! [`crate::guestfs`] for what it understands): scripts, redirections, `install`,
//! `cloud-init`, and `docker` through [`crate::docker`]. The tree it works on is a
//! [`GuestFs`]; keeping the interpreter apart keeps `guestfs` free of `docker`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::guestfs::{Exec, GuestFs, basename, chmod_mode, fail_exec, io_reason};
use crate::knobs::{Rule, glob};

impl GuestFs {
    /// `mv [-f] SRC DEST`: a rename inside the tree (into DEST when it is a directory).
    fn mv(&self, args: &[String]) -> Exec {
        let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let [src, dest] = paths[..] else {
            return Exec {
                code: 1,
                stderr: "mv: missing destination file operand\n".into(),
                ..Exec::default()
            };
        };
        let from = self.host_path(src);
        let mut to = self.host_path(dest);
        if to.is_dir() {
            if let Some(name) = from.file_name() {
                to = to.join(name);
            }
        }
        match std::fs::rename(&from, &to) {
            Ok(()) => Exec {
                mutates: true,
                ..Exec::default()
            },
            Err(e) => Exec {
                code: 1,
                stderr: format!("mv: cannot move '{src}' to '{dest}': {}\n", io_reason(&e)),
                mutates: true,
                ..Exec::default()
            },
        }
    }

    /// `ln -s[f][n] TARGET LINK`: a symbolic link whose target is kept as written (a guest
    /// path), replacing an existing LINK with `-f`.
    fn symlink(&self, args: &[String]) -> Exec {
        let force = args
            .iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('f'));
        let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let [target, link] = paths[..] else {
            return Exec {
                code: 1,
                stderr: "ln: missing file operand\n".into(),
                ..Exec::default()
            };
        };
        let h = self.host_path(link);
        if std::fs::symlink_metadata(&h).is_ok() {
            if !force {
                return Exec {
                    code: 1,
                    stderr: format!("ln: failed to create symbolic link '{link}': File exists\n"),
                    ..Exec::default()
                };
            }
            let _ = std::fs::remove_file(&h);
        }
        match std::os::unix::fs::symlink(target, &h) {
            Ok(()) => Exec {
                mutates: true,
                ..Exec::default()
            },
            Err(e) => Exec {
                code: 1,
                stderr: format!(
                    "ln: failed to create symbolic link '{link}': {}\n",
                    io_reason(&e)
                ),
                ..Exec::default()
            },
        }
    }

    /// Runs `argv` inside the guest with an empty standard input.
    pub fn exec(&self, argv: &[String], rules: &[Rule], guest: u32) -> Exec {
        self.exec_input(argv, "", rules, guest)
    }

    /// Runs `argv` inside the guest with `input` as its standard input (`qm guest exec
    /// --pass-stdin`). In an `sh -c` script or a script file the input goes to the first
    /// command of every pipeline (a command that does not read it ignores it).
    pub fn exec_input(&self, argv: &[String], input: &str, rules: &[Rule], guest: u32) -> Exec {
        let line = argv.join(" ");
        if let Some(r) = rules
            .iter()
            .find(|r| r.guest.is_none_or(|g| g == guest) && glob(&r.pattern, &line))
        {
            return self.apply_rule(r);
        }
        match argv.first().map(String::as_str) {
            Some("sh" | "bash" | "/bin/sh" | "/bin/bash" | "/usr/bin/bash" | "/usr/bin/sh")
                if argv.get(1).map(String::as_str) == Some("-c") =>
            {
                let script = argv.get(2).cloned().unwrap_or_default();
                self.script(&script, input, rules, guest)
            }
            _ => self.simple(argv, input, rules, guest),
        }
    }

    /// Interprets a script of simple commands; `stdin` is the script's standard input.
    fn script(&self, script: &str, stdin: &str, rules: &[Rule], guest: u32) -> Exec {
        let tokens = match tokenize(script) {
            Ok(t) => t,
            Err(e) => {
                return Exec {
                    code: 2,
                    stderr: format!("sh: 1: {e}\n"),
                    ..Exec::default()
                };
            }
        };
        let mut total = Exec::default();
        let mut last = 0;
        let mut skip = false;
        let mut pipeline: Vec<Vec<String>> = vec![Vec::new()];
        let run_pipeline = |pipeline: &mut Vec<Vec<String>>, total: &mut Exec, last: i32| -> i32 {
            let mut input = stdin.to_string();
            let mut code = 0;
            let n = pipeline.len();
            for (i, cmd) in pipeline.drain(..).enumerate() {
                if cmd.is_empty() {
                    continue;
                }
                let cmd: Vec<String> = cmd
                    .into_iter()
                    .map(|w| if w == "$?" { last.to_string() } else { w })
                    .collect();
                let (argv, redirs) = split_redirect(&cmd);
                let mut r = self.simple(&argv, &input, rules, guest);
                match redirs.err.as_ref().map(|(_, t)| t.as_str()) {
                    Some("&1") => {
                        let e = std::mem::take(&mut r.stderr);
                        r.stdout.push_str(&e);
                    }
                    Some(_) => {
                        let (append, target) = redirs.err.clone().unwrap_or_default();
                        let e = std::mem::take(&mut r.stderr);
                        if let Err(msg) = self.write_redirect(&target, append, &e) {
                            r.code = 2;
                            r.stderr.push_str(&msg);
                        }
                    }
                    None => {}
                }
                if let Some((append, target)) = redirs.out {
                    let out = std::mem::take(&mut r.stdout);
                    if let Err(msg) = self.write_redirect(&target, append, &out) {
                        r.code = 2;
                        r.stderr.push_str(&msg);
                    }
                    r.mutates = true;
                }
                total.mutates |= r.mutates;
                total.secs += r.secs;
                total.stderr.push_str(&r.stderr);
                if i + 1 == n {
                    total.stdout.push_str(&r.stdout);
                } else {
                    input = r.stdout;
                }
                code = r.code;
            }
            pipeline.push(Vec::new());
            code
        };
        for t in tokens {
            match t {
                Token::Word(w) => {
                    if !skip {
                        pipeline.last_mut().expect("never empty").push(w);
                    }
                }
                Token::Pipe => {
                    if !skip {
                        pipeline.push(Vec::new());
                    }
                }
                Token::Seq | Token::And | Token::Or => {
                    if !skip {
                        last = run_pipeline(&mut pipeline, &mut total, last);
                    }
                    pipeline = vec![Vec::new()];
                    skip = match t {
                        Token::And => last != 0,
                        Token::Or => last == 0,
                        _ => false,
                    };
                }
            }
        }
        if !skip && pipeline.iter().any(|c| !c.is_empty()) {
            last = run_pipeline(&mut pipeline, &mut total, last);
        }
        total.code = last;
        total
    }

    /// Runs a script file of the guest line by line, stopping at the first failing line
    /// (the installers all run with `set -e`). Comments and blank lines are skipped; a line
    /// is interpreted like `sh -c`.
    fn run_file(&self, file: &str, stdin: &str, rules: &[Rule], guest: u32) -> Exec {
        let text = match std::fs::read_to_string(self.host_path(file)) {
            Ok(t) => t,
            Err(e) => {
                return Exec {
                    code: 126,
                    stderr: format!("sh: {file}: {}\n", io_reason(&e)),
                    ..Exec::default()
                };
            }
        };
        let mut total = Exec::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let r = self.script(line, stdin, rules, guest);
            total.stdout.push_str(&r.stdout);
            total.stderr.push_str(&r.stderr);
            total.mutates |= r.mutates;
            total.secs += r.secs;
            total.code = r.code;
            if r.code != 0 {
                break;
            }
        }
        total
    }

    /// What a matching rule makes a command do; its files appear in the guest.
    fn apply_rule(&self, r: &Rule) -> Exec {
        for (path, content) in &r.files {
            let h = self.host_path(path);
            if let Some(p) = h.parent() {
                let _ = std::fs::create_dir_all(p);
            }
            let _ = std::fs::write(&h, content);
        }
        Exec {
            code: r.exit,
            stdout: r.stdout.clone(),
            stderr: r.stderr.clone(),
            mutates: !r.read || !r.files.is_empty(),
            secs: r.secs,
        }
    }

    /// Writes redirected output (`/dev/null` discards it).
    fn write_redirect(&self, target: &str, append: bool, data: &str) -> Result<(), String> {
        if target == "/dev/null" {
            return Ok(());
        }
        let path = self.host_path(target);
        let res = if append {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, data.as_bytes()))
        } else {
            std::fs::write(&path, data.as_bytes())
        };
        res.map_err(|e| format!("sh: 1: cannot create {target}: {}\n", io_reason(&e)))
    }

    /// The guest's mount table (`/proc/mounts`), as `mount` prints it.
    fn mount_table(&self) -> String {
        std::fs::read_to_string(self.host_path("/proc/mounts"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4).then(|| format!("{} on {} type {} ({})\n", f[0], f[1], f[2], f[3]))
            })
            .collect()
    }

    /// `mount -a`: every fstab entry not yet mounted is recorded in `/proc/mounts`.
    pub(crate) fn mount_all(&self) -> Exec {
        let fstab = std::fs::read_to_string(self.host_path("/etc/fstab")).unwrap_or_default();
        let mounts_path = self.host_path("/proc/mounts");
        let mut mounts = std::fs::read_to_string(&mounts_path).unwrap_or_default();
        for l in fstab
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 3
                || f[2] == "swap"
                || mounts
                    .lines()
                    .any(|m| m.split_whitespace().nth(1) == Some(f[1]))
            {
                continue;
            }
            let _ = std::fs::create_dir_all(self.host_path(f[1]));
            let opts = f.get(3).copied().unwrap_or("defaults");
            mounts.push_str(&format!("{} {} {} {opts} 0 0\n", f[0], f[1], f[2]));
        }
        if let Some(p) = mounts_path.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        let _ = std::fs::write(&mounts_path, mounts);
        Exec {
            mutates: true,
            ..Exec::default()
        }
    }

    /// `install [-D] [-m MODE] [-o U] [-g G] SOURCE… DEST`, `install -t DIR SOURCE…` and
    /// `install -d DIR…` (GNU coreutils): copies into the tree with `MODE` (default 0755),
    /// replacing the destination; `/dev/stdin` as a source is `input`. `-D` creates the
    /// destination's parent directories; owners are ignored.
    fn install(&self, args: &[String], input: &str) -> Exec {
        let usage_err = |msg: String| Exec {
            code: 1,
            stderr: format!("install: {msg}\nTry 'install --help' for more information.\n"),
            mutates: true,
            ..Exec::default()
        };
        let mut parents = false;
        let mut dirs = false;
        let mut no_target_dir = false;
        let mut mode_spec: Option<String> = None;
        let mut target: Option<String> = None;
        let mut ops: Vec<String> = Vec::new();
        let mut i = 0;
        let mut only_operands = false;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if only_operands || a == "-" || !a.starts_with('-') {
                ops.push(a.clone());
                continue;
            }
            if a == "--" {
                only_operands = true;
                continue;
            }
            if let Some(long) = a.strip_prefix("--") {
                let (name, val) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                match name {
                    "mode" | "owner" | "group" | "target-directory" | "suffix" => {
                        let taken = val.is_none();
                        let Some(v) = val.or_else(|| args.get(i).cloned()) else {
                            return usage_err(format!("option '--{name}' requires an argument"));
                        };
                        if taken {
                            i += 1;
                        }
                        match name {
                            "mode" => mode_spec = Some(v),
                            "target-directory" => target = Some(v),
                            _ => {}
                        }
                    }
                    "directory" => dirs = true,
                    "no-target-directory" => no_target_dir = true,
                    "verbose"
                    | "preserve-timestamps"
                    | "compare"
                    | "strip"
                    | "backup"
                    | "context"
                    | "preserve-context"
                    | "debug" => {}
                    _ => return usage_err(format!("unrecognized option '{a}'")),
                }
                continue;
            }
            let flags: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < flags.len() {
                let f = flags[k];
                k += 1;
                match f {
                    'm' | 'o' | 'g' | 't' | 'S' => {
                        let v = if k < flags.len() {
                            let v: String = flags[k..].iter().collect();
                            k = flags.len();
                            v
                        } else if let Some(v) = args.get(i) {
                            i += 1;
                            v.clone()
                        } else {
                            return usage_err(format!("option requires an argument -- '{f}'"));
                        };
                        match f {
                            'm' => mode_spec = Some(v),
                            't' => target = Some(v),
                            _ => {}
                        }
                    }
                    'D' => parents = true,
                    'd' => dirs = true,
                    'T' => no_target_dir = true,
                    'b' | 'c' | 'C' | 'p' | 's' | 'v' | 'Z' => {}
                    other => return usage_err(format!("invalid option -- '{other}'")),
                }
            }
        }
        let mode = match &mode_spec {
            Some(m) => match chmod_mode(m, 0) {
                Some(v) => v,
                None => {
                    return Exec {
                        code: 1,
                        stderr: format!("install: invalid mode '{m}'\n"),
                        mutates: true,
                        ..Exec::default()
                    };
                }
            },
            None => 0o755,
        };
        let mut r = Exec {
            mutates: true,
            ..Exec::default()
        };
        let set_mode = |h: &Path| {
            let _ = std::fs::set_permissions(h, std::fs::Permissions::from_mode(mode));
        };
        if dirs {
            if ops.is_empty() {
                return usage_err("missing file operand".into());
            }
            for d in &ops {
                let h = self.host_path(d);
                if let Err(e) = std::fs::create_dir_all(&h) {
                    r.code = 1;
                    r.stderr.push_str(&format!(
                        "install: cannot create directory '{d}': {}\n",
                        io_reason(&e)
                    ));
                    continue;
                }
                set_mode(&h);
            }
            return r;
        }
        // (source, destination) pairs.
        let pairs: Vec<(String, String)> = match &target {
            Some(dir) => {
                if ops.is_empty() {
                    return usage_err("missing file operand".into());
                }
                if parents {
                    let _ = std::fs::create_dir_all(self.host_path(dir));
                }
                if !self.host_path(dir).is_dir() {
                    return fail_exec(format!(
                        "install: failed to access '{dir}': No such file or directory\n"
                    ));
                }
                ops.iter()
                    .map(|s| (s.clone(), format!("{dir}/{}", basename(s))))
                    .collect()
            }
            None => match ops.as_slice() {
                [] => return usage_err("missing file operand".into()),
                [one] => {
                    return usage_err(format!("missing destination file operand after '{one}'"));
                }
                [src, dest] => {
                    if !no_target_dir && self.host_path(dest).is_dir() {
                        vec![(src.clone(), format!("{dest}/{}", basename(src)))]
                    } else {
                        vec![(src.clone(), dest.clone())]
                    }
                }
                [srcs @ .., dest] => {
                    if no_target_dir {
                        return usage_err(format!("extra operand '{}'", ops[2]));
                    }
                    if !self.host_path(dest).is_dir() {
                        return fail_exec(format!("install: target '{dest}' is not a directory\n"));
                    }
                    srcs.iter()
                        .map(|s| (s.clone(), format!("{dest}/{}", basename(s))))
                        .collect()
                }
            },
        };
        for (src, dest) in pairs {
            let data: Vec<u8> =
                if matches!(src.as_str(), "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0") {
                    input.as_bytes().to_vec()
                } else {
                    let h = self.host_path(&src);
                    if h.is_dir() {
                        r.code = 1;
                        r.stderr
                            .push_str(&format!("install: omitting directory '{src}'\n"));
                        continue;
                    }
                    match std::fs::read(&h) {
                        Ok(d) => d,
                        Err(e) => {
                            r.code = 1;
                            r.stderr.push_str(&format!(
                                "install: cannot stat '{src}': {}\n",
                                io_reason(&e)
                            ));
                            continue;
                        }
                    }
                };
            let h = self.host_path(&dest);
            if parents {
                if let Some(p) = h.parent() {
                    let _ = std::fs::create_dir_all(p);
                }
            }
            if h.is_dir() {
                r.code = 1;
                r.stderr.push_str(&format!(
                    "install: cannot overwrite directory '{dest}' with non-directory\n"
                ));
                continue;
            }
            // install unlinks the destination and creates a new file.
            let _ = std::fs::remove_file(&h);
            if let Err(e) = std::fs::write(&h, &data) {
                r.code = 1;
                r.stderr.push_str(&format!(
                    "install: cannot create regular file '{dest}': {}\n",
                    io_reason(&e)
                ));
                continue;
            }
            set_mode(&h);
        }
        r
    }

    /// `cloud-init clean [--logs] [--machine-id] [--seed] [--reboot] [--configs …]`: removes
    /// what cloud-init keeps under `/var/lib/cloud` (the `seed` directory only with
    /// `--seed`), so the next boot applies the user-data again; `--logs` removes
    /// `/var/log/cloud-init*.log`, `--machine-id` writes `uninitialized` to
    /// `/etc/machine-id`. `--reboot` is accepted and does nothing here.
    fn cloud_init_clean(&self, args: &[String]) -> Exec {
        let (mut logs, mut seed, mut machine_id) = (false, false, false);
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            i += 1;
            match a {
                "-l" | "--logs" => logs = true,
                "-s" | "--seed" => seed = true,
                "--machine-id" => machine_id = true,
                "-r" | "--reboot" => {}
                "-c" | "--configs" => {
                    while args
                        .get(i)
                        .is_some_and(|v| matches!(v.as_str(), "all" | "ssh_config" | "network"))
                    {
                        i += 1;
                    }
                }
                _ => {
                    return Exec {
                        code: 2,
                        stderr: format!(
                            "usage: /usr/bin/cloud-init [-h] [--version] [--debug] [--force]\n                           {{init,modules,single,query,features,analyze,devel,collect-logs,clean,status,schema}} ...\n/usr/bin/cloud-init: error: unrecognized arguments: {a}\n"
                        ),
                        ..Exec::default()
                    };
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.host_path("/var/lib/cloud")) {
            for e in rd.filter_map(Result::ok) {
                if e.file_name() == "seed" && !seed {
                    continue;
                }
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        if logs {
            if let Ok(rd) = std::fs::read_dir(self.host_path("/var/log")) {
                for e in rd.filter_map(Result::ok) {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.starts_with("cloud-init") && n.ends_with(".log") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        if machine_id {
            let _ = std::fs::write(self.host_path("/etc/machine-id"), "uninitialized\n");
        }
        Exec {
            mutates: true,
            ..Exec::default()
        }
    }

    /// One simple command with `input` as its stdin.
    fn simple(&self, argv: &[String], input: &str, rules: &[Rule], guest: u32) -> Exec {
        let line = argv.join(" ");
        if let Some(r) = rules
            .iter()
            .find(|r| r.guest.is_none_or(|g| g == guest) && glob(&r.pattern, &line))
        {
            return self.apply_rule(r);
        }
        let Some(cmd) = argv.first() else {
            return Exec::default();
        };
        let name = cmd.rsplit('/').next().unwrap_or(cmd);
        let args = &argv[1..];
        let ok = |stdout: String| Exec {
            stdout,
            ..Exec::default()
        };
        let fail = |code: i32, stderr: String| Exec {
            code,
            stderr,
            ..Exec::default()
        };
        match name {
            "sh" | "bash" if args.first().map(String::as_str) == Some("-c") => {
                self.script(args.get(1).map_or("", String::as_str), input, rules, guest)
            }
            "env" => {
                // `env K=V … cmd`: the assignments only change the environment.
                let rest: Vec<String> = args
                    .iter()
                    .skip_while(|a| a.contains('=') && !a.starts_with('-'))
                    .cloned()
                    .collect();
                if rest.is_empty() {
                    ok(String::new())
                } else {
                    self.simple(&rest, input, rules, guest)
                }
            }
            "nohup" | "exec" | "sudo" if !args.is_empty() => self.simple(args, input, rules, guest),
            "sh" | "bash" if args.first().is_some_and(|a| !a.starts_with('-')) => {
                let file = &args[0];
                if self.host_path(file).is_file() {
                    self.run_file(file, input, rules, guest)
                } else {
                    fail(127, format!("{name}: {file}: No such file or directory\n"))
                }
            }
            _ if cmd.starts_with('/') && self.host_path(cmd).is_file() => {
                self.run_file(cmd, input, rules, guest)
            }
            "cloud-init" if args.first().map(String::as_str) == Some("status") => {
                ok("status: done\n".to_string())
            }
            "cloud-init" if args.first().map(String::as_str) == Some("clean") => {
                self.cloud_init_clean(&args[1..])
            }
            "install" => self.install(args, input),
            "docker" => crate::docker::docker(self, args).unwrap_or_else(|| Exec {
                mutates: true,
                ..Exec::default()
            }),
            "mount" if args.iter().any(|a| a == "-a") => self.mount_all(),
            "mount" if args.is_empty() => ok(self.mount_table()),
            "true" | ":" => ok(String::new()),
            "false" => fail(1, String::new()),
            "echo" => {
                let (newline, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                ok(format!(
                    "{}{}",
                    words.join(" "),
                    if newline { "\n" } else { "" }
                ))
            }
            "printf" => ok(args
                .first()
                .map(|f| f.replace("\\n", "\n"))
                .unwrap_or_default()),
            "test" | "[" => {
                let a: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| *a != "]")
                    .collect();
                let r = match a.as_slice() {
                    [op, p] => {
                        let h = self.host_path(p);
                        match *op {
                            "-e" => h.exists(),
                            "-f" => h.is_file(),
                            "-d" => h.is_dir(),
                            "-s" => std::fs::metadata(&h).is_ok_and(|m| m.len() > 0),
                            "-x" => std::fs::metadata(&h)
                                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0),
                            "-L" | "-h" => std::fs::symlink_metadata(&h)
                                .is_ok_and(|m| m.file_type().is_symlink()),
                            "-n" => !p.is_empty(),
                            "-z" => p.is_empty(),
                            _ => false,
                        }
                    }
                    [x, "=", y] => x == y,
                    [x, "!=", y] => x != y,
                    _ => false,
                };
                if r {
                    ok(String::new())
                } else {
                    fail(1, String::new())
                }
            }
            "cat" => {
                if args.is_empty() {
                    return ok(input.to_string());
                }
                let mut out = String::new();
                for p in args {
                    if p == "-" {
                        out.push_str(input);
                        continue;
                    }
                    match std::fs::read_to_string(self.host_path(p)) {
                        Ok(t) => out.push_str(&t),
                        Err(e) => {
                            return Exec {
                                code: 1,
                                stdout: out,
                                stderr: format!("cat: {p}: {}\n", io_reason(&e)),
                                ..Exec::default()
                            };
                        }
                    }
                }
                ok(out)
            }
            "ls" => {
                let p = args
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .map_or("/", String::as_str);
                match std::fs::read_dir(self.host_path(p)) {
                    Ok(rd) => {
                        let names: BTreeSet<String> = rd
                            .filter_map(Result::ok)
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        ok(names.into_iter().map(|n| n + "\n").collect())
                    }
                    Err(e) => fail(2, format!("ls: cannot access '{p}': {}\n", io_reason(&e))),
                }
            }
            "grep" => {
                let mut quiet = false;
                let mut whole = false;
                let mut rest = Vec::new();
                for a in args {
                    if a.starts_with('-') && a.len() > 1 {
                        quiet |= a.contains('q');
                        whole |= a.contains('x');
                    } else {
                        rest.push(a.as_str());
                    }
                }
                let Some(pattern) = rest.first() else {
                    return fail(2, "grep: no pattern\n".into());
                };
                let text = match rest.get(1) {
                    Some(f) => match std::fs::read_to_string(self.host_path(f)) {
                        Ok(t) => t,
                        Err(e) => return fail(2, format!("grep: {f}: {}\n", io_reason(&e))),
                    },
                    None => input.to_string(),
                };
                let hits: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        if whole {
                            l == pattern
                        } else {
                            l.contains(pattern)
                        }
                    })
                    .collect();
                match (hits.is_empty(), quiet) {
                    (true, _) => fail(1, String::new()),
                    (false, true) => ok(String::new()),
                    (false, false) => ok(hits.iter().map(|l| format!("{l}\n")).collect()),
                }
            }
            "mkdir" => {
                let parents = args.iter().any(|a| a.starts_with('-') && a.contains('p'));
                let mut r = Exec {
                    mutates: true,
                    ..Exec::default()
                };
                for p in args.iter().filter(|a| !a.starts_with('-')) {
                    let h = self.host_path(p);
                    let res = if parents {
                        std::fs::create_dir_all(&h)
                    } else {
                        std::fs::create_dir(&h)
                    };
                    if let Err(e) = res {
                        if !(parents && h.is_dir()) {
                            r.code = 1;
                            r.stderr.push_str(&format!(
                                "mkdir: cannot create directory '{p}': {}\n",
                                io_reason(&e)
                            ));
                        }
                    }
                }
                r
            }
            "rm" => {
                let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
                let mut r = Exec {
                    mutates: true,
                    ..Exec::default()
                };
                for p in args.iter().filter(|a| !a.starts_with('-')) {
                    let h = self.host_path(p);
                    let res = if h.is_dir() {
                        std::fs::remove_dir_all(&h)
                    } else {
                        std::fs::remove_file(&h)
                    };
                    if let Err(e) = res {
                        if !force {
                            r.code = 1;
                            r.stderr
                                .push_str(&format!("rm: cannot remove '{p}': {}\n", io_reason(&e)));
                        }
                    }
                }
                r
            }
            "touch" => {
                let mut r = Exec {
                    mutates: true,
                    ..Exec::default()
                };
                for p in args.iter().filter(|a| !a.starts_with('-')) {
                    let h = self.host_path(p);
                    if let Err(e) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&h)
                    {
                        r.code = 1;
                        r.stderr
                            .push_str(&format!("touch: cannot touch '{p}': {}\n", io_reason(&e)));
                    }
                }
                r
            }
            "chmod" => {
                let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                let Some((mode, files)) = words.split_first() else {
                    return fail(1, "chmod: missing operand\n".into());
                };
                let mut r = Exec {
                    mutates: true,
                    ..Exec::default()
                };
                for p in files {
                    let h = self.host_path(p);
                    let res = std::fs::metadata(&h).and_then(|m| {
                        let new = chmod_mode(mode, m.permissions().mode())
                            .ok_or_else(|| std::io::Error::other("invalid mode"))?;
                        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(new))
                    });
                    if let Err(e) = res {
                        r.code = 1;
                        r.stderr
                            .push_str(&format!("chmod: cannot access '{p}': {}\n", io_reason(&e)));
                    }
                }
                r
            }
            "mv" => self.mv(args),
            "ln" if args
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('s')) =>
            {
                self.symlink(args)
            }
            "chown" | "ln" | "systemctl" | "apt-get" | "apt" | "dpkg" | "useradd" | "usermod" => {
                Exec {
                    mutates: !matches!(
                        args.first().map(String::as_str),
                        Some("is-active" | "is-enabled" | "status")
                    ),
                    ..Exec::default()
                }
            }
            "hostname" | "uname" | "id" | "whoami" | "uptime" | "sleep" | "command" | "which"
            | "stat" | "sha256sum" | "wc" | "readlink" | "mount" | "df" | "ps" => ok(String::new()),
            _ => Exec {
                mutates: true,
                ..Exec::default()
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Seq,
    And,
    Or,
    Pipe,
}

/// Splits a shell command line into words and operators, honouring quotes.
fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = s.chars().peekable();
    let flush = |cur: &mut String, has: &mut bool, out: &mut Vec<Token>| {
        if *has {
            out.push(Token::Word(std::mem::take(cur)));
            *has = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("Syntax error: Unterminated quoted string".into()),
                    }
                }
            }
            '"' => {
                has = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(x) = chars.next() {
                                if !matches!(x, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(x);
                            }
                        }
                        Some(x) => cur.push(x),
                        None => return Err("Syntax error: Unterminated quoted string".into()),
                    }
                }
            }
            '\\' => {
                if let Some(x) = chars.next() {
                    cur.push(x);
                    has = true;
                }
            }
            ' ' | '\t' | '\n' => flush(&mut cur, &mut has, &mut out),
            ';' => {
                flush(&mut cur, &mut has, &mut out);
                out.push(Token::Seq);
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                flush(&mut cur, &mut has, &mut out);
                out.push(Token::And);
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                flush(&mut cur, &mut has, &mut out);
                out.push(Token::Or);
            }
            '|' => {
                flush(&mut cur, &mut has, &mut out);
                out.push(Token::Pipe);
            }
            '>' => {
                // `2>` redirects stderr; anything else before `>` is a word.
                let fd = if has && cur == "2" {
                    cur.clear();
                    has = false;
                    "2"
                } else {
                    flush(&mut cur, &mut has, &mut out);
                    ""
                };
                if chars.peek() == Some(&'>') {
                    chars.next();
                    out.push(Token::Word(format!("{fd}>>")));
                } else {
                    out.push(Token::Word(format!("{fd}>")));
                }
            }
            '&' if chars.peek().is_some_and(char::is_ascii_digit) => {
                // `>&1`
                cur.push('&');
                has = true;
            }
            '&' => {
                // A background job runs to completion here.
                flush(&mut cur, &mut has, &mut out);
                out.push(Token::Seq);
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    flush(&mut cur, &mut has, &mut out);
    Ok(out)
}

/// Splits `cmd > file` / `cmd >> file`.
fn split_redirect(cmd: &[String]) -> (Vec<String>, Redirs) {
    let mut argv = Vec::new();
    let mut r = Redirs::default();
    let mut i = 0;
    while i < cmd.len() {
        let w = cmd[i].as_str();
        match w {
            ">" | ">>" | "2>" | "2>>" => {
                let target = cmd.get(i + 1).cloned().unwrap_or_default();
                let slot = if w.starts_with('2') {
                    &mut r.err
                } else {
                    &mut r.out
                };
                *slot = Some((w.ends_with(">>"), target));
                i += 2;
            }
            _ => {
                argv.push(cmd[i].clone());
                i += 1;
            }
        }
    }
    (argv, r)
}

/// Output redirections of one command: `(append, target)`.
#[derive(Clone, Debug, Default)]
struct Redirs {
    out: Option<(bool, String)>,
    err: Option<(bool, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> (tempfile::TempDir, GuestFs) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let bind = d.path().join("bind");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&bind).unwrap();
        let g = GuestFs {
            root,
            mounts: vec![("/etc/nginx/ssl".into(), bind)],
        };
        (d, g)
    }

    fn run(g: &GuestFs, args: &[&str]) -> Exec {
        g.exec(
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &[],
            101,
        )
    }

    #[test]
    fn probes_see_the_tree() {
        let (_d, g) = fs();
        assert_eq!(run(&g, &["test", "-d", "/etc"]).code, 0);
        assert_eq!(run(&g, &["test", "-f", "/etc/x"]).code, 1);
        let m = run(&g, &["mkdir", "-p", "/opt/phoenix/features"]);
        assert!(m.mutates && m.code == 0);
        assert_eq!(run(&g, &["test", "-d", "/opt/phoenix/features"]).code, 0);
        let c = run(&g, &["cat", "/nope"]);
        assert_eq!(
            (c.code, c.stderr.as_str()),
            (1, "cat: /nope: No such file or directory\n")
        );
    }

    #[test]
    fn scripts_with_operators_and_redirections() {
        let (_d, g) = fs();
        let line = "nfs:/x /mnt nfs defaults 0 0";
        let script = format!("grep -qxF '{line}' /etc/fstab || echo '{line}' >> /etc/fstab");
        assert_eq!(run(&g, &["/bin/bash", "-c", &script]).code, 0);
        assert_eq!(run(&g, &["/bin/bash", "-c", &script]).code, 0);
        assert_eq!(
            std::fs::read_to_string(g.host_path("/etc/fstab")).unwrap(),
            format!("{line}\n")
        );
        let r = run(
            &g,
            &[
                "sh",
                "-c",
                "test -f /etc/fstab && cat /etc/fstab | grep -q nfs && echo yes",
            ],
        );
        assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"));
        let r = run(&g, &["sh", "-c", "false; echo after"]);
        assert_eq!(r.stdout, "after\n");
        let r = run(&g, &["sh", "-c", "false && echo never"]);
        assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    }

    #[test]
    fn bind_mounts_map_to_host_directories() {
        let (d, g) = fs();
        run(&g, &["touch", "/etc/nginx/ssl/cert.pem"]);
        assert!(d.path().join("bind/cert.pem").is_file());
        assert_eq!(
            g.host_path("/../../etc/nginx/ssl/../x"),
            g.root.join("etc/nginx/x")
        );
    }

    #[test]
    fn chmod_and_executable_tests() {
        let (_d, g) = fs();
        run(&g, &["touch", "/setup.sh"]);
        assert_eq!(run(&g, &["test", "-x", "/setup.sh"]).code, 1);
        run(&g, &["chmod", "+x", "/setup.sh"]);
        assert_eq!(run(&g, &["test", "-x", "/setup.sh"]).code, 0);
        assert_eq!(chmod_mode("750", 0), Some(0o750));
        assert_eq!(chmod_mode("go-w", 0o666), Some(0o644));
        assert_eq!(chmod_mode("u=rwx", 0o644), Some(0o744));
    }

    #[test]
    fn rules_script_other_commands() {
        let (_d, g) = fs();
        let rules = vec![Rule {
            guest: Some(101),
            pattern: "nvidia-smi*".into(),
            exit: 0,
            stdout: "580.76.05\n".into(),
            ..Rule::default()
        }];
        let r = g.exec(
            &["nvidia-smi".into(), "--query-gpu=driver_version".into()],
            &rules,
            101,
        );
        assert_eq!(r.stdout, "580.76.05\n");
        assert!(r.mutates, "a rule changes the guest unless marked read");
        let probe = vec![Rule {
            read: true,
            ..rules[0].clone()
        }];
        assert!(!g.exec(&["nvidia-smi".into()], &probe, 101).mutates);
        let other = g.exec(&["nvidia-smi".into()], &rules, 102);
        assert_eq!((other.code, other.stdout.as_str()), (0, ""));
        let failing = vec![Rule {
            pattern: "*install_docker*".into(),
            exit: 100,
            stderr: "E: broken\n".into(),
            ..Rule::default()
        }];
        let r = g.exec(
            &[
                "sh".into(),
                "-c".into(),
                "mkdir -p /x && /tmp/install_docker.sh".into(),
            ],
            &failing,
            7,
        );
        assert_eq!((r.code, r.stderr.as_str()), (100, "E: broken\n"));
    }

    #[test]
    fn script_files_run_line_by_line_and_stop_at_a_failure() {
        let (_d, g) = fs();
        run(&g, &["mkdir", "-p", "/tmp/phoenix"]);
        let script = "#!/bin/bash\nset -euo pipefail\n# a comment\necho one\ntouch /tmp/done\nfalse\ntouch /tmp/never\n";
        std::fs::write(g.host_path("/tmp/phoenix/f.sh"), script).unwrap();
        let r = run(
            &g,
            &["env", "A=1", "B=2", "/bin/bash", "/tmp/phoenix/f.sh", "7"],
        );
        assert_eq!((r.code, r.stdout.as_str()), (1, "one\n"));
        assert!(g.host_path("/tmp/done").is_file());
        assert!(!g.host_path("/tmp/never").exists());
        let direct = run(&g, &["/tmp/phoenix/f.sh"]);
        assert_eq!(direct.code, 1);
        let missing = run(&g, &["bash", "/tmp/phoenix/none.sh"]);
        assert_eq!(missing.code, 127);
        assert_eq!(run(&g, &["env", "A=1"]).code, 0);
    }

    #[test]
    fn nfs_mounts_follow_fstab() {
        let (_d, g) = fs();
        let line = "10.0.0.13:/quickOS/vm-persistent-data/1001 /persistent-storage nfs defaults,auto,nofail 0 0";
        run(
            &g,
            &[
                "/bin/bash",
                "-c",
                &format!("grep -qxF '{line}' /etc/fstab || echo '{line}' >> /etc/fstab"),
            ],
        );
        assert_eq!(
            run(
                &g,
                &["/bin/bash", "-c", "mount | grep -q '/persistent-storage'"]
            )
            .code,
            1
        );
        assert_eq!(run(&g, &["/bin/mount", "-a"]).code, 0);
        assert_eq!(
            run(
                &g,
                &["/bin/bash", "-c", "mount | grep -q '/persistent-storage'"]
            )
            .code,
            0
        );
        assert_eq!(run(&g, &["test", "-d", "/persistent-storage"]).code, 0);
        assert_eq!(
            run(&g, &["/bin/bash", "-c", "cloud-init status --wait"]).stdout,
            "status: done\n"
        );
    }

    fn run_in(g: &GuestFs, args: &[&str], input: &str) -> Exec {
        g.exec_input(
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            input,
            &[],
            101,
        )
    }

    fn mode(g: &GuestFs, p: &str) -> u32 {
        std::fs::metadata(g.host_path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn install_from_stdin_with_parents_and_mode() {
        let (_d, g) = fs();
        let r = run_in(
            &g,
            &[
                "install",
                "-D",
                "-m",
                "0640",
                "/dev/stdin",
                "/etc/phoenix/app/secret.env",
            ],
            "TOKEN=abc\n",
        );
        assert_eq!((r.code, r.stderr.as_str(), r.mutates), (0, "", true));
        assert_eq!(
            std::fs::read_to_string(g.host_path("/etc/phoenix/app/secret.env")).unwrap(),
            "TOKEN=abc\n"
        );
        assert_eq!(mode(&g, "/etc/phoenix/app/secret.env"), 0o640);
        // A read-only destination is replaced; the default mode is 0755; -Dm clusters.
        std::fs::set_permissions(
            g.host_path("/etc/phoenix/app/secret.env"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        let r = run_in(
            &g,
            &["install", "/dev/stdin", "/etc/phoenix/app/secret.env"],
            "TOKEN=def\n",
        );
        assert_eq!(r.code, 0);
        assert_eq!(mode(&g, "/etc/phoenix/app/secret.env"), 0o755);
        assert_eq!(
            std::fs::read_to_string(g.host_path("/etc/phoenix/app/secret.env")).unwrap(),
            "TOKEN=def\n"
        );
        let r = run_in(&g, &["install", "-Dm600", "/dev/stdin", "/opt/x/y"], "z");
        assert_eq!((r.code, mode(&g, "/opt/x/y")), (0, 0o600));
        // Into a directory, from a guest file, and directories with -d.
        let r = run_in(&g, &["install", "-m", "644", "/opt/x/y", "/etc"], "");
        assert_eq!((r.code, mode(&g, "/etc/y")), (0, 0o644));
        let r = run_in(&g, &["install", "-d", "-m", "0750", "/srv/a/b"], "");
        assert_eq!((r.code, mode(&g, "/srv/a/b")), (0, 0o750));
        // GNU install's refusals.
        let r = run_in(&g, &["install", "/dev/stdin", "/nodir/file"], "x");
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (
                1,
                "install: cannot create regular file '/nodir/file': No such file or directory\n"
            )
        );
        let r = run_in(&g, &["install", "/dev/stdin"], "x");
        assert_eq!(
            r.stderr,
            "install: missing destination file operand after '/dev/stdin'\nTry 'install --help' for more information.\n"
        );
        let r = run_in(&g, &["install", "/none", "/etc/none"], "");
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (
                1,
                "install: cannot stat '/none': No such file or directory\n"
            )
        );
        let r = run_in(&g, &["install", "-m", "abc", "/dev/stdin", "/etc/z"], "");
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, "install: invalid mode 'abc'\n")
        );
    }

    #[test]
    fn stdin_reaches_scripts_and_cat() {
        let (_d, g) = fs();
        let r = run_in(
            &g,
            &["sh", "-c", "mkdir -p /tmp && cat > /tmp/in"],
            "data\n",
        );
        assert_eq!(r.code, 0);
        assert_eq!(
            std::fs::read_to_string(g.host_path("/tmp/in")).unwrap(),
            "data\n"
        );
        assert_eq!(run_in(&g, &["cat"], "a\n").stdout, "a\n");
        assert_eq!(
            run_in(&g, &["cat", "-", "/tmp/in"], "a\n").stdout,
            "a\ndata\n"
        );
        let r = run_in(
            &g,
            &["/bin/bash", "-c", "grep -q needle && echo found"],
            "hay\nneedle\n",
        );
        assert_eq!(r.stdout, "found\n");
        assert_eq!(run(&g, &["cat"]).stdout, "", "exec passes no input");
    }

    #[test]
    fn cloud_init_clean_forgets_the_instance() {
        let (_d, g) = fs();
        for p in [
            "/var/lib/cloud/instance/boot-finished",
            "/var/lib/cloud/seed/nocloud/user-data",
            "/var/log/cloud-init.log",
            "/var/log/cloud-init-output.log",
            "/var/log/syslog",
        ] {
            let h = g.host_path(p);
            std::fs::create_dir_all(h.parent().unwrap()).unwrap();
            std::fs::write(h, "x").unwrap();
        }
        let r = run(&g, &["cloud-init", "clean"]);
        assert_eq!((r.code, r.mutates), (0, true));
        assert!(!g.host_path("/var/lib/cloud/instance").exists());
        assert!(
            g.host_path("/var/lib/cloud/seed/nocloud/user-data")
                .exists()
        );
        assert!(g.host_path("/var/log/cloud-init.log").exists());
        let r = run(
            &g,
            &[
                "/bin/bash",
                "-c",
                "cloud-init clean --logs --machine-id --seed",
            ],
        );
        assert_eq!(r.code, 0);
        assert!(!g.host_path("/var/lib/cloud/seed").exists());
        assert!(!g.host_path("/var/log/cloud-init.log").exists());
        assert!(!g.host_path("/var/log/cloud-init-output.log").exists());
        assert!(g.host_path("/var/log/syslog").exists());
        assert_eq!(
            std::fs::read_to_string(g.host_path("/etc/machine-id")).unwrap(),
            "uninitialized\n"
        );
        assert_eq!(run(&g, &["cloud-init", "clean", "--bogus"]).code, 2);
        assert_eq!(run(&g, &["cloud-init", "status"]).stdout, "status: done\n");
    }

    #[test]
    fn rules_leave_files() {
        let (_d, g) = fs();
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "/tmp/phoenix_feature_docker_exit_code".to_string(),
            "3\n".to_string(),
        );
        let rules = vec![Rule {
            pattern: "*install_docker*".into(),
            files,
            ..Rule::default()
        }];
        let r = g.exec(
            &[
                "/bin/bash".into(),
                "-c".into(),
                "nohup /bin/bash -c '/tmp/install_docker.sh' &".into(),
            ],
            &rules,
            1,
        );
        assert_eq!(r.code, 0);
        assert_eq!(
            std::fs::read_to_string(g.host_path("/tmp/phoenix_feature_docker_exit_code")).unwrap(),
            "3\n"
        );
    }
}
