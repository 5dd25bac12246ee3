//! References between guests: IDs, duplicates, clone sources, dependencies, cycles.

use std::path::PathBuf;

use super::{Checker, Entry, Guest, file_name, find, sites};
use crate::config::json::child;
use crate::graph::{EdgeKind, Graph};
use crate::ids::{GuestId, GuestKind};

/// Records where each ID is defined; reports malformed CTIDs and IDs defined twice.
pub(super) fn index_guests(c: &mut Checker<'_>) {
    let lxc_file = c.inp.files.lxc.clone();
    for key in c.inp.lxc.lxc_configs.keys() {
        let ptr = child("/lxc_configs", key);
        match key.parse::<GuestId>() {
            Ok(id) if id.to_string() == *key => {}
            Ok(id) => {
                c.err(&lxc_file, &ptr, format!("CTID {key:?} has leading zeros"))
                    .hint = Some(format!("write it as \"{id}\""))
            }
            Err(e) => {
                c.err(&lxc_file, &ptr, format!("invalid CTID: {e}"));
            }
        }
    }
    for site in sites(c.inp) {
        if site.kind() == GuestKind::Lxc
            && site.id.to_string() != site.base.trim_start_matches("/lxc_configs/")
        {
            continue;
        }
        if let Some(prev) = c.guests.get(&site.id) {
            let what = if prev.kind == GuestKind::Lxc {
                "a container"
            } else {
                "another VM"
            };
            let msg = format!(
                "ID {} is already used by {what} ({} at {})",
                site.id,
                prev.file.display(),
                prev.pointer
            );
            let d = c.guest_err(&site, "vmid", msg);
            d.hint = Some(
                "containers and VMs share one ID space on Proxmox; give each guest its own ID"
                    .to_string(),
            );
            continue;
        }
        c.guests.insert(
            site.id,
            Entry {
                kind: site.kind(),
                file: site.file.clone(),
                pointer: site.base.clone(),
            },
        );
    }
}

/// One reference from a guest to another: where it is written and what it means.
pub(super) struct Ref {
    from: GuestId,
    file: PathBuf,
    pointer: String,
    to: GuestId,
    kind: EdgeKind,
}

/// Every guest's outgoing references, in file order.
fn references(c: &Checker<'_>) -> Vec<Ref> {
    let mut out = Vec::new();
    for site in sites(c.inp) {
        if let Some(src) = site.guest.clone_source() {
            out.push(Ref {
                from: site.id,
                file: site.file.clone(),
                pointer: site.at(site.guest.clone_key()),
                to: src,
                kind: EdgeKind::Clone,
            });
        }
        for (i, d) in site.guest.dependencies().into_iter().enumerate() {
            let pointer = child(&site.at("dependencies"), &i.to_string());
            out.push(Ref {
                from: site.id,
                file: site.file.clone(),
                pointer,
                to: d,
                kind: EdgeKind::Depends,
            });
        }
    }
    out
}

/// Unknown IDs, clone sources of the wrong kind or without a snapshot to clone from.
pub(super) fn check_references(c: &mut Checker<'_>) {
    for Ref {
        from,
        file,
        pointer,
        to,
        kind,
    } in references(c)
    {
        let Some(from_kind) = c.guests.get(&from).map(|e| e.kind) else {
            continue;
        };
        let Some(target_kind) = c.guests.get(&to).map(|e| e.kind) else {
            let what = if kind == EdgeKind::Clone {
                "clone source"
            } else {
                "dependency"
            };
            let hint = format!(
                "define {to} in {} or {}, or remove the reference",
                file_name(&c.inp.files.lxc),
                file_name(&c.inp.files.vm)
            );
            let d = c.err(
                &file,
                &pointer,
                format!("unknown guest {to} named as {what} of {from}"),
            );
            d.hint = Some(hint);
            d.guest = Some(from);
            continue;
        };
        if kind != EdgeKind::Clone {
            continue;
        }
        let msg = if from == to {
            Some(format!("guest {from} names itself as its clone source"))
        } else if target_kind != from_kind {
            Some(match from_kind {
                GuestKind::Lxc => {
                    format!("container {from} cannot be cloned from {to}, which is a VM")
                }
                GuestKind::Vm => {
                    format!("VM {from} cannot be cloned from {to}, which is a container")
                }
            })
        } else {
            None
        };
        if let Some(msg) = msg {
            c.err(&file, &pointer, msg).guest = Some(from);
            continue;
        }
        let Some(source) = find(c.inp, to) else {
            continue;
        };
        if !source.is_template() && source.template_snapshot_name().is_none_or(str::is_empty) {
            let msg = format!(
                "clone source {to} has no template_snapshot_name, so {from} has no snapshot to be cloned from"
            );
            let d = c.err(&file, &pointer, msg);
            d.hint = Some(format!(
                "set \"template_snapshot_name\" on {to}, or mark it \"is_template\": true"
            ));
            d.guest = Some(from);
        }
    }
}

