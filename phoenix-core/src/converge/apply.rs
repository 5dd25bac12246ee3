//! Apply-side helpers both guest managers share, each one runner call (or a short sequence)
//! with an error that names the guest and the action: clean shutdown with a hard-stop
//! fallback, snapshots, the declarative firewall file, the "incomplete" marker around a
//! converge, and the locks a mutating verb takes.

use std::time::Duration;

use anyhow::Context;

use crate::cmd::{FileSpec, Runner};
use crate::ids::{GuestId, GuestKind};
use crate::lock::LockGuard;
use crate::paths::Layout;
use crate::pve::tool::Tool;

/// How long a clean shutdown may take before the guest is stopped hard.
pub const SHUTDOWN_TIMEOUT: u64 = 60;

/// `container` or `VM`.
pub fn noun(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Lxc => "container",
        GuestKind::Vm => "VM",
    }
}

/// Shuts the guest down cleanly, stopping it hard when that fails.
pub fn shutdown(runner: &Runner, kind: GuestKind, id: GuestId) -> anyhow::Result<()> {
    let tool = Tool::of(kind);
    if let Err(e) = runner.run(&tool.shutdown(id, SHUTDOWN_TIMEOUT)) {
        tracing::warn!(
            "{} {id} did not shut down within {SHUTDOWN_TIMEOUT}s ({e}); stopping it",
            noun(kind)
        );
        runner
            .run(&tool.stop(id))
            .with_context(|| format!("cannot stop {} {id}", noun(kind)))?;
    }
    Ok(())
}

/// Takes snapshot `name`.
pub fn snapshot(runner: &Runner, kind: GuestKind, id: GuestId, name: &str) -> anyhow::Result<()> {
    println!("snapshot {name}");
    runner
        .run(&Tool::of(kind).snapshot(id, name))
        .map(drop)
        .with_context(|| format!("cannot take snapshot {name} of {} {id}", noun(kind)))
}

/// Deletes snapshot `name` (to take it again).
pub fn delsnapshot(
    runner: &Runner,
    kind: GuestKind,
    id: GuestId,
    name: &str,
) -> anyhow::Result<()> {
    runner
        .run(&Tool::of(kind).delsnapshot(id, name))
        .map(drop)
        .with_context(|| {
            format!(
                "cannot delete snapshot {name} of {} {id} (to take it again)",
                noun(kind)
            )
        })
}

/// Writes the guest's `/etc/pve/firewall/<id>.fw` (rendered by
/// [`crate::pve::firewall::FwFile::render`]).
pub fn write_firewall(
    runner: &Runner,
    layout: &Layout,
    kind: GuestKind,
    id: GuestId,
    text: &str,
) -> anyhow::Result<()> {
    let path = layout.pve_firewall(id.get());
    if let Some(dir) = path.parent() {
        runner.ensure_dir(dir, 0o755)?;
    }
    runner
        .write_file(&path, text.as_bytes(), FileSpec::mode(0o640))
        .map(drop)
        .with_context(|| format!("cannot write the firewall of {} {id}", noun(kind)))
}

/// Runs `body` with the guest's "incomplete" marker in place
/// ([`crate::converge::incomplete_marker`]): written before the first change, removed when
/// `body` succeeds, left behind when it fails.
pub fn with_incomplete_marker(
    runner: &Runner,
    layout: &Layout,
    kind: GuestKind,
    id: GuestId,
    body: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let marker = crate::converge::incomplete_marker(layout, kind, id);
    if let Some(dir) = marker.parent() {
        runner.ensure_dir(dir, 0o755)?;
    }
    runner.write_file(&marker, b"converge started\n", FileSpec::mode(0o644))?;
    body()?;
    runner.remove_file(&marker)?;
    Ok(())
}

/// Waits this long for another run holding the guest: none, a second run fails fast and
/// names the holder.
pub const LOCK_WAIT: Duration = Duration::ZERO;

/// The locks a mutating verb on one guest holds: the global one (unless `phoenix-cli` holds
/// it for this run) and the guest's.
pub struct GuestLocks {
    _global: Option<LockGuard>,
    _guest: LockGuard,
}

/// Takes [`GuestLocks`] for guest `id` (starting the run when no parent did:
/// [`crate::lock::start_run`]).
pub fn lock(layout: &Layout, runner: &Runner, id: GuestId) -> anyhow::Result<GuestLocks> {
    let global = crate::lock::start_run(layout, runner, LOCK_WAIT)?;
    let guest = crate::lock::guest(layout, id, LOCK_WAIT)?;
    Ok(GuestLocks {
        _global: global,
        _guest: guest,
    })
}
