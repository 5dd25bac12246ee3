//! `qm guest cmd|exec|exec-status`: the guest agent, simulated or a real guest's (`crate::real::agent`).

use super::*;

/// `assert_agent_available`.
pub(super) fn agent_available(ctx: &Ctx, id: u32) -> Result<GuestConf, Outcome> {
    let conf = guest::load(ctx, F, id)?;
    if conf.main.get("agent").is_none() {
        return Err(die("No QEMU guest agent configured"));
    }
    if !ctx.state.running(id) {
        return Err(die(format!("VM {id} is not running")));
    }
    let enabled = conf
        .main
        .get("agent")
        .and_then(|a| PropStr::parse(a, Some("enabled")).ok())
        .and_then(|ps| ps.get("enabled").map(|e| check::boolean(e) == Ok("1")))
        .unwrap_or(false);
    let real = crate::real::tarball().is_some();
    let rt = ctx.state.runtime(id);
    let answers = if real {
        crate::real::agent::ping(&ctx.root.data(), id).is_ok()
    } else {
        ctx.state.now() >= rt.ready_at
    };
    if !enabled || !answers {
        // `guest-ping` times out after 3 seconds when nothing answers. The guest not
        // answering yet is not Proxmox rejecting the command: not flagged as refused.
        return Err(Outcome {
            refused: false,
            ..die("QEMU guest agent is not running").secs(3.0)
        });
    }
    Ok(conf)
}

pub(super) const AGENT_COMMANDS: &[&str] = &[
    "fsfreeze-freeze",
    "fsfreeze-status",
    "fsfreeze-thaw",
    "fstrim",
    "get-fsinfo",
    "get-host-name",
    "get-memory-block-info",
    "get-memory-blocks",
    "get-osinfo",
    "get-time",
    "get-timezone",
    "get-users",
    "get-vcpus",
    "info",
    "network-get-interfaces",
    "ping",
    "shutdown",
    "suspend-disk",
    "suspend-hybrid",
    "suspend-ram",
];

/// `qm guest cmd <vmid> <command>` (and `qm agent <vmid> <command>`).
pub(super) fn guest_cmd(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest cmd");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let cmd = p.positional[1].clone();
    if !AGENT_COMMANDS.contains(&cmd.as_str()) {
        return Err(param_error(
            &[(
                "command".into(),
                format!(
                    "value '{cmd}' does not have a value in the enumeration '{}'",
                    AGENT_COMMANDS.join(", ")
                ),
            )],
            &u,
        ));
    }
    let conf = agent_available(ctx, id)?;
    let name = conf.main.get("name").unwrap_or("localhost").to_string();
    let ip = conf
        .main
        .get("ipconfig0")
        .and_then(|v| PropStr::parse(v, None).ok())
        .and_then(|ps| ps.get("ip").map(str::to_string))
        .filter(|i| i != "dhcp")
        .unwrap_or_else(|| format!("10.0.0.{}/24", id % 250 + 2));
    let mac = conf
        .main
        .get("net0")
        .and_then(|v| parse_net(v).ok())
        .and_then(|(_, m, _)| m)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let result: Value = match cmd.as_str() {
        "get-host-name" => json!({"host-name": name}),
        "get-osinfo" => {
            json!({"id": "ubuntu", "kernel-release": "6.8.0-45-generic", "kernel-version": "#45-Ubuntu SMP PREEMPT_DYNAMIC", "machine": "x86_64", "name": "Ubuntu", "pretty-name": "Ubuntu 24.04 LTS", "version": "24.04 LTS (Noble Numbat)", "version-id": "24.04"})
        }
        "get-time" => json!(ctx.state.clock_ms * 1_000_000),
        "info" => json!({"supported_commands": [], "version": "8.2.2"}),
        "network-get-interfaces" => {
            let (addr, prefix) = ip.split_once('/').unwrap_or((&ip, "24"));
            json!([
                {"hardware-address": "00:00:00:00:00:00", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}], "name": "lo"},
                {"hardware-address": mac, "ip-addresses": [{"ip-address": addr, "ip-address-type": "ipv4", "prefix": prefix.parse::<u32>().unwrap_or(24)}], "name": "eth0"}
            ])
        }
        "get-vcpus" => json!([{"logical-id": 0, "online": true}]),
        "shutdown" => {
            stop_vm(ctx, id)?;
            return Ok(Outcome::ok(Effect::Mutate)
                .secs(cost(ctx, "qm.shutdown"))
                .guest(id));
        }
        _ => json!({}),
    };
    let out = match &result {
        Value::Object(m) if m.is_empty() => String::new(),
        Value::Object(_) | Value::Array(_) => perljson::pretty(&result),
        other => format!("{other}\n"),
    };
    Ok(Outcome::read(out)
        .secs(cost(ctx, "qm.agent_ping"))
        .guest(id))
}

