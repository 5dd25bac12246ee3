//! A simulated Proxmox host in a temporary directory, with an installation of phoenix on
//! it, driven through the real binaries: `lxc-manager`, `phoenix-cli` and `pve-sim` (its
//! `pct`, `pvesm`, … links on `PATH`). Nothing outside the temporary directory is touched.
//!
//! The installation gets the configuration under test (its JSON files and stacks), and a
//! fake installer for every feature and application script it names: each records itself in
//! the guest (`/opt/phoenix/<name>`), so tests can see what ran where. Health checks naming
//! a host program get one that succeeds.
//!
//! The binaries are found in the target directory of the test that uses this crate;
//! `cargo test --workspace` builds them all.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use phoenix_core::cmd::{Cmd, CmdError, Runner};
use serde_json::Value;

pub mod validate;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `../shared/reference/etc`, when it is there (a note and `None` otherwise).
pub fn reference() -> Option<PathBuf> {
    let dir = repo().join("../shared/reference/etc");
    if dir.join("phoenix_lxc_configs.json").is_file() {
        Some(dir.canonicalize().expect("canonical reference path"))
    } else {
        eprintln!("note: {} is absent; skipping", dir.display());
        None
    }
}

/// Loads the configuration in `dir` (no installation: relative paths next to the files);
/// panics with the findings when it does not load.
pub fn load_config(dir: &Path) -> phoenix_core::config::Config {
    use phoenix_core::config::{ConfigLocation, LoadOptions};
    let loc = ConfigLocation::resolve(
        Some(dir),
        None,
        &phoenix_core::paths::Layout::new("/nonexistent", "/"),
    );
    let loaded = phoenix_core::config::load(&loc, &LoadOptions::default());
    loaded
        .config
        .unwrap_or_else(|| panic!("{}: {:?}", dir.display(), loaded.report.all()))
}

/// The Debian root file system tarball real guests are made from (`PHOENIX_REAL_GUESTS`, set
/// by `cargo xtask e2e`); `None`, with a printed note, when it is not set.
pub fn real_guests_tarball() -> Option<String> {
    let t = std::env::var("PHOENIX_REAL_GUESTS")
        .ok()
        .filter(|t| !t.is_empty());
    if t.is_none() {
        eprintln!("note: PHOENIX_REAL_GUESTS is not set (cargo xtask e2e sets it); skipping");
    }
    t
}

/// One row of the real-guest installer table: guest, installer, first run (`ok`/`failed`),
/// its seconds, and what the second run did.
pub type InstallerRow = (String, String, &'static str, f64, String);

/// The installer table `cargo xtask e2e` prints.
pub fn installer_table(rows: &[InstallerRow]) -> String {
    let mut table = format!(
        "\n{:<6} {:<34} {:<7} {:>8}  {}\n",
        "guest", "installer", "first", "seconds", "second run"
    );
    for (guest, name, first, secs, second) in rows {
        table.push_str(&format!(
            "{guest:<6} {name:<34} {first:<7} {secs:>8.1}  {second}\n"
        ));
    }
    table
}

/// Runs a manager binary with the example configuration on no host at all (an empty system
/// root, nothing on `PATH` from Proxmox): `(exit status, stderr)`.
pub fn run_without_a_host(bin: &Path, args: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let etc = examples();
    let cmd = Cmd::read(bin)
        .args(args)
        .args(["--config".as_ref(), etc.as_os_str()])
        .env("PHOENIX_ROOT", tmp.path())
        .env("PHOENIX_SYSROOT", tmp.path())
        .env("PHOENIX_CONFIG_DIR", "");
    match Runner::system(false).run(&cmd) {
        Ok(out) => (0, out.stderr_str()),
        Err(CmdError::Failed { code, stderr, .. }) => (code.unwrap_or(-1), stderr),
        Err(e) => panic!("{e}"),
    }
}

/// The repository's example configuration.
pub fn examples() -> PathBuf {
    repo().join("etc")
}

/// A workspace binary in the target directory of the running test (`target/debug/deps/<test>`
/// → `target/debug/<name>`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target dir");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is not built; run `cargo build --workspace` first (`cargo test --workspace` does)",
        p.display()
    );
    p
}

