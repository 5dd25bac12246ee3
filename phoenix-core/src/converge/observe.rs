//! Observation both guest managers share: the guest's config file, whether it runs, where
//! completed installers are recorded inside it, and the installer scripts with their hashes.
//! Everything here only reads, so it runs in dry-run too and plans describe the real host.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use crate::cmd::Runner;
use crate::converge::apply::noun;
use crate::converge::content_hash;
use crate::ids::{GuestId, GuestKind};
use crate::paths::Layout;
use crate::pve::conf::GuestConfig;
use crate::pve::status;
use crate::pve::tool::Tool;

/// Where phoenix records completed installers inside a guest.
pub const MARKER_DIR: &str = "/var/lib/phoenix";

/// Guest path of a feature's marker (the hash of its script and inputs).
pub fn feature_marker(f: &str) -> String {
    format!("{MARKER_DIR}/features/{f}.sha256")
}

/// Guest path of an application script's marker.
pub fn app_marker(a: &str) -> String {
    format!("{MARKER_DIR}/apps/{a}.sha256")
}

/// The guest's config file (`/etc/pve/lxc/<id>.conf`, `/etc/pve/qemu-server/<id>.conf`),
/// parsed, with its text; `None` when the guest does not exist.
pub fn conf(
    layout: &Layout,
    kind: GuestKind,
    id: GuestId,
) -> anyhow::Result<Option<(GuestConfig, String)>> {
    let path = match kind {
        GuestKind::Lxc => layout.pve_lxc_conf(id.get()),
        GuestKind::Vm => layout.pve_qemu_conf(id.get()),
    };
    match crate::files::read_to_string_opt(&path)? {
        Some(text) => {
            let c = GuestConfig::parse_file(&text)
                .with_context(|| format!("cannot read {}", path.display()))?;
            for n in &c.notes {
                tracing::warn!("{}: {n} (as Proxmox does)", path.display());
            }
            Ok(Some((c, text)))
        }
        None => Ok(None),
    }
}

