//! Configuration: the four JSON files and the stack manifests, loaded tolerantly and checked
//! before anything acts.
//!
//! # Expected flow
//!
//! 1. [`ConfigLocation::resolve`] picks the directory (`--config` > `PHOENIX_CONFIG_DIR` >
//!    `$PHOENIX_ROOT/etc`); `core_paths` in the host file names the others.
//! 2. Each file is parsed by [`json::parse`] (positions for every pointer, duplicate keys
//!    reported and resolved last-wins like `jq`).
//! 3. Its era is recognised ([`era`]): a file from before the dispatcher era (v1, before
//!    2025-09-01) is an error naming the file, unless `--allow-legacy` reads it anyway.
//! 4. Aliases and old shapes are rewritten into the current shape ([`normalize`]), so the
//!    schema never refuses a shape the shell version read.
//! 5. The result is validated against the project's embedded JSON Schema ([`schema`]):
//!    unknown keys are warnings, everything else is an error; then the typed model is built.
//! 6. Cross-file checks run ([`semantic`]): references, cycles, duplicate IDs, formats,
//!    referenced files.
//!
//! # Guarantees
//!
//! [`load`] never runs a command and never writes. If the returned [`Report`] has errors,
//! [`Loaded::config`] is `None` and callers exit with status 2. A problem that concerns one
//! guest or stack only (a missing referenced file, a clash of addresses) is a warning that
//! blocks that object's work ([`diag::Blocks`], [`Config::blockers`]): the rest of the estate
//! loads and acts.

pub mod certs;
pub mod de;
pub mod diag;
mod document;
pub mod era;
pub mod formats;
pub mod guest;
pub mod host;
pub mod json;
mod loader;
pub mod locate;
pub mod lxc;
pub mod normalize;
pub mod schema;
pub mod semantic;
pub mod stacks;
pub mod vm;

use std::collections::BTreeMap;

pub use diag::{Blocks, Diagnostic, Report, Severity, Subject, Work};
pub use era::Era;
pub use loader::{LoadOptions, Loaded, load};
pub use locate::{ConfigFiles, ConfigLocation, ConfigSource};

use crate::graph::{EdgeKind, Graph};
use crate::ids::{GuestId, GuestKind};
use host::HostConfig;
use lxc::{Container, LxcFile};
use stacks::{Stack, StacksFile};
use vm::{Vm, VmFile};

/// Eras of the three guest/host files.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Eras {
    /// Host file.
    pub host: Era,
    /// LXC file.
    pub lxc: Era,
    /// VM file.
    pub vm: Era,
}

impl Eras {
    /// Whether any file is legacy.
    pub fn any_legacy(&self) -> bool {
        self.host.is_legacy() || self.lxc.is_legacy() || self.vm.is_legacy()
    }
}

/// A loaded, checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it was loaded from.
    pub location: ConfigLocation,
    /// Every file's path.
    pub files: ConfigFiles,
    /// Host file.
    pub host: HostConfig,
    /// LXC file (empty when the file is absent).
    pub lxc: LxcFile,
    /// VM file (empty when the file is absent).
    pub vm: VmFile,
    /// Stack catalogue, when present.
    pub stacks_catalogue: Option<StacksFile>,
    /// Stacks found in the stacks directory, by name.
    pub stacks: BTreeMap<String, Stack>,
    /// Certificates from `certificate-manifest.json` (empty when absent).
    pub certificates: Vec<certs::Certificate>,
    /// Eras.
    pub eras: Eras,
    /// Findings that block work on one object each (warnings in the report).
    pub blockers: Vec<Diagnostic>,
}

