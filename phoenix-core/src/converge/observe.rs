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

/// Host facts an installer may depend on beyond its configuration inputs. A script names
/// each one it reads with a line `# phoenix-input: NAME`; the fact's value is then part of
/// that installer's hash, so a new value runs it again — and only it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInputs {
    /// `ca-root`: the Phoenix root CA as the host holds it ([`ca_root_pem`]).
    pub ca_root: Option<String>,
}

impl HostInputs {
    /// The facts as this host has them.
    pub fn of(layout: &Layout, cfg: &crate::config::Config) -> Self {
        HostInputs {
            ca_root: ca_root_pem(layout, cfg),
        }
    }

    /// A declared fact's value (`Err` for a name no installer may declare).
    fn get(&self, name: &str) -> Result<Option<&str>, ()> {
        match name {
            "ca-root" => Ok(self.ca_root.as_deref()),
            _ => Err(()),
        }
    }
}

/// The host facts a script declares (`# phoenix-input: NAME` lines).
fn declared_inputs(script: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(script)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# phoenix-input:"))
        .map(|n| n.trim().to_string())
        .collect()
}

/// Installer scripts found on the host, in order, with the hash recorded when each completes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installers {
    /// `(name, hash)` in order.
    pub hashes: Vec<(String, String)>,
    /// Name → script.
    pub scripts: BTreeMap<String, PathBuf>,
}

/// Reads `dir/<name>.sh` for every name and hashes it with `inputs`, the installers' library
/// and the host facts it declares (`host`). A missing script, or one that declares a fact
/// that does not exist, is an error naming the guest, the feature and the path, before
/// anything runs.
pub fn installers(
    dir: &std::path::Path,
    names: &[String],
    inputs: &[u8],
    host: &HostInputs,
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
        let lib = dir.parent().map(installer_lib).transpose()?.flatten();
        let mut parts: Vec<&[u8]> = vec![&bytes, inputs];
        if let Some(lib) = &lib {
            parts.push(lib);
        }
        for name in declared_inputs(&bytes) {
            let value = host.get(&name).map_err(|()| {
                anyhow::anyhow!(
                    "{} {id}: installer {} declares the host input {name:?}, which does not exist (known: ca-root)",
                    noun(kind),
                    path.display()
                )
            })?;
            if let Some(v) = value {
                parts.push(v.as_bytes());
            }
        }
        let hash = content_hash(&parts);
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
        let a = installers(
            dir.path(),
            &["docker".into()],
            b"{}",
            &HostInputs::default(),
            (GuestKind::Vm, id),
        )
        .unwrap();
        let b = installers(
            dir.path(),
            &["docker".into()],
            b"{\"x\":1}",
            &HostInputs::default(),
            (GuestKind::Vm, id),
        )
        .unwrap();
        assert_eq!(a.hashes[0].0, "docker");
        assert_ne!(a.hashes[0].1, b.hashes[0].1, "inputs are part of the hash");
        let e = installers(
            dir.path(),
            &["nope".into()],
            b"{}",
            &HostInputs::default(),
            (GuestKind::Vm, id),
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("VM 1001: feature \"nope\" has no installer: cannot read "),
            "{msg}"
        );
        assert!(msg.contains("nope.sh"), "{msg}");
    }

    #[test]
    fn a_declared_host_input_reruns_only_the_installer_that_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("trusted_ca.sh"),
            "#!/bin/bash\n# phoenix-input: ca-root\necho trust\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("docker.sh"), "echo docker\n").unwrap();
        let names = ["docker".to_string(), "trusted_ca".to_string()];
        let who = (GuestKind::Lxc, GuestId(103));
        let hash = |root: Option<&str>| {
            let host = HostInputs {
                ca_root: root.map(String::from),
            };
            installers(dir.path(), &names, b"{}", &host, who)
                .unwrap()
                .hashes
        };
        let (none, one, two) = (hash(None), hash(Some("A")), hash(Some("B")));
        assert_eq!(none[0], one[0], "docker does not read the root");
        assert_eq!(one[0], two[0]);
        assert_ne!(none[1], one[1], "trusted_ca reads it");
        assert_ne!(one[1], two[1]);
        assert_eq!(one, hash(Some("A")), "the same root, the same hash");

        std::fs::write(dir.path().join("docker.sh"), "# phoenix-input: moon\n").unwrap();
        let e = installers(dir.path(), &names, b"{}", &HostInputs::default(), who).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.starts_with("container 103: installer ")
                && msg.contains("docker.sh declares the host input \"moon\""),
            "{msg}"
        );
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