/// What a run printed.
#[derive(Clone, Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts that the run failed (exit 1) naming `url`, for `what` (an installer that needs
    /// a server a real guest cannot reach).
    #[track_caller]
    pub fn fails_naming(&self, what: &str, url: &str) {
        assert_eq!(self.code, 1, "{what}\n{}\n{}", self.stdout, self.stderr);
        assert!(
            self.stderr.contains(url) || self.stdout.contains(url),
            "{what} does not name {url}:\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// Asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts exit status `code`; returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

/// A simulated host with phoenix installed.
pub struct Host {
    dir: tempfile::TempDir,
    env: std::cell::RefCell<Vec<(String, String)>>,
}

/// A VM `trusted_ca` stand-in that also leaves the CA where vm-manager's health check looks
/// for it.
pub const VM_TRUSTED_CA: &str = "#!/bin/bash\nset -euo pipefail\n# phoenix-input: ca-root\nmkdir -p /opt/phoenix /usr/local/share/ca-certificates\ntouch /opt/phoenix/vm-trusted_ca\necho root-ca > /usr/local/share/ca-certificates/phoenix_root_ca.crt\n";

/// A fake installer: says what it is and leaves a trace in the guest. It declares the host
/// inputs (`# phoenix-input:` lines) the project's real installer `setup-scripts/<dir>/<feature>.sh`
/// declares, so a stand-in is re-run when the real one would be.
fn installer(name: &str, real: Option<(&str, &str)>) -> String {
    let declared: String = real
        .and_then(|(dir, f)| {
            std::fs::read_to_string(repo().join(format!("setup-scripts/{dir}/{f}.sh"))).ok()
        })
        .map(|t| {
            t.lines()
                .filter(|l| l.trim().starts_with("# phoenix-input:"))
                .map(|l| format!("{}\n", l.trim()))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "#!/bin/bash\nset -euo pipefail\n{declared}echo \"installing {name}\"\nmkdir -p /opt/phoenix\ntouch /opt/phoenix/{name}\n"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The Proxmox VE releases the product supports and the estate tests run on (`pve-sim init
/// --pve`).
pub const RELEASES: [&str; 2] = ["8.4", "9.1"];

/// Defines a test module `name` with one test per supported release (`pve_8_4`, `pve_9_1`),
/// each running `body` with `pve` bound to the release.
#[macro_export]
macro_rules! on_each_release {
    ($(#[$m:meta])* fn $name:ident($pve:ident) $body:block) => {
        $(#[$m])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($pve: &str) $body

            #[test]
            fn pve_8_4() {
                run($crate::RELEASES[0])
            }

            #[test]
            fn pve_9_1() {
                run($crate::RELEASES[1])
            }
        }
    };
}

impl Host {
    /// [`Host::new`] on Proxmox VE release `pve`.
    pub fn on(etc: &Path, gpus: u32, pve: &str) -> Host {
        Self::with_init(etc, &["--gpus", &gpus.to_string(), "--pve", pve])
    }

    /// A host made from the configuration in `etc` (pools, storages, templates as
    /// `pve-sim init --from-config` makes them) with `gpus` GPUs, and phoenix installed with
    /// that configuration.
    pub fn new(etc: &Path, gpus: u32) -> Host {
        Self::with_init(etc, &["--gpus", &gpus.to_string()])
    }

    /// A host made by `pve-sim init --from-config <etc> <init...>` (e.g. `--bare` for a host
    /// `setup` has not run on, `--nvidia-driver none`), with phoenix installed as in
    /// [`Host::new`].
    pub fn with_init(etc: &Path, init: &[&str]) -> Host {
        let h = Host {
            dir: tempfile::tempdir().expect("temp dir"),
            // Portainer is reached on loopback only: a closed port unless a test starts
            // portainer-sim and points here.
            env: std::cell::RefCell::new(vec![(
                "PHOENIX_PORTAINER_CONNECT".to_string(),
                "127.0.0.1:9".to_string(),
            )]),
        };
        for d in [
            h.etc(),
            h.root().join("setup-scripts/lxc"),
            h.root().join("setup-scripts/apps"),
            h.sys(),
            h.bin(),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        for e in std::fs::read_dir(etc).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                std::fs::copy(&p, h.etc().join(p.file_name().unwrap())).unwrap();
            }
        }
        // What the install root holds beside etc/: stacks/, and persistent-storage/, where
        // the 2025-10 stack catalogue's compose_file_path points.
        for dir in ["stacks", "persistent-storage"] {
            if let Some(from) = etc.parent().map(|p| p.join(dir)).filter(|p| p.is_dir()) {
                copy_dir(&from, &h.root().join(dir));
            }
        }
        // The AppArmor profiles every installation ships.
        copy_dir(&repo().join("etc/apparmor"), &h.etc().join("apparmor"));
        let mut args = vec!["init", "--from-config", etc.to_str().unwrap()];
        args.extend_from_slice(init);
        h.sim(&args).ok();
        h.sim(&["install", h.bin().to_str().unwrap()]).ok();
        let lxc = h.lxc_config();
        let mut features = BTreeSet::new();
        for c in lxc["lxc_configs"].as_object().unwrap().values() {
            for f in c["features"].as_array().into_iter().flatten() {
                features.insert(f.as_str().unwrap().to_string());
            }
            if let Some(a) = c["application_script"].as_str().filter(|a| !a.is_empty()) {
                h.write_app(a, &installer(&format!("app-{a}"), None));
            }
            if let Some(cmd) = c["health_check"]["command"]
                .as_str()
                .filter(|c| c.starts_with('/'))
            {
                let rel = cmd
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_start_matches("/usr/local/phoenix_hypervisor/");
                let p = h.root().join(rel.trim_start_matches('/'));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        for f in features {
            h.write_feature(&f, &installer(&f, Some(("lxc", &f))));
        }
        std::fs::create_dir_all(h.root().join("setup-scripts/vm")).unwrap();
        let vms = h.vm_config();
        for vm in vms["vms"].as_array().into_iter().flatten() {
            for f in vm["features"].as_array().into_iter().flatten() {
                let f = f.as_str().unwrap();
                h.write_vm_feature(f, &installer(&format!("vm-{f}"), Some(("vm", f))));
            }
            if let Some(img) = vm["template_image"].as_str() {
                h.add_cloud_image(img);
            }
        }
        h
    }

    /// Puts a cloud image (a simulator disk image of 3.5 GiB) in `local`'s ISO directory.
    pub fn add_cloud_image(&self, name: &str) {
        let p = self.path(&format!("/var/lib/vz/template/iso/{name}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "pve-sim disk image, virtual size 3758096384\n").unwrap();
    }

    /// Writes a VM feature installer.
    pub fn write_vm_feature(&self, name: &str, body: &str) {
        std::fs::write(
            self.root().join(format!("setup-scripts/vm/{name}.sh")),
            body,
        )
        .unwrap();
    }

    /// The VM configuration file, parsed (`{}` when there is none: files before 2025-09-29).
    pub fn vm_config(&self) -> Value {
        match std::fs::read_to_string(self.etc().join("phoenix_vm_configs.json")) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
            Err(e) => panic!("cannot read the VM configuration: {e}"),
        }
    }

    /// Edits VM `id`'s block of the installed VM configuration.
    pub fn edit_vm(&self, id: u64, f: impl FnOnce(&mut Value)) {
        let mut v = self.vm_config();
        let vm = v["vms"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|vm| vm["vmid"].as_u64() == Some(id))
            .expect("VM in the configuration");
        f(vm);
        std::fs::write(
            self.etc().join("phoenix_vm_configs.json"),
            serde_json::to_string_pretty(&v).unwrap(),
        )
        .unwrap();
    }

    /// Runs `argv` in VM `id` through the guest agent: `(exit code, stdout)`.
    pub fn vm_exec(&self, id: u32, argv: &[&str]) -> (i64, String) {
        let mut args = vec!["guest", "exec"];
        let ids = id.to_string();
        args.push(&ids);
        args.push("--");
        args.extend_from_slice(argv);
        let out = self.tool("qm", &args);
        let v: Value = serde_json::from_str(out.ok()).expect("qm guest exec prints JSON");
        (
            v["exitcode"].as_i64().unwrap_or(-1),
            v["out-data"].as_str().unwrap_or("").to_string(),
        )
    }

    /// Whether `path` exists inside VM `id`.
    pub fn vm_has(&self, id: u32, path: &str) -> bool {
        self.vm_exec(id, &["test", "-e", path]).0 == 0
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn etc(&self) -> PathBuf {
        self.root().join("etc")
    }
    pub fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("phoenix.log")
    }

    /// What the binaries logged so far (their `--log-file`).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// A host path inside the simulated root.
    pub fn path(&self, host: &str) -> PathBuf {
        self.sys().join(host.trim_start_matches('/'))
    }

    /// A host file inside the simulated root.
    pub fn read(&self, host: &str) -> String {
        std::fs::read_to_string(self.path(host)).unwrap_or_else(|e| panic!("{host}: {e}"))
    }

    /// Writes a feature installer.
    pub fn write_feature(&self, name: &str, body: &str) {
        std::fs::write(
            self.root().join(format!("setup-scripts/lxc/{name}.sh")),
            body,
        )
        .unwrap();
    }

    /// Writes an application script.
    pub fn write_app(&self, name: &str, body: &str) {
        std::fs::write(self.root().join(format!("setup-scripts/apps/{name}")), body).unwrap();
    }

    /// Writes a host file (a secret, a certificate) with `mode`.
    pub fn write_host_file(&self, host: &str, content: &str, mode: u32) {
        let p = self.path(host);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file, link and directory of the simulated host except the simulator's own
    /// bookkeeping, with its mode and content (a link's target), to compare a host before
    /// and after a run.
    pub fn tree(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                // The simulator's bookkeeping, and our locks (they hold the last holder's PID).
                if rel == "var/lib/pve-sim" || rel == "run/phoenix_hypervisor" {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).unwrap();
                let mode = m.permissions().mode() & 0o7777;
                if m.file_type().is_symlink() {
                    out.insert(
                        rel,
                        format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                    );
                } else if m.is_dir() {
                    out.insert(rel, format!("dir {mode:04o}"));
                    walk(root, &p, out);
                } else {
                    let bytes = std::fs::read(&p).unwrap_or_default();
                    out.insert(
                        rel,
                        format!("{mode:04o} {}", phoenix_core::converge::sha256_hex(&bytes)),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.sys(), &self.sys(), &mut out);
        out
    }

    /// The paths whose entry differs between two [`Host::tree`]s (added, removed or changed).
    pub fn tree_changes(
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut keys: BTreeSet<&String> = before.keys().collect();
        keys.extend(after.keys());
        keys.into_iter()
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| {
                format!(
                    "{k}: {} -> {}",
                    before.get(k).map_or("absent", String::as_str),
                    after.get(k).map_or("absent", String::as_str)
                )
            })
            .collect()
    }

    fn exec(&self, program: &Path, args: &[&str], log: bool) -> Out {
        self.exec_with_path(
            program,
            args,
            log,
            &format!("{}:/usr/bin:/bin", self.bin().display()),
        )
    }

    fn exec_with_path(&self, program: &Path, args: &[&str], log: bool, path: &str) -> Out {
        let mut c = Cmd::mutate(program)
            .args(args)
            .env("PATH", path)
            .env("PHOENIX_SYSROOT", self.sys())
            .env("PHOENIX_ROOT", self.root())
            .env("PHOENIX_CONFIG_DIR", "")
            .env("PHOENIX_GLOBAL_LOCK_HELD", "")
            .env("PVE_SIM_STRICT", "1")
            .env("PVE_SIM_TIME_SCALE", "0")
            .env("NO_COLOR", "1");
        for (k, v) in self.env.borrow().iter() {
            c = c.env(k, v);
        }
        if log {
            c = c.arg("--log-file").arg(self.log());
        }
        match Runner::system(false).run(&c) {
            Ok(o) => Out {
                code: 0,
                stdout: o.stdout_str(),
                stderr: o.stderr_str(),
            },
            Err(CmdError::Failed {
                code,
                stdout,
                stderr,
                ..
            }) => Out {
                code: code.unwrap_or(-1),
                stdout,
                stderr,
            },
            Err(e) => panic!("cannot run {}: {e}", program.display()),
        }
    }

    /// `lxc-manager <args>`.
    pub fn lxc(&self, args: &[&str]) -> Out {
        self.exec(&sibling("lxc-manager"), args, true)
    }

    /// `hypervisor-manager <args>`, with only the simulator's tools on `PATH`: a host tool
    /// the simulator does not answer for is not found rather than run for real.
    pub fn hv(&self, args: &[&str]) -> Out {
        self.exec_with_path(
            &sibling("hypervisor-manager"),
            args,
            true,
            &self.bin().display().to_string(),
        )
    }

    /// The installed host configuration, parsed.
    pub fn host_config(&self) -> Value {
        let p = self.etc().join("phoenix_hypervisor_config.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    /// Edits the installed host configuration.
    pub fn edit_host(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.host_config();
        f(&mut v);
        std::fs::write(
            self.etc().join("phoenix_hypervisor_config.json"),
            serde_json::to_string_pretty(&v).unwrap(),
        )
        .unwrap();
    }

    /// The secrets the example configuration names for `setup`, as an operator writes them
    /// once (mode 0600): the admin's crypt(3) hash (a yescrypt-shaped stand-in for no known
    /// password) and the Samba password.
    pub fn write_example_secrets(&self) {
        self.write_host_file(
            "/etc/phoenix_hypervisor/secrets/admin_password.hash",
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7\n",
            0o600,
        );
        self.write_host_file(
            "/etc/phoenix_hypervisor/secrets/samba_password",
            "test samba password\n",
            0o600,
        );
    }

    /// Replaces the stand-in installers with the project's real `setup-scripts/` (for real
    /// guests).
    pub fn install_real_setup_scripts(&self) {
        let dir = self.root().join("setup-scripts");
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&repo().join("setup-scripts"), &dir);
    }

    /// Sets an environment variable for every later run of a binary on this host.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
    }

    /// `portainer-manager <args>`, with only the simulator's tools on `PATH` (as
    /// [`Host::hv`]: sync converges host files too).
    pub fn pm(&self, args: &[&str]) -> Out {
        self.exec_with_path(
            &sibling("portainer-manager"),
            args,
            true,
            &self.bin().display().to_string(),
        )
    }

    /// `vm-manager <args>`.
    pub fn vm(&self, args: &[&str]) -> Out {
        self.exec(&sibling("vm-manager"), args, true)
    }

    /// `phoenix-cli <args>` (it runs the managers built next to it).
    pub fn cli(&self, args: &[&str]) -> Out {
        self.exec(&sibling("phoenix-cli"), args, true)
    }

    /// `phoenix-cli <args>` with only the simulator's tools on `PATH` (as [`Host::hv`]), for
    /// verbs that reach `hypervisor-manager`.
    pub fn cli_sim_only(&self, args: &[&str]) -> Out {
        self.exec_with_path(
            &sibling("phoenix-cli"),
            args,
            true,
            &self.bin().display().to_string(),
        )
    }

    /// `pve-sim <args>`.
    pub fn sim(&self, args: &[&str]) -> Out {
        self.exec(&sibling("pve-sim"), args, false)
    }

    /// A Proxmox tool through its link.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Out {
        self.exec(&self.bin().join(tool), args, false)
    }

    /// The audit log.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("/var/lib/pve-sim/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// How many tool calls so far.
    pub fn mark(&self) -> usize {
        self.audit().len()
    }

    /// The mutating tool calls after `mark`, as command lines.
    pub fn mutations_since(&self, mark: usize) -> Vec<String> {
        self.audit()
            .into_iter()
            .skip(mark)
            .filter(|e| e["effect"] == "mutate")
            .map(|e| {
                let argv: Vec<&str> = e["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                format!("{} {}", e["tool"].as_str().unwrap(), argv.join(" "))
                    .trim_end()
                    .to_string()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    /// Every call the simulator refused (strict mode) or failed.
    pub fn refusals(&self) -> Vec<String> {
        self.audit()
            .into_iter()
            .filter(|e| e["refused"] == true)
            .map(|e| e.to_string())
            .collect()
    }

    /// The LXC configuration file, parsed.
    pub fn lxc_config(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.etc().join("phoenix_lxc_configs.json")).unwrap(),
        )
        .unwrap()
    }

    /// Edits container `id`'s block of the installed LXC configuration.
    pub fn edit(&self, id: u32, f: impl FnOnce(&mut Value)) {
        let mut v = self.lxc_config();
        f(&mut v["lxc_configs"][id.to_string()]);
        std::fs::write(
            self.etc().join("phoenix_lxc_configs.json"),
            serde_json::to_string_pretty(&v).unwrap(),
        )
        .unwrap();
    }

    /// Whether `path` exists inside container `id`.
    pub fn guest_has(&self, id: u32, path: &str) -> bool {
        self.tool("pct", &["exec", &id.to_string(), "--", "test", "-e", path])
            .code
            == 0
    }

    /// The containers of the configuration in an order that creates clone sources and
    /// container dependencies first (VM dependencies are left out: they wait for vm-manager).
    pub fn creation_order(&self) -> Vec<u32> {
        let lxc = self.lxc_config();
        let all = lxc["lxc_configs"].as_object().unwrap();
        let mut needs: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (k, c) in all {
            let id: u32 = k.parse().unwrap();
            let mut n = BTreeSet::new();
            let as_id = |v: &Value| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|x| x.to_string()))
            };
            if let Some(src) = as_id(&c["clone_from_ctid"]) {
                n.insert(src.parse().unwrap());
            }
            for d in c["dependencies"].as_array().into_iter().flatten() {
                if let Some(d) = as_id(d).filter(|d| all.contains_key(d)) {
                    n.insert(d.parse().unwrap());
                }
            }
            needs.insert(id, n);
        }
        let mut order = Vec::new();
        while order.len() < needs.len() {
            let next = needs
                .iter()
                .find(|(id, n)| !order.contains(*id) && n.iter().all(|d| order.contains(d)))
                .map(|(id, _)| *id)
                .expect("no cycles");
            order.push(next);
        }
        order
    }
}