/// A guest of either kind.
#[derive(Clone, Copy, Debug)]
pub enum Guest<'a> {
    /// A container.
    Lxc(GuestId, &'a Container),
    /// A VM.
    Vm(GuestId, &'a Vm),
}

impl<'a> Guest<'a> {
    /// Its ID.
    pub fn id(&self) -> GuestId {
        match self {
            Guest::Lxc(id, _) | Guest::Vm(id, _) => *id,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> GuestKind {
        match self {
            Guest::Lxc(..) => GuestKind::Lxc,
            Guest::Vm(..) => GuestKind::Vm,
        }
    }

    /// Its name.
    pub fn name(&self) -> &'a str {
        match self {
            Guest::Lxc(_, c) => &c.name,
            Guest::Vm(_, v) => &v.name,
        }
    }

    /// Whether it is (or becomes) a Proxmox template, which is never started.
    pub fn is_template(&self) -> bool {
        match self {
            Guest::Lxc(_, c) => c.is_template(),
            Guest::Vm(_, v) => v.is_template(),
        }
    }

    /// Its clone source.
    pub fn clone_source(&self) -> Option<GuestId> {
        match self {
            Guest::Lxc(_, c) => c.clone_from_ctid.map(|r| r.0),
            Guest::Vm(_, v) => v.clone_from_vmid.map(|r| r.0),
        }
    }

    /// Its runtime dependencies.
    pub fn dependencies(&self) -> Vec<GuestId> {
        let deps = match self {
            Guest::Lxc(_, c) => &c.dependencies,
            Guest::Vm(_, v) => &v.dependencies,
        };
        deps.iter().map(|r| r.0).collect()
    }

    /// `boot_order` as written.
    pub fn boot_order(&self) -> Option<u32> {
        match self {
            Guest::Lxc(_, c) => c.boot_order,
            Guest::Vm(_, v) => v.boot_order,
        }
    }

    /// Whether LetsGo runs `sync all` after starting it.
    pub fn triggers_sync(&self) -> bool {
        match self {
            Guest::Lxc(_, c) => c.trigger_sync_on_completion == Some(true),
            Guest::Vm(_, v) => v.trigger_sync_on_completion == Some(true),
        }
    }

    /// The snapshot clones of it are made from.
    pub fn template_snapshot_name(&self) -> Option<&'a str> {
        match self {
            Guest::Lxc(_, c) => c.template_snapshot_name.as_deref(),
            Guest::Vm(_, v) => v.template_snapshot_name.as_deref(),
        }
    }

    /// Phoenix features.
    pub fn features(&self) -> &'a [String] {
        match self {
            Guest::Lxc(_, c) => &c.features,
            Guest::Vm(_, v) => v.features.items(),
        }
    }

    /// The net0 MAC address, when configured.
    pub fn mac_address(&self) -> Option<&'a str> {
        match self {
            Guest::Lxc(_, c) => c.mac_address.as_deref(),
            Guest::Vm(_, v) => v.mac_address.as_deref(),
        }
    }

    /// The net0 `ip` setting as written.
    pub fn ip(&self) -> Option<&'a str> {
        match self {
            Guest::Lxc(_, c) => c.network_config.as_ref().and_then(|n| n.ip.as_deref()),
            Guest::Vm(_, v) => v.network_config.as_ref().and_then(|n| n.ip.as_deref()),
        }
    }

    /// The guest firewall block.
    pub fn firewall(&self) -> Option<&'a guest::Firewall> {
        match self {
            Guest::Lxc(_, c) => c.firewall.as_ref(),
            Guest::Vm(_, v) => v.firewall.as_ref(),
        }
    }

    /// The storage of the root disk as written (VMs fall back to `vm_defaults` elsewhere).
    pub fn storage_pool(&self) -> Option<&'a str> {
        match self {
            Guest::Lxc(_, c) => c.storage_pool.as_deref(),
            Guest::Vm(_, v) => v.storage_pool.as_deref(),
        }
    }

    /// Whether it starts at host boot (`onboot`).
    pub fn start_at_boot(&self) -> bool {
        match self {
            Guest::Lxc(_, c) => c.start_at_boot == Some(true),
            Guest::Vm(_, v) => v.start_at_boot == Some(true),
        }
    }

    /// The key naming its clone source.
    pub fn clone_key(&self) -> &'static str {
        match self {
            Guest::Lxc(..) => "clone_from_ctid",
            Guest::Vm(..) => "clone_from_vmid",
        }
    }
}

