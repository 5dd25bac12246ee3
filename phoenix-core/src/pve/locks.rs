//! The guest locks real Proxmox holds for the whole of a long operation, and the host-local
//! lock the product takes so that it never issues two commands Proxmox would lock against
//! each other (issue 16, item 1).
//!
//! What Proxmox holds, from its source:
//! - `pct clone` puts `lock: disk` on its source from before the copy until it is done
//!   (pve-container src/PVE/API2/LXC.pm `clone_vm`: `set_lock($vmid, 'disk')`, then
//!   `remove_lock` at the end of `$realcmd`), for linked and full clones alike. Meanwhile a
//!   second clone of the source dies with `CT is locked (disk)`, and so does anything else
//!   that checks the lock (start, set, snapshot, template, destroy, resize).
//! - `qm clone` holds its source's config flock for the whole copy: shared when the source is
//!   stopped (a template always is), exclusive when it runs (qemu-server
//!   src/PVE/API2/Qemu.pm `clone_vm`, `$lock_source_vm`). Sibling clones of a template run
//!   together; a `qm set` or `qm start` of the source waits 10 s and fails with `can't lock
//!   file '/var/lock/qemu-server/lock-<id>.conf' - got timeout`.
//! - Storage locks (pve-storage src/PVE/Storage.pm `vdisk_alloc`, `vdisk_clone`,
//!   `vdisk_free`) are held only around allocation and Proxmox waits for them itself: they
//!   serialise allocations, never fail a command, and need nothing from us.
//!
//! The product's side: a manager works on a guest while holding that guest's lock
//! ([`crate::lock::guest`]), and a clone holds its source's guest lock in the mode Proxmox
//! takes ([`clone_source`]) for as long as the clone command runs. So sibling clones of a
//! container wait for each other (only for the copy, not for the rest of their work),
//! sibling clones of a VM template run together, and nothing works on a source while it is
//! being cloned from.

use std::time::Duration;

use crate::ids::{GuestId, GuestKind};
use crate::lock::LockGuard;
use phoenix_paths::Layout;

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// With other shared holders.
    Shared,
    /// Alone.
    Exclusive,
}

/// The lock a clone holds on its source for the whole copy. `source_template`: a VM that is
/// a template cannot run, so its clones share the lock; any other VM source may be running
/// and is treated as such.
pub fn clone_source(kind: GuestKind, source_template: bool) -> Mode {
    match kind {
        GuestKind::Lxc => Mode::Exclusive,
        GuestKind::Vm if source_template => Mode::Shared,
        GuestKind::Vm => Mode::Exclusive,
    }
}

/// How long a clone waits for its source: other clones of it may be copying large disks.
pub const CLONE_WAIT: Duration = Duration::from_secs(6 * 3600);

/// Takes `source`'s guest lock in `mode` for a clone of it, saying so when it has to wait.
pub fn hold_clone_source(
    layout: &Layout,
    kind: GuestKind,
    source: GuestId,
    clone: GuestId,
    mode: Mode,
) -> anyhow::Result<LockGuard> {
    let noun = match kind {
        GuestKind::Lxc => "container",
        GuestKind::Vm => "VM",
    };
    crate::lock::acquire_mode(
        &crate::lock::guest_path(layout, source),
        &format!("another run working on {noun} {source}"),
        CLONE_WAIT,
        mode == Mode::Shared,
        || {
            tracing::info!(
                "{noun} {clone}: waiting for {noun} {source}, which another clone or run is using (Proxmox locks a clone's source)"
            );
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_clones_exclude_each_other_vm_template_clones_share() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new("/nonexistent", dir.path());
        let (s, a, b) = (GuestId(900), GuestId(101), GuestId(102));
        let m = clone_source(GuestKind::Vm, true);
        assert_eq!(m, Mode::Shared);
        let first = hold_clone_source(&layout, GuestKind::Vm, s, a, m).unwrap();
        let second = hold_clone_source(&layout, GuestKind::Vm, s, b, m).unwrap();
        // The source's own manager cannot work on it meanwhile.
        assert!(crate::lock::guest(&layout, s, Duration::ZERO).is_err());
        drop((first, second));

        let m = clone_source(GuestKind::Lxc, true);
        assert_eq!(m, Mode::Exclusive);
        let first = hold_clone_source(&layout, GuestKind::Lxc, s, a, m).unwrap();
        let path = crate::lock::guest_path(&layout, s);
        let e = crate::lock::acquire_mode(&path, "x", Duration::from_millis(60), false, || {})
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        assert_eq!(clone_source(GuestKind::Vm, false), Mode::Exclusive);
    }
}
