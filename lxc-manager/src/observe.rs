//! Observation: what the host has, read with read-only commands and file reads. These run in
//! dry-run too, so plans describe the real host.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use phoenix_core::cmd::{CmdError, Runner};
use phoenix_core::converge::observe as shared;
use phoenix_core::ids::{GuestId, GuestKind};
use phoenix_core::paths::Layout;
use phoenix_core::pve::conf::GuestConfig;

use crate::pct;
use crate::plan::{HostFacts, gpu_devices};
use crate::spec::Spec;

pub use phoenix_core::converge::observe::{MARKER_DIR, app_marker, feature_marker};

/// The container's config file, parsed (`None` when the container does not exist).
pub fn conf(layout: &Layout, id: GuestId) -> anyhow::Result<Option<(GuestConfig, String)>> {
    shared::conf(layout, GuestKind::Lxc, id)
}

/// Whether the container runs (`pct status`).
pub fn running(runner: &Runner, id: GuestId) -> anyhow::Result<bool> {
    shared::running(runner, GuestKind::Lxc, id)
}

/// Host facts for the settings planner.
pub fn host_facts(layout: &Layout, spec: &Spec) -> HostFacts {
    let mut f = HostFacts {
        can_chown: phoenix_core::cmd::can_chown(),
        ..HostFacts::default()
    };
    for b in &spec.binds {
        let p = layout.host(&b.host_path);
        let owner = std::fs::metadata(&p)
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .map(|m| (m.uid(), m.gid()));
        f.dirs.insert(b.host_path.clone(), owner);
    }
    for d in gpu_devices(&spec.gpus) {
        let present = layout.host(&d).exists();
        f.devices.insert(d, present);
    }
    let lines = |p: &str| {
        phoenix_core::files::read_to_string(layout.host(p))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    f.subuid = lines("/etc/subuid");
    f.subgid = lines("/etc/subgid");
    if let Some(a) = &spec.apparmor {
        f.apparmor_current = phoenix_core::files::read(&a.source).ok().map(|want| {
            phoenix_core::files::read(layout.host(format!("/etc/apparmor.d/{}", a.name)))
                .is_ok_and(|have| have == want)
        });
    }
    f.firewall = phoenix_core::files::read_to_string(layout.pve_firewall(spec.id.get())).ok();
    f
}

/// Reads one marker file inside the running guest (`None` when absent).
fn read_marker(runner: &Runner, id: GuestId, path: &str) -> anyhow::Result<Option<String>> {
    match runner.run(&pct::exec(id, &["cat".into(), path.into()], false)) {
        Ok(o) => Ok(Some(o.stdout_str().trim().to_string())),
        Err(CmdError::Failed { code: Some(_), .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {path} in container {id}")),
    }
}

/// The installer hashes recorded in the guest: features, and the application script.
pub fn markers(
    runner: &Runner,
    id: GuestId,
    features: &[String],
    app: Option<&str>,
) -> anyhow::Result<(BTreeMap<String, String>, Option<String>)> {
    let mut m = BTreeMap::new();
    for f in features {
        if let Some(h) = read_marker(runner, id, &feature_marker(f))? {
            m.insert(f.clone(), h);
        }
    }
    let app = match app {
        Some(a) => read_marker(runner, id, &app_marker(a))?,
        None => None,
    };
    Ok((m, app))
}

/// Host path of the host hook's marker.
pub fn hook_marker_path(layout: &Layout, id: GuestId) -> std::path::PathBuf {
    layout
        .state_dir()
        .join("hooks")
        .join(format!("lxc-{id}.sha256"))
}

/// The recorded host-hook hash.
pub fn hook_marker(layout: &Layout, id: GuestId) -> Option<String> {
    phoenix_core::files::read_to_string(hook_marker_path(layout, id))
        .ok()
        .map(|s| s.trim().to_string())
}