impl Config {
    /// The findings that stop `work` on `subject`.
    pub fn blockers(&self, subject: &Subject, work: Work) -> Vec<&Diagnostic> {
        self.blockers
            .iter()
            .filter(|d| d.blocks.as_ref().is_some_and(|b| b.covers(subject, work)))
            .collect()
    }

    /// Every guest, ascending by ID.
    pub fn guests(&self) -> Vec<Guest<'_>> {
        let mut v: Vec<Guest<'_>> = self
            .lxc
            .lxc_configs
            .iter()
            .filter_map(|(k, c)| k.parse().ok().map(|id| Guest::Lxc(id, c)))
            .chain(
                self.vm
                    .vms
                    .iter()
                    .filter_map(|vm| vm.vmid.map(|r| Guest::Vm(r.0, vm))),
            )
            .collect();
        v.sort_by_key(Guest::id);
        v
    }

    /// One guest.
    pub fn guest(&self, id: GuestId) -> Option<Guest<'_>> {
        if let Some(c) = self.lxc.lxc_configs.get(&id.to_string()) {
            return Some(Guest::Lxc(id, c));
        }
        self.vm
            .vms
            .iter()
            .find(|v| v.vmid.map(|r| r.0) == Some(id))
            .map(|v| Guest::Vm(id, v))
    }

    /// The containers container `id` is cloned from, nearest first; see [`clone_chain`].
    pub fn clone_chain(&self, id: GuestId) -> Vec<GuestId> {
        clone_chain(&self.lxc, id)
    }

    /// The dependency graph over every guest (clone and runtime edges).
    pub fn graph(&self) -> Graph {
        let mut g = Graph::default();
        for guest in self.guests() {
            g.add_node(guest.id());
            if let Some(src) = guest.clone_source() {
                g.add_edge(guest.id(), src, EdgeKind::Clone);
            }
            for d in guest.dependencies() {
                g.add_edge(guest.id(), d, EdgeKind::Depends);
            }
        }
        g
    }
}

/// The containers container `id` is cloned from, nearest first: its `clone_from_ctid`, that
/// container's, and so on. Only configured containers are listed: the walk ends at a container
/// that names no source, before a source that is not configured, and before a container
/// already listed (or `id` itself), so a cycle ends it too.
pub fn clone_chain(lxc: &LxcFile, id: GuestId) -> Vec<GuestId> {
    let mut chain = Vec::new();
    let mut cur = id;
    while let Some(from) = lxc
        .lxc_configs
        .get(&cur.to_string())
        .and_then(|c| c.clone_from_ctid)
        .map(|r| r.0)
    {
        if from == id || chain.contains(&from) || !lxc.lxc_configs.contains_key(&from.to_string()) {
            break;
        }
        chain.push(from);
        cur = from;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_chains_list_configured_ancestors_nearest_first_and_stop_at_a_cycle() {
        let lxc: LxcFile = serde_json::from_value(serde_json::json!({"lxc_configs": {
            "900": {"name": "base"},
            "901": {"name": "gpu", "clone_from_ctid": "900"},
            "950": {"name": "vllm", "clone_from_ctid": 901},
            "960": {"name": "orphan", "clone_from_ctid": "999"},
            "970": {"name": "a", "clone_from_ctid": "971"},
            "971": {"name": "b", "clone_from_ctid": "972"},
            "972": {"name": "c", "clone_from_ctid": "971"},
            "980": {"name": "self", "clone_from_ctid": "980"},
        }}))
        .unwrap();
        let chain = |id: u32| clone_chain(&lxc, GuestId(id));
        assert_eq!(chain(950), [GuestId(901), GuestId(900)]);
        assert_eq!(chain(901), [GuestId(900)]);
        assert_eq!(chain(900), []);
        assert_eq!(chain(960), [], "an unconfigured source is not listed");
        assert_eq!(chain(999), [], "an unconfigured container has no chain");
        assert_eq!(
            chain(970),
            [GuestId(971), GuestId(972)],
            "the cycle 971-972 ends it"
        );
        assert_eq!(
            chain(971),
            [GuestId(972)],
            "it never lists the container itself"
        );
        assert_eq!(chain(980), []);
    }
}
