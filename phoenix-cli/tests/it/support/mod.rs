//! Test harness: a temporary install with a copy of `phoenix-cli` and fake managers next to
//! it, a system root, and a configuration directory.
//!
//! Every run gets `PHOENIX_ROOT`, `PHOENIX_SYSROOT` and a log file inside the temp dir, so
//! nothing on the machine is touched.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `../shared/reference`, when it is there (skips otherwise, with a note).
pub fn reference() -> Option<PathBuf> {
    let dir = repo().join("../shared/reference");
    if dir.join("etc").is_dir() {
        Some(dir.canonicalize().expect("canonical reference path"))
    } else {
        eprintln!("note: {} is absent; skipping", dir.display());
        None
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole transcript unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A temporary installation.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// An empty installation with `phoenix-cli` in `bin/`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Self { dir };
        std::fs::create_dir_all(env.bin()).unwrap();
        std::fs::create_dir_all(env.sys()).unwrap();
        std::fs::create_dir_all(env.etc()).unwrap();
        let cli = env.bin().join("phoenix-cli");
        std::fs::copy(env!("CARGO_BIN_EXE_phoenix-cli"), &cli).expect("copy phoenix-cli");
        env
    }

    /// With a copy of the repository's example configuration (`etc/` and `stacks/`).
    pub fn with_examples() -> Self {
        let env = Self::new();
        env.copy_config(&repo());
        env
    }

    /// Copies `<src>/etc/*.json` and `<src>/stacks/` into the installation.
    pub fn copy_config(&self, src: &Path) {
        copy_tree(&src.join("etc"), &self.etc(), &|p| {
            p.extension().is_some_and(|e| e == "json")
        });
        if src.join("stacks").is_dir() {
            copy_tree(&src.join("stacks"), &self.root().join("stacks"), &|_| true);
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn bin(&self) -> PathBuf {
        self.root().join("bin")
    }
    pub fn etc(&self) -> PathBuf {
        self.root().join("etc")
    }
    pub fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    /// Installs a fake manager (a shell script) under `name`.
    pub fn script(&self, name: &str, body: &str) {
        let p = self.bin().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Installs the four managers as recording fakes. Each appends `start <name> <args>` and
    /// `end <name> <args>` to the call log; `FAIL_<verb>_<id>=1` in the environment makes a
    /// call exit 1, and `$HOOK` (if set) is sourced between start and end.
    pub fn fake_managers(&self) {
        for m in [
            "lxc-manager",
            "vm-manager",
            "hypervisor-manager",
            "portainer-manager",
        ] {
            self.script(
                m,
                r#"log="$FAKE_LOG"
name=$(basename "$0")
echo "start $name $*" >> "$log"
verb=$1; id=$2
if [ -n "${HOOK:-}" ]; then . "$HOOK"; fi
eval "fail=\${FAIL_$(echo "${verb}_${id}" | tr -c 'A-Za-z0-9_\n' '_'):-}"
if [ -n "$fail" ]; then echo "$name: $verb $id failed on purpose" >&2; echo "end $name $* FAILED" >> "$log"; exit 1; fi
echo "$name: $verb $id done"
echo "end $name $*" >> "$log"
"#,
            );
        }
        self.pveversion(PVE_91);
    }

    /// Installs a fake `pveversion` on the `PATH` the binaries run with, printing `verbose`
    /// for `pveversion -v`.
    pub fn pveversion(&self, verbose: &str) {
        let dir = self.dir.path().join("tools");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pveversion");
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"pveversion $*\" >> \"$FAKE_LOG.tools\"\ncat <<'EOF'\n{verbose}EOF\n"),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Every `start …` line of the call log, without the `start ` prefix.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("start "))
            .map(str::to_string)
            .collect()
    }

    /// The call log as written.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs the copied `phoenix-cli` with `args` and extra environment.
    pub fn run<I, S>(&self, args: I, envs: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_binary(&self.bin().join("phoenix-cli"), args, self, envs)
    }

    /// Reads a config file as JSON.
    pub fn read_json(&self, file: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.etc().join(file)).unwrap()).unwrap()
    }

    /// Writes a config file from JSON.
    pub fn write_json(&self, file: &str, v: &Value) {
        std::fs::write(
            self.etc().join(file),
            serde_json::to_string_pretty(v).unwrap(),
        )
        .unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest, keep);
        } else if keep(&p) {
            std::fs::copy(&p, &dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// `pveversion -v` of a Proxmox VE 9.1 host (pve-manager bin/pveversion), shortened.
pub const PVE_91: &str = "proxmox-ve: 9.1.0 (running kernel: 6.17.2-1-pve)\npve-manager: 9.1.1 (running version: 9.1.1/f4d3f125ffae50e9)\nlibpve-storage-perl: 9.1.0\npve-container: 6.0.18\nqemu-server: 9.1.0\n";

/// Runs a binary with the test installation's environment. The test harness's one process
/// spawn (the product's go through phoenix_core's runner).
#[allow(clippy::disallowed_methods)]
pub fn run_binary<I, S>(bin: &Path, args: I, env: &Env, envs: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = std::process::Command::new(bin);
    c.args(args)
        .current_dir(env.dir.path())
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", env.dir.path().join("tools").display()),
        )
        .env("PHOENIX_ROOT", env.root())
        .env("PHOENIX_SYSROOT", env.sys())
        .env("FAKE_LOG", env.log())
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        c.env(k, v);
    }
    // A binary copied into the installation moments ago may still be open for writing in a
    // process another test thread forked meanwhile (ETXTBSY): wait for it to close.
    let mut tries = 0;
    let out = loop {
        match c.output() {
            Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => break r.expect("run binary"),
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Replaces the temp dir and other run-specific text for snapshots.
pub fn filter(env: &Env, text: &str) -> String {
    let mut t = text.replace(&env.dir.path().display().to_string(), "[TEMP]");
    if let Some(r) = reference() {
        t = t.replace(&r.display().to_string(), "[REFERENCE]");
    }
    t = t.replace(&repo().display().to_string(), "[REPO]");
    t.lines()
        .map(|l| {
            // Durations in the summary table.
            let mut out = String::new();
            for w in l.split_inclusive(' ') {
                let core = w.trim_end();
                if core.ends_with('s') && core[..core.len() - 1].parse::<f64>().is_ok() {
                    out.push_str(&w.replace(core, "[TIME]"));
                } else {
                    out.push_str(w);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}