pub(super) fn exec_result(job: &ExecJob) -> Value {
    let mut m = Map::new();
    m.insert("exited".into(), json!(1));
    m.insert("exitcode".into(), json!(job.exitcode));
    if !job.out.is_empty() {
        m.insert("out-data".into(), json!(as_perl_prints(&job.out)));
    }
    if !job.err.is_empty() {
        m.insert("err-data".into(), json!(as_perl_prints(&job.err)));
    }
    Value::Object(m)
}

/// The guest's output as `qm` prints it: qemu-server decodes the agent's base64 into bytes
/// (QemuServer/Agent.pm qemu_exec_status) and prints them with `to_json(…, utf8 => 1)`
/// (CLI/qm.pm), one character per byte, so UTF-8 arrives encoded twice.
pub(super) fn as_perl_prints(text: &str) -> String {
    text.bytes()
        .map(|b| char::from_u32(u32::from(b)).unwrap_or('?'))
        .collect()
}

/// The options of `qm guest exec`.
pub(super) const EXEC_OPTS: &[(&str, Kind)] = &[
    ("timeout", Kind::Value),
    ("synchronous", Kind::Bool),
    ("pass-stdin", Kind::Bool),
];

/// Whether a `qm` command line is `guest exec … --pass-stdin [1]` (it parses, so its stdin
/// is read before the state lock is taken).
pub fn passes_stdin(args: &[String]) -> bool {
    let Ok("guest") = crate::tools::resolve("qm", args.first().map(String::as_str), COMMANDS)
    else {
        return false;
    };
    if args
        .get(1)
        .and_then(|s| subcommand(subcommands("guest"), s))
        != Some("exec")
    {
        return false;
    }
    crate::args::parse(&args[2..], EXEC_OPTS, &|_| None).is_ok_and(|p| p.flag("pass-stdin"))
}

/// Reads this process's stdin until EOF, at most one byte more than [`STDIN_LIMIT`] (as
/// qm, which reads line by line and gives up once past the limit). A read error ends the
/// input, as Perl's `<STDIN>` does.
pub fn read_stdin() -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    let _ = std::io::stdin()
        .lock()
        .take(STDIN_LIMIT as u64 + 1)
        .read_to_end(&mut buf);
    buf
}

/// `qm guest exec <vmid> [--timeout N] [--synchronous 0|1] [--pass-stdin 1] -- <command>`.
/// With `--pass-stdin` qm's stdin (up to 1 MiB) is the guest command's stdin (`input-data`).
pub(super) fn guest_exec(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest exec");
    let p = parse_opts(args, EXEC_OPTS, &|_| None, &u)?;
    if p.positional.is_empty() {
        return Err(Outcome::refuse(format!("400 not enough arguments\n{u}\n")));
    }
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let timeout = match p.get("timeout") {
        Some(t) => check::int(t, Some(0), None)
            .map_err(|e| param_error(&[("timeout".into(), e)], &u))? as u64,
        None => 30,
    };
    let sync = p.get("synchronous").is_none_or(|s| s == "1");
    if p.has("timeout") && !sync {
        return Err(param_error(
            &[("synchronous".into(), "needs to be set for 'timeout'".into())],
            &u,
        ));
    }
    let input = if p.flag("pass-stdin") {
        let data = ctx.stdin.take().unwrap_or_else(read_stdin);
        if data.len() > STDIN_LIMIT {
            return Err(die("'input-data' (STDIN) is limited to 1 MiB, aborting"));
        }
        Some(String::from_utf8_lossy(&data).into_owned())
    } else {
        None
    };
    let mut cmd: Vec<String> = p.positional[1..].to_vec();
    cmd.extend(p.rest.iter().cloned());
    agent_available(ctx, id)?;
    if cmd.is_empty() {
        // With input-data but no path, the agent itself refuses `guest-exec`.
        return Err(die(match input {
            Some(_) => {
                format!("VM {id} qmp command 'guest-exec' failed - Parameter 'path' is missing")
            }
            None => "command or input-data (or both) required".to_string(),
        }));
    }
    if crate::real::tarball().is_some() {
        return real_guest_exec(ctx, id, &cmd, input.as_deref(), sync.then_some(timeout));
    }
    let fs = vm_fs(ctx, id);
    let r = fs.exec_input(&cmd, input.as_deref().unwrap_or(""), &ctx.rules, id);
    ctx.state.next_pid = ctx.state.next_pid.max(1000) + 1;
    let pid = ctx.state.next_pid;
    let now = ctx.state.now();
    let run_secs = r.secs.max(0.0);
    let job = ExecJob {
        argv: cmd,
        exitcode: r.code,
        out: r.stdout,
        err: r.stderr,
        done_at: now + run_secs.ceil() as u64,
    };
    ctx.state
        .exec_jobs
        .insert(format!("{id}:{pid}"), job.clone());
    let effect = if r.mutates {
        Effect::Mutate
    } else {
        Effect::Read
    };
    let base = Outcome {
        effect,
        ..Outcome::ok(effect)
    }
    .guest(id);
    if !sync {
        return Ok(base
            .out(perljson::pretty(&json!({"pid": pid})))
            .secs(cost(ctx, "qm.guest_exec")));
    }
    if timeout != 0 && run_secs > timeout as f64 {
        return Ok(Outcome {
            stderr: "timeout reached, returning pid\n".into(),
            ..base
        }
        .out(perljson::pretty(&json!({"pid": pid})))
        .secs(timeout as f64));
    }
    Ok(base
        .out(perljson::pretty(&exec_result(&job)))
        .secs(cost(ctx, "qm.guest_exec") + run_secs))
}

