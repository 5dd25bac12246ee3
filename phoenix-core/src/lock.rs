//! Locks: one global lock so two mutating runs never interleave, and one lock per guest so
//! independent guests can be worked on in parallel (decision 14).
//!
//! Locks are `flock(2)` on files under `$PHOENIX_SYSROOT/run/phoenix_hypervisor/`; the kernel
//! releases them when the process exits, however it exits. The holder's PID is written into
//! the file so a refusal can name it. `phoenix-cli` takes the global lock and sets
//! `PHOENIX_GLOBAL_LOCK_HELD` for the managers it runs; a manager run directly takes it
//! itself.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::ids::GuestId;
use phoenix_paths::Layout;

/// A held lock; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Path of the global lock.
pub fn global_path(layout: &Layout) -> PathBuf {
    layout.run_dir().join("global.lock")
}

/// Path of a guest's lock.
pub fn guest_path(layout: &Layout, id: GuestId) -> PathBuf {
    layout.run_dir().join(format!("guest-{id}.lock"))
}

/// Takes the global lock, unless the parent process already holds it
/// (`PHOENIX_GLOBAL_LOCK_HELD` is set), in which case `None` is returned.
pub fn global(layout: &Layout, wait: Duration) -> anyhow::Result<Option<LockGuard>> {
    if std::env::var_os(phoenix_paths::ENV_GLOBAL_LOCK_HELD).is_some_and(|v| !v.is_empty()) {
        return Ok(None);
    }
    acquire(&global_path(layout), "another phoenix run", wait).map(Some)
}

/// Starts a mutating run: takes the global lock (unless the parent `phoenix-cli` holds it)
/// and, in the process that took it, reads the host's Proxmox VE version and refuses a host
/// older than [`crate::pve::version::FLOOR`]. So the version is read once per run, before
/// any change, whether the run is `phoenix-cli`'s or a manager's called directly.
pub fn start_run(
    layout: &Layout,
    runner: &crate::cmd::Runner,
    wait: Duration,
) -> anyhow::Result<Option<LockGuard>> {
    let guard = global(layout, wait)?;
    if guard.is_some() {
        crate::pve::version::require(runner)?;
    }
    Ok(guard)
}

/// Takes a guest's lock.
pub fn guest(layout: &Layout, id: GuestId, wait: Duration) -> anyhow::Result<LockGuard> {
    acquire(
        &guest_path(layout, id),
        &format!("another run working on guest {id}"),
        wait,
    )
}

/// Takes an exclusive lock on `path`, waiting up to `wait`.
pub fn acquire(path: &Path, holder: &str, wait: Duration) -> anyhow::Result<LockGuard> {
    acquire_mode(path, holder, wait, false, || {})
}

/// Takes a lock on `path` (shared or exclusive), waiting up to `wait`; calls `waiting` once
/// when it has to wait.
pub fn acquire_mode(
    path: &Path,
    holder: &str,
    wait: Duration,
    shared: bool,
    waiting: impl FnOnce(),
) -> anyhow::Result<LockGuard> {
    let mut waiting = Some(waiting);
    let arg = if shared {
        FlockArg::LockSharedNonblock
    } else {
        FlockArg::LockExclusiveNonblock
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create the lock directory {}", dir.display()))?;
    }
    let deadline = Instant::now() + wait;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("failed to open the lock file {}", path.display()))?;
    loop {
        match Flock::lock(file, arg) {
            Ok(mut lock) => {
                // Best effort: the PID only improves the message another process prints
                // (one of several holders of a shared lock may erase another's).
                if !shared {
                    let _ = lock.set_len(0);
                    let _ = lock.seek(SeekFrom::Start(0));
                    let _ = writeln!(lock, "{}", std::process::id());
                }
                return Ok(LockGuard {
                    _lock: lock,
                    path: path.to_path_buf(),
                });
            }
            Err((f, Errno::EWOULDBLOCK)) => {
                if Instant::now() >= deadline {
                    let pid = holder_pid(path);
                    let who = pid.map_or_else(String::new, |p| format!(" (pid {p})"));
                    bail!(
                        "{holder}{who} holds {}\n\nhint: wait for it to finish, then try again",
                        path.display()
                    );
                }
                if let Some(w) = waiting.take() {
                    w();
                }
                file = f;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err((_, e)) => bail!("failed to lock {}: {e}", path.display()),
        }
    }
}

fn holder_pid(path: &Path) -> Option<u32> {
    crate::files::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new("/nonexistent", dir.path());
        let first = guest(&layout, GuestId(101), Duration::ZERO).unwrap();
        let e = guest(&layout, GuestId(101), Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(e.contains("guest 101"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        // Other guests are independent.
        let _other = guest(&layout, GuestId(102), Duration::ZERO).unwrap();
        drop(first);
        guest(&layout, GuestId(101), Duration::ZERO).unwrap();
        assert!(
            guest_path(&layout, GuestId(101))
                .starts_with(dir.path().join("run/phoenix_hypervisor"))
        );
    }
}
