//! What cloud-init inside a simulated VM does with a `cicustom` user-data snippet on boot.
//!
//! `qm start` hands the snippet (`cicustom: user=<storage>:snippets/<file>`, read from the
//! storage's `snippets/` directory) to [`boot`], which applies it to the VM's file tree the
//! way cloud-init's per-instance modules would, once per content: the SHA-256 of the applied
//! user-data is kept in `/var/lib/cloud/instance/user-data.sha256` (next to a copy,
//! `user-data.txt`), so a restart with the same snippet changes nothing, a changed snippet
//! is applied again, and so is any snippet after `cloud-init clean` (which removes
//! `/var/lib/cloud/instance`). `/var/lib/cloud/instance/boot-finished` is written on every
//! boot.
//!
//! The accepted format is the one vm-manager renders: the first line `#cloud-config`, then
//! top-level `key: <value>` lines at column 0 whose value is JSON (a value that is not JSON
//! is a plain string); comments, blank lines and indented YAML are ignored. The modules:
//!
//! - `mounts`: `[[spec, mount_point, fstype, options, dump, pass], …]` → the fstab line
//!   (missing fstype/options → `auto`/`defaults`, missing dump/pass → `0 0`) is appended to
//!   `/etc/fstab` unless already there, the mount point is created, then `mount -a`.
//! - `write_files`: `[{path, content, permissions: "0644", append, owner}, …]` → the file,
//!   with its parent directories and mode (default 0644); owners are ignored.
//! - `packages`: `["name", ["name", "version"], …]` → one line each (no duplicates) in
//!   `/var/lib/pve-sim/packages`, so tests see what would be installed.
//! - `runcmd`: `["cmd", ["argv", …], …]` → one line each appended to
//!   `/var/log/pve-sim-runcmd.log` (not run).
//!
//! What was applied is logged to the guest's `/var/log/cloud-init.log`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::guestfs::GuestFs;

/// Where the applied user-data's hash is kept in the guest.
pub const MARKER: &str = "/var/lib/cloud/instance/user-data.sha256";

/// What one boot did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Boot {
    /// The user-data was (re)applied (its content differs from the last applied one).
    pub applied: bool,
}

/// Parses a `#cloud-config` document into its top-level entries (in order; a repeated key
/// keeps its last value). `None` when the first line is not `#cloud-config`.
pub fn parse(text: &str) -> Option<Vec<(String, Value)>> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("#cloud-config") {
        return None;
    }
    let mut out: Vec<(String, Value)> = Vec::new();
    for line in lines {
        if line.trim().is_empty()
            || line.starts_with('#')
            || line.starts_with(char::is_whitespace)
            || line.starts_with('-')
        {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.is_empty() {
            continue;
        }
        let v = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), v));
    }
    Some(out)
}

/// Applies `user_data` to the guest on boot (unless this content was applied already) and
/// writes `boot-finished`; `date` is the simulated time for the logs.
pub fn boot(fs: &GuestFs, user_data: &str, date: &str) -> Boot {
    let hash = sha256_hex(user_data.as_bytes());
    let marker = fs.host_path(MARKER);
    let applied_before = std::fs::read_to_string(&marker)
        .map(|t| t.trim() == hash)
        .unwrap_or(false);
    let mut log = Vec::new();
    if !applied_before {
        log.push(format!(
            "{date} - pve-sim: applying user-data sha256={hash}"
        ));
        match parse(user_data) {
            Some(entries) => apply(fs, &entries, &mut log),
            None => log.push(format!(
                "{date} - pve-sim: WARNING: user-data does not start with #cloud-config; nothing applied"
            )),
        }
        let dir = fs.host_path("/var/lib/cloud/instance");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("user-data.txt"), user_data);
        let _ = std::fs::write(&marker, format!("{hash}\n"));
    } else {
        log.push(format!(
            "{date} - pve-sim: user-data sha256={hash} already applied"
        ));
    }
    let dir = fs.host_path("/var/lib/cloud/instance");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("boot-finished"),
        format!("{date} - v. 24.1.3-0ubuntu3 (pve-sim)\n"),
    );
    append_lines(fs, "/var/log/cloud-init.log", &log);
    Boot {
        applied: !applied_before,
    }
}

