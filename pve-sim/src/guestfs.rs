//! A guest's file tree (what [`crate::shell`], the command interpreter, works on) and what the
//! interpreter understands:
//! The tree is a real directory on the host (a container's rootfs dataset mount point, or
//! `var/lib/pve-sim/vmfs/<vmid>/` for a VM), with bind mounts mapped to their host
//! directories, so `pct push`/`pull` and probes such as `test -f`, `cat`, `mkdir -p` behave.
//! `sh -c`/`bash -c` scripts made of simple commands joined by `;`, `&&`, `||` and `|`, with
//! `>`/`>>` redirections, are interpreted, and so are script files in the guest run as
//! `bash FILE` or by path (line by line, stopping at the first failure as under `set -e`).
//! `env K=V … cmd` runs `cmd`. A command may get standard input ([`GuestFs::exec_input`], for
//! `qm guest exec --pass-stdin`): `cat` and `grep` read it, and so does `install
//! [-D] [-m MODE] /dev/stdin DEST` (GNU `install`, also from guest files and `-d`/`-t`).
//! `cloud-init status` answers `status: done`; `cloud-init clean [--logs] [--machine-id]
//! [--seed]` forgets the applied user-data (see [`crate::cloudinit`]). `docker` runs a minimal
//! engine whose state is a file in the guest's tree (containers, Compose projects, volumes;
//! see [`crate::docker`]). Any other command — and any `docker` subcommand that engine does
//! not model — consults the rules (`rules.json`); without a matching rule it succeeds
//! silently and counts as a change. Rules are consulted first for every simple command, so
//! they also script or fail the modelled ones (`docker compose … up` included).

use std::path::{Component, Path, PathBuf};

/// A guest's file system: the root directory plus mounts (guest path → host directory).
#[derive(Clone, Debug)]
pub struct GuestFs {
    /// Host directory holding `/`.
    pub root: PathBuf,
    /// Extra mounts, guest path → host directory.
    pub mounts: Vec<(String, PathBuf)>,
}

/// What a command inside the guest did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exec {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether it may have changed the guest.
    pub mutates: bool,
    /// Simulated duration (from rules).
    pub secs: f64,
}

impl GuestFs {
    /// The host path of a guest path (absolute or relative to `/`), never outside the tree.
    pub fn host_path(&self, guest: &str) -> PathBuf {
        let norm = normalize(guest);
        let mut best: Option<(&str, &PathBuf)> = None;
        for (mp, dir) in &self.mounts {
            let m = mp.trim_end_matches('/');
            if (norm == m || norm.starts_with(&format!("{m}/")))
                && best.is_none_or(|(b, _)| m.len() > b.len())
            {
                best = Some((m, dir));
            }
        }
        let (base, rest) = match best {
            Some((m, dir)) => (dir.clone(), norm[m.len()..].to_string()),
            None => (self.root.clone(), norm.clone()),
        };
        let mut out = base;
        for c in Path::new(&rest).components() {
            if let Component::Normal(p) = c {
                out.push(p);
            }
        }
        out
    }
}

pub(crate) fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory",
        std::io::ErrorKind::AlreadyExists => "File exists",
        std::io::ErrorKind::PermissionDenied => "Permission denied",
        std::io::ErrorKind::DirectoryNotEmpty => "Directory not empty",
        _ => "Input/output error",
    }
}

/// A failed command (exit 1) that may have changed the guest.
pub(crate) fn fail_exec(stderr: String) -> Exec {
    Exec {
        code: 1,
        stderr,
        mutates: true,
        ..Exec::default()
    }
}

/// The last component of a path.
pub(crate) fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

/// Applies `chmod` syntax (`755`, `+x`, `u+x`, `go-w`) to `old`.
pub(crate) fn chmod_mode(spec: &str, old: u32) -> Option<u32> {
    if spec.bytes().all(|b| b.is_ascii_digit()) {
        return u32::from_str_radix(spec, 8).ok();
    }
    let mut mode = old & 0o7777;
    for clause in spec.split(',') {
        let op_at = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_at);
        let (op, perms) = rest.split_at(1);
        let mut mask = 0;
        let who = if who.is_empty() { "a" } else { who };
        for w in who.chars() {
            mask |= match w {
                'u' => 0o700,
                'g' => 0o070,
                'o' => 0o007,
                'a' => 0o777,
                _ => return None,
            };
        }
        let mut bits = 0;
        for p in perms.chars() {
            bits |= match p {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                _ => return None,
            };
        }
        bits &= mask;
        match op {
            "+" => mode |= bits,
            "-" => mode &= !bits,
            _ => mode = (mode & !mask) | bits,
        }
    }
    Some(mode)
}

/// `/a/./b/../c` → `/a/c`.
pub(crate) fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}
