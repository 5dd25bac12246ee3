//! The QEMU guest agent of a real VM. The real `qemu-ga` runs in the guest; where a VM has
//! the virtio serial port `org.qemu.guest_agent.0` (which Proxmox adds with `agent: 1`), the
//! booted guest has a UNIX socket ([`SOCKET`]), and the agent's own unit is replaced by one
//! that listens there ([`UNIT`], written with the guest's root file system: the simulated
//! hardware). The agent starts as it does on a real VM — when the guest installs
//! `qemu-guest-agent` and enables it (the product's cloud-init does) — and `qm guest cmd` /
//! `qm guest exec` / `exec-status` speak the agent's JSON protocol to it, as qemu-server
//! does through QMP (`PVE/QemuServer/Agent.pm`: `guest-exec` with `capture-output` and
//! base64 `input-data`, then `guest-exec-status`, whose `out-data` it decodes).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// The agent's socket, as the guest sees it.
pub const SOCKET: &str = "/run/pve-sim-qga.sock";

/// The agent's unit in the guest: `qemu-ga` on [`SOCKET`] instead of the virtio port (the
/// package's unit binds to `dev-virtio\x2dports-org.qemu.guest_agent.0.device`, which a
/// container never has). A unit in `/etc/systemd/system` takes the package's place.
pub const UNIT: (&str, &str) = (
    "etc/systemd/system/qemu-guest-agent.service",
    "# pve-sim: the VM's virtio port org.qemu.guest_agent.0 is a UNIX socket here.\n\
     [Unit]\n\
     Description=QEMU Guest Agent (pve-sim)\n\
     ConditionPathExists=/usr/sbin/qemu-ga\n\
     \n\
     [Service]\n\
     ExecStart=/usr/sbin/qemu-ga --method=unix-listen --path=/run/pve-sim-qga.sock\n\
     Restart=always\n\
     RestartSec=0\n\
     \n\
     [Install]\n\
     WantedBy=multi-user.target\n",
);

/// What qemu-server says when nothing answers on the port.
pub const NOT_RUNNING: &str = "QEMU guest agent is not running";

/// One agent command and its `return` value (an agent `error` is an `Err` with its text).
pub fn call(data: &Path, id: u32, command: &Value, wait: Duration) -> Result<Value, String> {
    let path = super::view(data, id, SOCKET).ok_or_else(|| format!("VM {id} is not running"))?;
    let mut s = UnixStream::connect(&path).map_err(|_| NOT_RUNNING.to_string())?;
    s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    let mut line = serde_json::to_vec(command).map_err(|e| e.to_string())?;
    line.push(b'\n');
    s.write_all(&line).map_err(|_| NOT_RUNNING.to_string())?;
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer).map_err(|_| {
        format!(
            "VM {id} qmp command '{}' failed - got timeout",
            name(command)
        )
    })?;
    let v: Value = serde_json::from_str(answer.trim_start_matches('\u{ff}'))
        .map_err(|e| format!("VM {id}: the guest agent's answer is not JSON ({e}): {answer}"))?;
    if let Some(e) = v.get("error") {
        return Err(format!(
            "VM {id} qmp command '{}' failed - {}",
            name(command),
            e["desc"].as_str().unwrap_or("unknown error")
        ));
    }
    Ok(v.get("return").cloned().unwrap_or(Value::Null))
}

fn name(command: &Value) -> &str {
    command["execute"].as_str().unwrap_or("?")
}

/// `guest-ping` (qemu-server waits 3 s for it).
pub fn ping(data: &Path, id: u32) -> Result<(), String> {
    call(
        data,
        id,
        &json!({"execute": "guest-ping"}),
        Duration::from_secs(3),
    )
    .map(drop)
}

/// `guest-exec`: starts `argv` with `input` on its stdin, output captured; the guest pid.
pub fn exec(data: &Path, id: u32, argv: &[String], input: Option<&[u8]>) -> Result<u64, String> {
    let mut args = json!({
        "path": argv[0],
        "arg": argv[1..],
        "capture-output": true,
    });
    if let Some(i) = input {
        args["input-data"] = json!(crate::b64::encode(i));
    }
    let r = call(
        data,
        id,
        &json!({"execute": "guest-exec", "arguments": args}),
        Duration::from_secs(10),
    )?;
    r["pid"]
        .as_u64()
        .ok_or_else(|| format!("VM {id}: guest-exec returned no pid: {r}"))
}

/// A finished guest command: exit code (128 + signal when killed), stdout, stderr.
pub type Exited = (i32, Vec<u8>, Vec<u8>);

/// `guest-exec-status`: `None` while the command runs.
pub fn status(data: &Path, id: u32, pid: u64) -> Result<Option<Exited>, String> {
    let r = call(
        data,
        id,
        &json!({"execute": "guest-exec-status", "arguments": {"pid": pid}}),
        Duration::from_secs(10),
    )?;
    if r["exited"] != json!(true) {
        return Ok(None);
    }
    let bytes = |k: &str| {
        r[k].as_str()
            .map(|t| crate::b64::decode(t).unwrap_or_default())
            .unwrap_or_default()
    };
    let code = match (r["exitcode"].as_i64(), r["signal"].as_i64()) {
        (Some(c), _) => c as i32,
        (None, Some(s)) => 128 + s as i32,
        (None, None) => 0,
    };
    Ok(Some((code, bytes("out-data"), bytes("err-data"))))
}