/// Runs the modules over the parsed entries.
fn apply(fs: &GuestFs, entries: &[(String, Value)], log: &mut Vec<String>) {
    let get = |k: &str| entries.iter().find(|(x, _)| x == k).map(|(_, v)| v);
    if let Some(v) = get("write_files") {
        write_files(fs, v, log);
    }
    if let Some(v) = get("mounts") {
        mounts(fs, v, log);
    }
    if let Some(v) = get("packages") {
        let names: Vec<String> = items(v)
            .iter()
            .filter_map(|p| match p {
                Value::Array(a) => {
                    let parts: Vec<String> = a.iter().map(scalar).collect();
                    (!parts.is_empty()).then(|| parts.join("="))
                }
                Value::Null => None,
                other => Some(scalar(other)),
            })
            .collect();
        let path = fs.host_path("/var/lib/pve-sim/packages");
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        let mut new: Vec<String> = Vec::new();
        for n in names {
            if !have.lines().any(|l| l == n) && !new.contains(&n) {
                new.push(n);
            }
        }
        log.push(format!("pve-sim: packages: {}", new.join(" ")));
        append_lines(fs, "/var/lib/pve-sim/packages", &new);
    }
    if let Some(v) = get("runcmd") {
        let cmds: Vec<String> = items(v)
            .iter()
            .map(|c| match c {
                Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(" "),
                other => scalar(other),
            })
            .collect();
        log.push(format!(
            "pve-sim: runcmd: {} command(s) recorded",
            cmds.len()
        ));
        append_lines(fs, "/var/log/pve-sim-runcmd.log", &cmds);
    }
}

/// The `write_files` module.
fn write_files(fs: &GuestFs, v: &Value, log: &mut Vec<String>) {
    for f in items(v) {
        let Some(path) = f.get("path").and_then(Value::as_str) else {
            log.push("pve-sim: WARNING: write_files entry without a path skipped".into());
            continue;
        };
        let content = f.get("content").map(scalar).unwrap_or_default();
        let mode = match f.get("permissions") {
            Some(Value::Number(n)) => n.as_u64().and_then(|m| u32::try_from(m).ok()),
            Some(Value::String(s)) => {
                let s = s.trim();
                let digits = s.strip_prefix("0o").unwrap_or(s);
                u32::from_str_radix(digits, 8).ok()
            }
            _ => Some(0o644),
        };
        let Some(mode) = mode else {
            log.push(format!(
                "pve-sim: WARNING: write_files {path}: invalid permissions"
            ));
            continue;
        };
        let append = f.get("append").and_then(Value::as_bool).unwrap_or(false);
        let h = fs.host_path(path);
        if let Some(p) = h.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        let res = if append {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&h)
                .and_then(|mut file| file.write_all(content.as_bytes()))
        } else {
            let _ = std::fs::remove_file(&h);
            std::fs::write(&h, content.as_bytes())
        };
        match res {
            Ok(()) => {
                let _ = std::fs::set_permissions(&h, std::fs::Permissions::from_mode(mode));
                log.push(format!("pve-sim: write_files: {path} ({mode:04o})"));
            }
            Err(e) => log.push(format!("pve-sim: WARNING: write_files {path}: {e}")),
        }
    }
}

/// The `mounts` module: fstab lines, mount points, `mount -a`.
fn mounts(fs: &GuestFs, v: &Value, log: &mut Vec<String>) {
    const DEFAULTS: [&str; 6] = ["", "", "auto", "defaults", "0", "0"];
    let fstab = fs.host_path("/etc/fstab");
    let mut text = std::fs::read_to_string(&fstab).unwrap_or_default();
    let mut any = false;
    for m in items(v) {
        let Value::Array(fields) = m else {
            log.push("pve-sim: WARNING: mounts entry is not a list; skipped".into());
            continue;
        };
        let mut f: Vec<String> = Vec::new();
        for (i, d) in DEFAULTS.iter().enumerate() {
            match fields.get(i) {
                Some(Value::Null) | None => f.push((*d).to_string()),
                Some(x) => f.push(scalar(x)),
            }
        }
        if f[0].is_empty() || f[1].is_empty() {
            log.push("pve-sim: WARNING: mounts entry without device or mount point skipped".into());
            continue;
        }
        any = true;
        let line = f.join(" ");
        let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.lines().any(|l| norm(l) == line) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            log.push(format!("pve-sim: mounts: {line}"));
        }
        if f[2] != "swap" {
            let _ = std::fs::create_dir_all(fs.host_path(&f[1]));
        }
    }
    if let Some(p) = fstab.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    let _ = std::fs::write(&fstab, text);
    if any {
        fs.mount_all();
    }
}