/// Whether the storages have room for what a plan adds (`(storage, bytes, what)`: a new
/// disk, or the growth of one), asking `pvesm status` once; the needs of one storage add up.
/// Nothing is asked when nothing is needed, so a converged guest reads nothing more.
pub fn storage_room(runner: &Runner, needs: &[(String, u64, String)]) -> anyhow::Result<()> {
    if needs.is_empty() {
        return Ok(());
    }
    let out = runner
        .run(&crate::pve::pvesm::status_cmd())
        .context("cannot list the storages")?;
    let list =
        crate::pve::pvesm::parse_status(&out.stdout_str()).context("cannot list the storages")?;
    let mut total: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
    for (storage, bytes, what) in needs {
        let e = total.entry(storage.as_str()).or_default();
        e.0 = e.0.saturating_add(*bytes);
        e.1.push(what.as_str());
    }
    for (storage, (bytes, whats)) in total {
        crate::pve::pvesm::check_room(&list, storage, bytes, &whats.join(" and "))
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Checks, in the guest's config file, the effect of a command whose CLI exits 0 even when
/// the task it runs failed — `pct template`, the resize in `pct resize`, `qm disk resize`
/// (pve-container src/PVE/CLI/pct.pm and qemu-server src/PVE/CLI/qm.pm run them without
/// `upid_exit`): `ok` must hold of the main section afterwards. A dry run checks nothing.
pub fn confirm(
    runner: &Runner,
    layout: &crate::paths::Layout,
    (kind, id): (GuestKind, GuestId),
    what: &str,
    ok: impl Fn(&crate::pve::conf::Section) -> bool,
) -> anyhow::Result<()> {
    if runner.is_dry_run() {
        return Ok(());
    }
    let Some((c, _)) = conf(layout, kind, id)? else {
        anyhow::bail!("{} {id} vanished after {what}", noun(kind));
    };
    if !ok(&c.main) {
        anyhow::bail!(
            "{what} of {} {id} reported success, but its config file does not show it (Proxmox exits 0 when this task fails; see the task log)",
            noun(kind)
        );
    }
    Ok(())
}

/// Whether the guest runs (`pct status` / `qm status`).
pub fn running(runner: &Runner, kind: GuestKind, id: GuestId) -> anyhow::Result<bool> {
    let what = || format!("cannot read the status of {} {id}", noun(kind));
    let out = runner.run(&Tool::of(kind).status(id)).with_context(what)?;
    let st = status::parse_status(&out.stdout_str()).with_context(what)?;
    Ok(st.is_running())
}

/// The shell library installers source, relative to `setup-scripts/`.
pub const INSTALLER_LIB: &str = "lib/common.sh";

/// Where the library is put inside a guest; installers find it through `PHOENIX_LIB`.
pub const GUEST_LIB: &str = "/tmp/phoenix/lib/common.sh";

/// The installers' shell library, when the installation has one (`setup-scripts/lib/`).
pub fn installer_lib(setup_scripts: &std::path::Path) -> anyhow::Result<Option<Vec<u8>>> {
    let p = setup_scripts.join(INSTALLER_LIB);
    Ok(crate::files::read_opt(&p)?)
}

/// The Phoenix root CA as the CA container left it on the host (`step_ca.root_ca_file`, else
/// `phoenix_root_ca.crt` in the CA container's state directory), when it is there and is a
/// PEM certificate. Container installers get it in their inputs (`.globals.ca_root_pem`), so
/// `trusted_ca` needs no mount of the CA's state directory, which also holds its secrets.
pub fn ca_root_pem(layout: &Layout, cfg: &crate::config::Config) -> Option<String> {
    let file = crate::mesh::ca_root_file(cfg)?;
    let text = crate::files::read_to_string(layout.host(&file)).ok()?;
    text.contains("-----BEGIN CERTIFICATE-----").then_some(text)
}

/// `trusted_ca` installs the CA root the host holds (a container gets it in its inputs, a VM
/// over the CA's NFS export): the root is one of its inputs, so its hash covers `pem`, and a
/// new root runs it again — and only it.
pub fn with_ca_root(hashes: &mut [(String, String)], pem: Option<&str>) {
    let Some(pem) = pem else { return };
    for (name, hash) in hashes {
        if name == "trusted_ca" {
            *hash = content_hash(&[hash.as_bytes(), pem.as_bytes()]);
        }
    }
}

/// Installer scripts found on the host, in order, with the hash recorded when each completes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installers {
    /// `(name, hash)` in order.
    pub hashes: Vec<(String, String)>,
    /// Name → script.
    pub scripts: BTreeMap<String, PathBuf>,
}

/// Reads `dir/<name>.sh` for every name and hashes it with `inputs`. A missing script is an
/// error naming the guest, the feature and the path, before anything runs.
pub fn installers(
    dir: &std::path::Path,
    names: &[String],
    inputs: &[u8],
    (kind, id): (GuestKind, GuestId),
) -> anyhow::Result<Installers> {
    let mut out = Installers::default();
    for f in names {
        let path = dir.join(format!("{f}.sh"));
        let bytes = crate::files::read(&path).with_context(|| {
            format!(
                "{} {id}: feature {f:?} has no installer: cannot read {}",
                noun(kind),
                path.display()
            )
        })?;
        // The library is part of every installer: a change to it re-runs them.
        let hash = match dir.parent().map(installer_lib).transpose()?.flatten() {
            Some(lib) => content_hash(&[&bytes, inputs, &lib]),
            None => content_hash(&[&bytes, inputs]),
        };
        out.hashes.push((f.clone(), hash));
        out.scripts.insert(f.clone(), path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installers_are_hashed_with_their_inputs_and_missing_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker.sh"), "echo docker\n").unwrap();
        let id = GuestId(1001);
        let a = installers(dir.path(), &["docker".into()], b"{}", (GuestKind::Vm, id)).unwrap();
        let b = installers(
            dir.path(),
            &["docker".into()],
            b"{\"x\":1}",
            (GuestKind::Vm, id),
        )
        .unwrap();
        assert_eq!(a.hashes[0].0, "docker");
        assert_ne!(a.hashes[0].1, b.hashes[0].1, "inputs are part of the hash");
        let e = installers(dir.path(), &["nope".into()], b"{}", (GuestKind::Vm, id)).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("VM 1001: feature \"nope\" has no installer: cannot read "),
            "{msg}"
        );
        assert!(msg.contains("nope.sh"), "{msg}");
    }

    #[test]
    fn markers_live_under_var_lib_phoenix() {
        assert_eq!(
            feature_marker("docker"),
            "/var/lib/phoenix/features/docker.sha256"
        );
        assert_eq!(
            app_marker("vllm.sh"),
            "/var/lib/phoenix/apps/vllm.sh.sha256"
        );
    }
}