/// What `qm` prints for a command the real agent reports finished.
pub(super) fn real_result((code, out, err): crate::real::agent::Exited) -> Value {
    exec_result(&ExecJob {
        argv: Vec::new(),
        exitcode: code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
        done_at: 0,
    })
}

/// `qm guest exec` in a real VM, through its guest agent: started, then (synchronous) its
/// status polled each 100 ms until it exits or `wait` seconds pass (0: no limit), as
/// qemu-server's `qm guest exec` does (`PVE/CLI/qm.pm`).
pub(super) fn real_guest_exec(
    ctx: &mut Ctx,
    id: u32,
    cmd: &[String],
    input: Option<&str>,
    wait: Option<u64>,
) -> R {
    let data = ctx.root.data();
    let pid = crate::real::agent::exec(&data, id, cmd, input.map(str::as_bytes)).map_err(die)?;
    let effect = if crate::real::reads_only(cmd) {
        Effect::Read
    } else {
        Effect::Mutate
    };
    let base = Outcome::ok(effect)
        .guest(id)
        .secs(cost(ctx, "qm.guest_exec"));
    let Some(wait) = wait else {
        return Ok(base.out(perljson::pretty(&json!({"pid": pid}))));
    };
    let started = std::time::Instant::now();
    loop {
        if let Some(done) = crate::real::agent::status(&data, id, pid).map_err(die)? {
            return Ok(base.out(perljson::pretty(&real_result(done))));
        }
        if wait != 0 && started.elapsed().as_secs() >= wait {
            return Ok(Outcome {
                stderr: "timeout reached, returning pid\n".into(),
                ..base
            }
            .out(perljson::pretty(&json!({"pid": pid}))));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `qm guest exec-status <vmid> <pid>`. Asking about a command that has not exited yet costs
/// `qm.exec_status_poll` simulated seconds (the poller's wait), so polling ends.
pub(super) fn exec_status(ctx: &mut Ctx, args: &[String]) -> R {
    let u = usage("guest exec-status");
    let p = parse_opts(args, &[], &|_| None, &u)?;
    positionals(&p, 2, &u)?;
    let id = check::vmid(&p.positional[0]).map_err(|e| param_error(&[("vmid".into(), e)], &u))?;
    let pid = p.positional[1].clone();
    check::int(&pid, Some(0), None).map_err(|e| param_error(&[("pid".into(), e)], &u))?;
    agent_available(ctx, id)?;
    if crate::real::tarball().is_some() {
        let n: u64 = pid.parse().map_err(|_| die(format!("bad pid {pid}")))?;
        let result = match crate::real::agent::status(&ctx.root.data(), id, n).map_err(die)? {
            Some(done) => real_result(done),
            None => json!({"exited": 0}),
        };
        return Ok(Outcome::read(perljson::pretty(&result)).guest(id));
    }
    let Some(job) = ctx.state.exec_jobs.get(&format!("{id}:{pid}")).cloned() else {
        return Err(die(format!(
            "Agent error: can't get exec status for '{pid}'"
        )));
    };
    if ctx.state.now() >= job.done_at {
        return Ok(Outcome::read(perljson::pretty(&exec_result(&job))).guest(id));
    }
    Ok(Outcome::read(perljson::pretty(&json!({"exited": 0})))
        .secs(cost(ctx, "qm.exec_status_poll"))
        .guest(id))
}