/// The elements of a list value (a single value counts as a list of one).
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// A scalar as text (strings without quotes).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Appends lines to a guest file, creating it and its directory.
fn append_lines(fs: &GuestFs, path: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let h = fs.host_path(path);
    if let Some(p) = h.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&h)
    {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let _ = f.write_all(text.as_bytes());
    }
}

/// SHA-256 (FIPS 180-4) as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> (tempfile::TempDir, GuestFs) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/fstab"), "").unwrap();
        let g = GuestFs {
            root,
            mounts: Vec::new(),
        };
        (d, g)
    }

    fn read(g: &GuestFs, p: &str) -> String {
        std::fs::read_to_string(g.host_path(p)).unwrap_or_default()
    }

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn parses_the_rendered_format() {
        let doc = "#cloud-config\n# a comment\n\nhostname: vm1\npackages: [\"nfs-common\", \"jq\"]\nmounts: [[\"10.0.0.13:/x\", \"/data\", \"nfs\", \"defaults\"]]\nusers:\n  - default\nport: 22\n";
        let e = parse(doc).unwrap();
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["hostname", "packages", "mounts", "port"]);
        assert_eq!(e[0].1, Value::String("vm1".into()));
        assert_eq!(e[3].1, serde_json::json!(22));
        assert_eq!(parse("#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn applies_once_per_content() {
        let (_d, g) = fs();
        let doc = concat!(
            "#cloud-config\n",
            "mounts: [[\"10.0.0.13:/export/1001\", \"/persistent-storage\", \"nfs\", \"defaults,nofail\"]]\n",
            "write_files: [{\"path\": \"/etc/phoenix/env\", \"content\": \"A=1\\n\", \"permissions\": \"0600\", \"owner\": \"root:root\"}]\n",
            "packages: [\"nfs-common\", \"qemu-guest-agent\", \"nfs-common\"]\n",
            "runcmd: [[\"systemctl\", \"enable\", \"--now\", \"qemu-guest-agent\"], \"touch /x\"]\n",
        );
        assert!(boot(&g, doc, "2026-01-01 00:00:00").applied);
        let line = "10.0.0.13:/export/1001 /persistent-storage nfs defaults,nofail 0 0\n";
        assert_eq!(read(&g, "/etc/fstab"), line);
        assert!(g.host_path("/persistent-storage").is_dir());
        assert_eq!(
            read(&g, "/proc/mounts"),
            "10.0.0.13:/export/1001 /persistent-storage nfs defaults,nofail 0 0\n"
        );
        assert_eq!(read(&g, "/etc/phoenix/env"), "A=1\n");
        let mode = std::fs::metadata(g.host_path("/etc/phoenix/env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o600);
        assert_eq!(
            read(&g, "/var/lib/pve-sim/packages"),
            "nfs-common\nqemu-guest-agent\n"
        );
        assert_eq!(
            read(&g, "/var/log/pve-sim-runcmd.log"),
            "systemctl enable --now qemu-guest-agent\ntouch /x\n"
        );
        assert!(
            g.host_path("/var/lib/cloud/instance/boot-finished")
                .is_file()
        );
        assert_eq!(
            read(&g, MARKER).trim(),
            sha256_hex(doc.as_bytes()),
            "the applied content is recorded"
        );

        // The same content again: nothing re-applied.
        assert!(!boot(&g, doc, "2026-01-01 00:01:00").applied);
        assert_eq!(read(&g, "/etc/fstab"), line);
        assert_eq!(read(&g, "/var/log/pve-sim-runcmd.log").lines().count(), 2);

        // New content: applied again, without duplicating what is there.
        let doc2 = format!("{doc}packages: [\"jq\"]\n");
        assert!(boot(&g, &doc2, "2026-01-01 00:02:00").applied);
        assert_eq!(read(&g, "/etc/fstab"), line);
        assert_eq!(
            read(&g, "/var/lib/pve-sim/packages"),
            "nfs-common\nqemu-guest-agent\njq\n"
        );
        assert_eq!(read(&g, "/var/log/pve-sim-runcmd.log").lines().count(), 4);
    }

    #[test]
    fn not_cloud_config_applies_nothing() {
        let (_d, g) = fs();
        assert!(boot(&g, "#!/bin/sh\ntouch /x\n", "2026-01-01 00:00:00").applied);
        assert!(!g.host_path("/x").exists());
        assert!(read(&g, "/var/log/cloud-init.log").contains("WARNING"));
        assert!(
            g.host_path("/var/lib/cloud/instance/boot-finished")
                .is_file()
        );
    }
}
