//! References between guests: IDs, duplicates, clone sources, dependencies, cycles.

use std::path::PathBuf;

use super::{Checker, Entry, file_name, lxc_ptr, vm_ptr};
use crate::config::json::child;
use crate::graph::{EdgeKind, Graph};
use crate::ids::{GuestId, GuestKind};

pub(super) fn index_guests(c: &mut Checker<'_>) {
    let lxc_file = c.inp.files.lxc.clone();
    let vm_file = c.inp.files.vm.clone();
    for key in c.inp.lxc.lxc_configs.keys() {
        let ptr = lxc_ptr(key);
        match key.parse::<GuestId>() {
            Ok(id) if id.to_string() == *key => {
                c.guests.insert(
                    id,
                    Entry {
                        kind: GuestKind::Lxc,
                        file: lxc_file.clone(),
                        pointer: ptr,
                    },
                );
            }
            Ok(id) => {
                c.err(&lxc_file, &ptr, format!("CTID {key:?} has leading zeros"))
                    .hint = Some(format!("write it as \"{id}\""));
            }
            Err(e) => {
                c.err(&lxc_file, &ptr, format!("invalid CTID: {e}"));
            }
        }
    }
    for (i, vm) in c.inp.vm.vms.iter().enumerate() {
        let ptr = vm_ptr(i);
        let Some(id) = vm.vmid.map(|r| r.0) else {
            continue;
        };
        if let Some(prev) = c.guests.get(&id) {
            let (pfile, pptr, pkind) = (prev.file.clone(), prev.pointer.clone(), prev.kind);
            let what = if pkind == GuestKind::Lxc {
                "a container"
            } else {
                "another VM"
            };
            let d = c.err(
                &vm_file,
                &child(&ptr, "vmid"),
                format!(
                    "ID {id} is already used by {what} ({} at {pptr})",
                    pfile.display()
                ),
            );
            d.hint = Some(
                "containers and VMs share one ID space on Proxmox; give each guest its own ID"
                    .to_string(),
            );
            d.guest = Some(id);
            continue;
        }
        c.guests.insert(
            id,
            Entry {
                kind: GuestKind::Vm,
                file: vm_file.clone(),
                pointer: ptr,
            },
        );
    }
}

/// One reference from a guest to another: where it is written and what it means.
pub(super) struct Ref {
    pub(super) from: GuestId,
    pub(super) file: PathBuf,
    pub(super) pointer: String,
    pub(super) to: GuestId,
    pub(super) kind: EdgeKind,
}

/// Every guest's outgoing references, in file order.
pub(super) fn references(c: &Checker<'_>) -> Vec<Ref> {
    let mut out = Vec::new();
    for (key, ct) in &c.inp.lxc.lxc_configs {
        let Ok(from) = key.parse::<GuestId>() else {
            continue;
        };
        let base = lxc_ptr(key);
        let file = &c.inp.files.lxc;
        if let Some(src) = ct.clone_from_ctid {
            out.push(Ref {
                from,
                file: file.clone(),
                pointer: child(&base, "clone_from_ctid"),
                to: src.0,
                kind: EdgeKind::Clone,
            });
        }
        for (i, d) in ct.dependencies.iter().enumerate() {
            let pointer = child(&child(&base, "dependencies"), &i.to_string());
            out.push(Ref {
                from,
                file: file.clone(),
                pointer,
                to: d.0,
                kind: EdgeKind::Depends,
            });
        }
    }
    for (i, vm) in c.inp.vm.vms.iter().enumerate() {
        let Some(from) = vm.vmid.map(|r| r.0) else {
            continue;
        };
        let base = vm_ptr(i);
        let file = &c.inp.files.vm;
        if let Some(src) = vm.clone_from_vmid {
            out.push(Ref {
                from,
                file: file.clone(),
                pointer: child(&base, "clone_from_vmid"),
                to: src.0,
                kind: EdgeKind::Clone,
            });
        }
        for (j, d) in vm.dependencies.iter().enumerate() {
            let pointer = child(&child(&base, "dependencies"), &j.to_string());
            out.push(Ref {
                from,
                file: file.clone(),
                pointer,
                to: d.0,
                kind: EdgeKind::Depends,
            });
        }
    }
    out
}

pub(super) fn check_references(c: &mut Checker<'_>) {
    for Ref {
        from,
        file,
        pointer: ptr,
        to,
        kind,
    } in references(c)
    {
        let Some(from_entry) = c.guests.get(&from) else {
            continue;
        };
        let from_kind = from_entry.kind;
        let Some(target) = c.guests.get(&to) else {
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
                &ptr,
                format!("unknown guest {to} named as {what} of {from}"),
            );
            d.hint = Some(hint);
            d.guest = Some(from);
            continue;
        };
        if kind == EdgeKind::Clone {
            let target_kind = target.kind;
            if from == to {
                c.err(
                    &file,
                    &ptr,
                    format!("guest {from} names itself as its clone source"),
                )
                .guest = Some(from);
                continue;
            }
            if target_kind != from_kind {
                let msg = match from_kind {
                    GuestKind::Lxc => {
                        format!("container {from} cannot be cloned from {to}, which is a VM")
                    }
                    GuestKind::Vm => {
                        format!("VM {from} cannot be cloned from {to}, which is a container")
                    }
                };
                c.err(&file, &ptr, msg).guest = Some(from);
                continue;
            }
            let (is_template, snap) = match target_kind {
                GuestKind::Lxc => c
                    .inp
                    .lxc
                    .lxc_configs
                    .get(&to.to_string())
                    .map(|ct| (ct.is_template(), ct.template_snapshot_name.clone())),
                GuestKind::Vm => c
                    .inp
                    .vm
                    .vms
                    .iter()
                    .find(|v| v.vmid.map(|r| r.0) == Some(to))
                    .map(|v| (v.is_template(), v.template_snapshot_name.clone())),
            }
            .unwrap_or((false, None));
            if !is_template && snap.as_deref().is_none_or(str::is_empty) {
                let d = c.err(&file, &ptr, format!("clone source {to} has no template_snapshot_name, so {from} has no snapshot to be cloned from"));
                d.hint = Some(format!(
                    "set \"template_snapshot_name\" on {to}, or mark it \"is_template\": true"
                ));
                d.guest = Some(from);
            }
        }
    }
}

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