/// Every cycle through clone sources and dependencies, named node by node.
pub(super) fn check_cycles(c: &mut Checker<'_>) {
    let mut g = Graph::default();
    for id in c.guests.keys() {
        g.add_node(*id);
    }
    let refs = references(c);
    for r in &refs {
        if c.guests.contains_key(&r.from) && c.guests.contains_key(&r.to) {
            g.add_edge(r.from, r.to, r.kind);
        }
    }
    for cycle in g.cycles() {
        let first = cycle[0];
        let second = cycle.get(1).copied().unwrap_or(first);
        // Point at the reference from the first to the second node of the cycle.
        let (file, ptr) = refs
            .iter()
            .find(|r| r.from == first && r.to == second)
            .map(|r| (r.file.clone(), r.pointer.clone()))
            .unwrap_or_else(|| {
                let e = &c.guests[&first];
                (e.file.clone(), e.pointer.clone())
            });
        let path: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(ToString::to_string)
            .collect();
        let d = c.err(
            &file,
            &ptr,
            format!("dependency cycle: {}", path.join(" -> ")),
        );
        d.hint = Some("a guest cannot (transitively) depend on or be cloned from itself; remove one of these references".to_string());
        d.guest = Some(first);
    }
}

/// Per clone source that is not a template, a note saying how many full copies it causes
/// and how to switch to linked clones (issue 16, item 10). A clone of a non-template copies
/// the source's disks whole (pve-container `clone_vm` / qemu-server `clone_vm`: `full`
/// defaults to "not a template"); a clone of a template shares its blocks on storages that
/// can (ZFS, LVM-thin, RBD: pve-storage `volume_has_feature(clone)`).
pub(super) fn check_full_copies(c: &mut Checker<'_>) {
    let all = sites(c.inp);
    for site in &all {
        if site.guest.is_template() {
            continue;
        }
        let copies: Vec<String> = all
            .iter()
            .filter(|s| s.guest.clone_source() == Some(site.id) && s.kind() == site.kind())
            .map(|s| s.id.to_string())
            .collect();
        if copies.is_empty() {
            continue;
        }
        let noun = match site.kind() {
            GuestKind::Lxc => "container",
            GuestKind::Vm => "VM",
        };
        let (n, list) = (copies.len(), copies.join(", "));
        let what = if n == 1 { "a full copy" } else { "full copies" };
        let msg = format!(
            "{noun} {} is cloned {n} time(s) as {what} of its whole disk ({list}); set \"is_template\": true on it to make them linked clones that share its blocks (a template is never started and takes no snapshots; its installers still run before it is converted)",
            site.id
        );
        let d = c.note(&site.file, &site.base, msg);
        d.guest = Some(site.id);
    }
}

/// A container with the feature `trusted_ca` and no `trusted_ca_file` trusts the root the CA
/// container (feature `step_ca`) leaves on the host, which lxc-manager passes to the
/// installer: the CA must be built first, so it must be among the container's dependencies
/// (directly, or through them or its clone source). A warning otherwise: the installer would
/// fail on the first run, naming the missing root.
pub(super) fn check_trusted_ca_order(c: &mut Checker<'_>) {
    let all = sites(c.inp);
    let ca: Vec<GuestId> = all
        .iter()
        .filter(|s| s.kind() == GuestKind::Lxc && s.guest.features().iter().any(|f| f == "step_ca"))
        .map(|s| s.id)
        .collect();
    let needs = |from: GuestId| -> std::collections::BTreeSet<GuestId> {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![from];
        while let Some(g) = todo.pop() {
            let Some(site) = all.iter().find(|s| s.id == g) else {
                continue;
            };
            for d in site
                .guest
                .dependencies()
                .into_iter()
                .chain(site.guest.clone_source())
            {
                if seen.insert(d) {
                    todo.push(d);
                }
            }
        }
        seen
    };
    for site in &all {
        let Guest::Lxc(_, ct) = site.guest else {
            continue;
        };
        let Some(i) = ct.features.iter().position(|f| f == "trusted_ca") else {
            continue;
        };
        if ct
            .trusted_ca_file
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
        {
            continue;
        }
        let before = needs(site.id);
        if ca.iter().any(|a| before.contains(a) || *a == site.id) {
            continue;
        }
        let msg = match ca.as_slice() {
            [] => "feature trusted_ca has no root to trust: no container has the feature step_ca; set trusted_ca_file to where the root is inside this container".to_string(),
            [a, ..] => format!(
                "feature trusted_ca needs the root CA container {a} built first, but {a} is not among this container's dependencies; add it to dependencies (or set trusted_ca_file)"
            ),
        };
        c.guest_warn(site, &format!("features/{i}"), msg);
    }
}
