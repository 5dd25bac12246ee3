//! `cargo xtask <task>`: developer tasks, in the rust-analyzer style.
//!
//! - `ci`: the README's test command (fmt check, clippy -D warnings, tests, the demo,
//!   shellcheck);
//! - `demo`: the README's first command (validate the example estate in `etc/`, bring up the
//!   simulated host it describes with `pve-sim`, `phoenix setup` twice, `phoenix LetsGo`
//!   against a `portainer-sim` on loopback, simulated time per guest and the critical path,
//!   then LetsGo again, which must change nothing);
//! - `install [--prefix DIR] [--destdir DIR]`: release binaries and the installation tree
//!   (see `install.rs`);
//! - `dist`: a `.deb` built from the same tree;
//! - `e2e`: the real installers in real guests (root, mmdebstrap, systemd-nspawn; a Debian
//!   root file system built once into `target/e2e/`).

mod install;
#[cfg(test)]
mod modgraph;
mod tidy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("demo") => demo(),
        Some("install") => install_task(&args[1..]),
        Some("dist") => dist(),
        Some("install-check") => install_check(),
        Some("e2e") => e2e(),
        Some("help" | "--help" | "-h") | None => {
            println!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci       fmt check, clippy -D warnings, tests, the demo, shellcheck (what CI runs)\n  demo     build and run the demo on the example configuration\n  install  build release binaries and lay out an installation [--prefix DIR] [--destdir DIR]\n  dist     build a .deb of the installation (target/dist/)\n  install-check  install the debug binaries into a temporary directory and validate from there (part of ci)\n  e2e      the real setup-scripts in real Debian guests booted with systemd-nspawn (root; mmdebstrap)"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}` (try `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the project root, echoing it; the single process-spawning function of
/// xtask (xtask is developer tooling, outside phoenix-core's runner by design).
#[allow(clippy::disallowed_methods)]
fn run(program: &str, args: &[&OsStr], envs: &[(&str, &OsStr)]) -> Result<(), String> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    eprintln!("$ {program} {}", shown.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("failed to run `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", shown.join(" ")))
    }
}

fn os(args: &[&'static str]) -> Vec<&'static OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

fn ci() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    run(&cargo, &os(&["fmt", "--all", "--", "--check"]), &[])?;
    run(
        &cargo,
        &os(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        &[],
    )?;
    run(&cargo, &os(&["test", "--workspace"]), &[])?;
    // The README's first command must keep working on a fresh clone.
    demo()?;
    install_check()?;
    let scripts = tidy::shell_scripts(&project_root().join("setup-scripts"));
    if scripts.is_empty() {
        eprintln!("xtask: no shell scripts in setup-scripts/ yet; shellcheck skipped");
        return Ok(());
    }
    let mut args: Vec<&OsStr> = os(&["-x", "-S", "warning"]);
    args.extend(scripts.iter().map(|p| p.as_os_str()));
    run("shellcheck", &args, &[])
        .map_err(|e| format!("{e}\nhint: CI installs shellcheck with apt-get (see .ci/run)"))?;
    // The installers against stub tools in a temporary root: what they install, and that a
    // second run changes nothing.
    run("bash", &os(&["setup-scripts/tests/run.sh"]), &[])
}

/// The real installers in real guests: builds (once, cached in `target/e2e/`) a Debian 12
/// root file system with `mmdebstrap` from Debian's archive, then runs
/// `lxc-manager/tests/it/real_guests.rs` and `vm-manager/tests/it/real_guests.rs` with the
/// simulator booting guests from it (`PVE_SIM_REAL_GUESTS`): the installer tables, `setup`,
/// `LetsGo 101 102 103` (real clone chains) and a second LetsGo that changes nothing that
/// worked, a VM template built and sealed by real cloud-init and a clone's installers run
/// through the real agent.
/// Needs root, `mmdebstrap`, `systemd-nspawn` (systemd-container), `nsenter` (util-linux) and
/// `ip` (iproute2).
fn e2e() -> Result<(), String> {
    let uid = String::from_utf8_lossy(&capture(Path::new("id"), &["-u"])?)
        .trim()
        .to_string();
    if uid != "0" {
        return Err("e2e boots guests with systemd-nspawn, which needs root".into());
    }
    for (tool, package) in [
        ("mmdebstrap", "mmdebstrap"),
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
    ] {
        if capture(Path::new("sh"), &["-c", &format!("command -v {tool}")]).is_err() {
            return Err(format!("{tool} is missing: apt-get install {package}"));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let dir = target.join("e2e");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // cloud-init is there for VMs (a cloud image has it; in a container it finds no data
    // source and stays off), and en_US.UTF-8 is generated, as in Ubuntu's images (cloud-init's
    // locale module sets it).
    let how = [
        "--variant=apt",
        "--include=systemd,systemd-sysv,dbus,ca-certificates,curl,jq,cloud-init,locales",
        "--customize-hook=echo 'en_US.UTF-8 UTF-8' > \"$1/etc/locale.gen\" && chroot \"$1\" locale-gen",
        "--format=tar",
        "bookworm",
    ];
    // Named by how it is made: any change to that builds a new one.
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        how.hash(&mut h);
        h.finish()
    };
    let tar = dir.join(format!("debian-bookworm-{key:016x}.tar"));
    if !tar.is_file() {
        let partial = tar.with_extension("tar.partial");
        let mut args: Vec<&OsStr> = how.iter().map(OsStr::new).collect();
        args.extend([
            partial.as_os_str(),
            OsStr::new("http://deb.debian.org/debian"),
        ]);
        run("mmdebstrap", &args, &[])?;
        std::fs::rename(&partial, &tar).map_err(|e| format!("{}: {e}", tar.display()))?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    // The binaries the test drives (the simulator, the managers) come from the target dir.
    run(
        &cargo,
        &os(&["build", "--quiet", "--workspace", "--bins"]),
        &[],
    )?;
    run(
        &cargo,
        &os(&[
            "test",
            "-p",
            "lxc-manager",
            "-p",
            "vm-manager",
            "--test",
            "it",
            "--",
            // The `real_guests` module of each crate's test binary, nothing else.
            "real_guests::",
            "--nocapture",
            // One guest at a time: each runs apt and boots systemd, and CI has 2 cores.
            "--test-threads=1",
        ]),
        &[("PHOENIX_REAL_GUESTS", tar.as_os_str())],
    )
}

fn demo() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    run(
        &cargo,
        &os(&[
            "build",
            "--quiet",
            "--bin",
            "phoenix-cli",
            "--bin",
            "lxc-manager",
            "--bin",
            "vm-manager",
            "--bin",
            "hypervisor-manager",
            "--bin",
            "portainer-manager",
            "--bin",
            "pve-sim",
            "--bin",
            "portainer-sim",
        ]),
        &[],
    )?;
    let root = project_root();
    let scratch = std::env::temp_dir().join(format!("phoenix-demo-{}", std::process::id()));
    let result = demo_steps(&root, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    eprintln!("\nxtask: demo done (its temporary host is removed)");
    Ok(())
}

/// Runs a command and returns its standard output (man pages and completions).
fn capture(program: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    capture_env(program, args, &[])
}

/// [`capture`] with environment variables.
#[allow(clippy::disallowed_methods)]
fn capture_env(program: &Path, args: &[&str], envs: &[(&str, &OsStr)]) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(project_root())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed ({}): {}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// `cargo build --release` of the installed binaries; returns their directory.
fn build_release() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut args = vec!["build", "--release", "--quiet"];
    for b in install::BINARIES {
        args.extend(["--bin", b]);
    }
    run(&cargo, &os_owned(&args), &[])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    Ok(target.join("release"))
}

fn os_owned<'a>(args: &'a [&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(OsStr::new).collect()
}

fn install_task(args: &[String]) -> Result<(), String> {
    let mut prefix = PathBuf::from(phoenix_paths::DEFAULT_ROOT);
    let mut destdir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prefix" => prefix = it.next().ok_or("--prefix needs a directory")?.into(),
            "--destdir" => {
                destdir = Some(PathBuf::from(
                    it.next().ok_or("--destdir needs a directory")?,
                ))
            }
            other => {
                return Err(format!(
                    "unknown install option `{other}` (--prefix DIR, --destdir DIR)"
                ));
            }
        }
    }
    if !prefix.is_absolute() {
        return Err(format!("--prefix {} must be absolute", prefix.display()));
    }
    let bin_dir = build_release()?;
    let report = install_from(&bin_dir, prefix, destdir)?;
    for l in &report.lines {
        println!("{l}");
    }
    println!("{} file(s) changed", report.changes());
    Ok(())
}

fn install_from(
    bin_dir: &Path,
    prefix: PathBuf,
    destdir: Option<PathBuf>,
) -> Result<install::Report, String> {
    let opts = install::Options {
        prefix,
        destdir,
        bin_dir: bin_dir.to_path_buf(),
    };
    let generate = |bin: &str, what: &str| capture(&bin_dir.join(bin), &["__generate", what]);
    install::install(&project_root(), &opts, &generate)
}

/// Installs the debug binaries into a temporary directory and runs the installed
/// `phoenix validate` on the installed example configuration (what CI checks of `install`;
/// `install` itself builds release binaries).
fn install_check() -> Result<(), String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let stage = std::env::temp_dir().join(format!("phoenix-install-{}", std::process::id()));
    let prefix = PathBuf::from(phoenix_paths::DEFAULT_ROOT);
    let result = (|| {
        let report = install_from(&target.join("debug"), prefix.clone(), Some(stage.clone()))?;
        let root = stage.join(prefix.strip_prefix("/").unwrap_or(&prefix));
        let cli = root.join("bin/phoenix-cli").to_string_lossy().into_owned();
        let log = stage.join("validate.log");
        run(
            &cli,
            &[
                OsStr::new("validate"),
                OsStr::new("--log-file"),
                log.as_os_str(),
            ],
            &[
                (phoenix_paths::ENV_ROOT, root.as_os_str()),
                (phoenix_paths::ENV_CONFIG_DIR, OsStr::new("")),
            ],
        )?;
        let again = install_from(&target.join("debug"), prefix.clone(), Some(stage.clone()))?;
        if again.changes() != 0 {
            return Err(format!("a second install changed {:?}", again.lines));
        }
        eprintln!(
            "xtask: installed {} files into {}; the installed phoenix validates; a second install changes nothing",
            report.changes(),
            stage.display()
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// A `.deb` of the installation: the tree `install` stages, the example configuration as
/// conffiles, `dpkg-deb --root-owner-group --build`.
fn dist() -> Result<(), String> {
    let bin_dir = build_release()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let out = target.join("dist");
    let stage = out.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    let prefix = PathBuf::from(phoenix_paths::DEFAULT_ROOT);
    install_from(&bin_dir, prefix.clone(), Some(stage.clone()))?;
    let version = env!("CARGO_PKG_VERSION");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let conffiles: Vec<String> = install::listing(
        &stage
            .join(prefix.strip_prefix("/").unwrap_or(&prefix))
            .join("etc"),
    )
    .into_iter()
    .filter_map(|l| l.split_once(' ').map(|(_, p)| p.to_string()))
    .filter(|p| {
        p.ends_with(".json") && !p.ends_with(".schema.json") || p.starts_with("cloud-init/")
    })
    .map(|p| format!("{}/etc/{p}", prefix.display()))
    .collect();
    write(
        &stage.join("DEBIAN/conffiles"),
        &(conffiles.join("\n") + "\n"),
    )?;
    write(
        &stage.join("DEBIAN/control"),
        &format!(
            "Package: phoenix-hypervisor\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Phoenix Hypervisor maintainers\nSection: admin\nPriority: optional\nDepends: libc6\nRecommends: proxmox-ve\nDescription: declarative orchestrator for a Proxmox VE host running AI workloads\n Converges ZFS, storage, LXC containers, VMs, GPU passthrough, firewall, in-guest\n installers and Docker stacks (through Portainer) to four JSON files.\n"
        ),
    )?;
    let deb = out.join(format!("phoenix-hypervisor_{version}_{arch}.deb"));
    run(
        "dpkg-deb",
        &[
            OsStr::new("--root-owner-group"),
            OsStr::new("--build"),
            stage.as_os_str(),
            deb.as_os_str(),
        ],
        &[],
    )
    .map_err(|e| format!("{e}\nhint: dpkg-deb comes with Debian's dpkg package"))?;
    println!("{}", deb.display());
    Ok(())
}

/// Starts a long-running command (the demo's `portainer-sim`); the caller kills it.
#[allow(clippy::disallowed_methods)]
fn spawn(
    program: &str,
    args: &[&OsStr],
    envs: &[(&str, &OsStr)],
) -> Result<std::process::Child, String> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    eprintln!("$ {program} {} &", shown.join(" "));
    std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(project_root())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))
}

/// Kills a background process when dropped.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The containers of `etc/phoenix_lxc_configs.json` and the VMs of
/// `etc/phoenix_vm_configs.json`, every feature and application script they name, and the
/// cloud images the VM templates are built from.
struct Estate {
    ids: Vec<String>,
    features: Vec<String>,
    apps: Vec<String>,
    vm_features: Vec<String>,
    images: Vec<String>,
}

fn estate(root: &Path) -> Result<Estate, String> {
    let path = root.join("etc/phoenix_lxc_configs.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut ids = Vec::new();
    let mut features = Vec::new();
    let mut apps = Vec::new();
    for (id, c) in v["lxc_configs"].as_object().into_iter().flatten() {
        ids.push(id.clone());
        for f in c["features"].as_array().into_iter().flatten() {
            features.extend(f.as_str().map(str::to_string));
        }
        apps.extend(c["application_script"].as_str().map(str::to_string));
    }
    features.sort();
    features.dedup();
    let path = root.join("etc/phoenix_vm_configs.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut vm_features = Vec::new();
    let mut images = Vec::new();
    for vm in v["vms"].as_array().into_iter().flatten() {
        ids.extend(vm["vmid"].as_u64().map(|n| n.to_string()));
        for f in vm["features"].as_array().into_iter().flatten() {
            vm_features.extend(f.as_str().map(str::to_string));
        }
        images.extend(vm["template_image"].as_str().map(str::to_string));
    }
    vm_features.sort();
    vm_features.dedup();
    Ok(Estate {
        ids,
        features,
        apps,
        vm_features,
        images,
    })
}

fn refs(v: &[std::ffi::OsString]) -> Vec<&OsStr> {
    v.iter().map(|a| a.as_os_str()).collect()
}

/// Writes a secret, readable by its owner only.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for e in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()))?;
        } else {
            std::fs::copy(&p, to.join(e.file_name()))
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(())
}

/// Validates the example estate, brings up a simulated Proxmox host with the disks it
/// describes, installs phoenix on it (with stand-in installers until `setup-scripts/` has the
/// real ones), converges the host with `phoenix setup` (twice: the second run changes
/// nothing), creates every guest through `phoenix`, shows their status, and converges again
/// to show that a converged host plans nothing.
fn demo_steps(root: &Path, scratch: &Path) -> Result<(), String> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = |name: &str| {
        target
            .join("debug")
            .join(name)
            .to_string_lossy()
            .into_owned()
    };
    let sysroot = scratch.join("host");
    let install = scratch.join("phoenix");
    let tools = sysroot.join("bin");
    copy_dir(&root.join("etc"), &install.join("etc"))?;
    copy_dir(&root.join("stacks"), &install.join("stacks"))?;
    let Estate {
        ids,
        features,
        apps,
        vm_features,
        images,
    } = estate(root)?;
    // The simulator interprets simple commands, not real installers (those are tested on
    // stub tools by setup-scripts/tests/): the demo's guests get stand-ins.
    for f in &vm_features {
        let body = format!(
            "#!/bin/bash\nset -euo pipefail\necho \"demo stand-in for the {f} VM installer\"\n"
        );
        write(&install.join(format!("setup-scripts/vm/{f}.sh")), &body)?;
    }
    for f in &features {
        // The Traefik stand-in leaves the directory Traefik's file provider watches.
        let extra = if f == "traefik" {
            "mkdir -p /etc/traefik/dynamic\n"
        } else {
            ""
        };
        let body = format!(
            "#!/bin/bash\nset -euo pipefail\necho \"demo stand-in for the {f} installer\"\n{extra}"
        );
        write(&install.join(format!("setup-scripts/lxc/{f}.sh")), &body)?;
    }
    for a in &apps {
        // The gateway's stand-in leaves the directory nginx's sites are linked from.
        let extra = if a.contains("101") {
            "mkdir -p /etc/nginx/sites-enabled\n"
        } else {
            ""
        };
        write(
            &install.join(format!("setup-scripts/apps/{a}")),
            &format!("#!/bin/bash\nset -euo pipefail\necho \"demo stand-in for {a}\"\n{extra}"),
        )?;
    }
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let envs = [
        (phoenix_paths::ENV_ROOT, install.as_os_str()),
        (phoenix_paths::ENV_SYSROOT, sysroot.as_os_str()),
        ("PATH", OsStr::new(&path)),
        ("PVE_SIM_STRICT", OsStr::new("1")),
    ];
    let cli = bin(phoenix_paths::binaries::CLI);
    let log = scratch.join("phoenix.log");
    let with_log = |args: &[&str]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        v.push("--log-file".into());
        v.push(log.clone().into_os_string());
        v
    };
    run(&cli, &refs(&with_log(&["validate"])), &envs)?;
    let sim = bin("pve-sim");
    run(
        &sim,
        &os(&["init", "--from-config", "etc", "--bare", "--gpus", "1"]),
        &envs,
    )?;
    run(&sim, &[OsStr::new("install"), tools.as_os_str()], &envs)?;
    // The secrets the example configuration names (an operator writes them once, mode 0600).
    for (file, text) in [
        (
            "etc/phoenix_hypervisor/secrets/admin_password.hash",
            // A crypt(3)-shaped stand-in (no known password); make yours with `mkpasswd -m yescrypt`.
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7\n",
        ),
        (
            "etc/phoenix_hypervisor/secrets/samba_password",
            "demo samba password\n",
        ),
    ] {
        write_secret(&sysroot.join(file), text)?;
    }
    // `setup` gets only the simulator's tools: nothing on this machine is touched.
    let setup_envs = [envs[0], envs[1], ("PATH", tools.as_os_str()), envs[3]];
    run(&cli, &refs(&with_log(&["setup"])), &setup_envs)?;
    run(&cli, &refs(&with_log(&["setup", "-q"])), &setup_envs)?;
    // The cloud images VM templates are built from: a simulator disk image stands in for the
    // download an operator makes once (see README).
    for img in &images {
        write(
            &sysroot.join(format!("var/lib/vz/template/iso/{img}")),
            "pve-sim disk image, virtual size 3758096384\n",
        )?;
    }
    run(&sim, &os(&["pvesm", "status"]), &envs)?;
    // Portainer on loopback (portainer-sim), with what the CA and the operator leave on the
    // host; LetsGo syncs after the tiers that ask for it.
    let (server, addr) = portainer(root, scratch, &setup_envs)?;
    let mut with_sim: Vec<(&str, &OsStr)> = envs.to_vec();
    with_sim.push(("PHOENIX_PORTAINER_CONNECT", OsStr::new(&addr)));
    let audit = sysroot.join("var/lib/pve-sim/audit.jsonl");
    let before = audit_lines(&audit).len();
    run(&cli, &refs(&with_log(&["LetsGo"])), &with_sim)?;
    let entries: Vec<serde_json::Value> = audit_lines(&audit).into_iter().skip(before).collect();
    let validate = capture_env(
        Path::new(&cli),
        &[
            "validate",
            "--output",
            "json",
            "--log-file",
            &log.to_string_lossy(),
        ],
        &envs,
    )?;
    print!("{}", simulated_report(&validate, &entries)?);
    let mut status = vec!["status"];
    status.extend(ids.iter().map(String::as_str));
    run(&cli, &refs(&with_log(&status)), &envs)?;
    run(&sim, &os(&["state"]), &envs)?;
    // Again: a converged estate changes nothing.
    let before = audit_lines(&audit).len();
    run(&cli, &refs(&with_log(&["LetsGo", "-q"])), &with_sim)?;
    let again: Vec<serde_json::Value> = audit_lines(&audit).into_iter().skip(before).collect();
    drop(server);
    let changes: Vec<String> = again
        .iter()
        .filter(|e| e["effect"] == "mutate")
        .map(|e| format!("{} {}", e["tool"].as_str().unwrap_or("?"), e["argv"]))
        .collect();
    println!(
        "\nsecond LetsGo: {} tool calls, {} changes",
        again.len(),
        changes.len()
    );
    println!(
        "\nnote: the guests' installers, application scripts and health checks in this demo are\n\
         one-line stand-ins (the simulator interprets simple commands, not real installers).\n\
         The real setup-scripts/ run against stub tools in setup-scripts/tests/ (cargo xtask ci),\n\
         and what they and the managers write is checked by the real validators in cargo test\n\
         (nginx -t, dnsmasq --test, testparm, visudo, apparmor_parser, systemd-analyze,\n\
         logrotate, cloud-init's, Traefik's and Compose's schemas). They run for real, in real\n\
         Debian guests (containers and VMs, with real cloud-init and guest agent) booted by the\n\
         simulator, in cargo xtask e2e (root, systemd-nspawn, Debian's archive)."
    );
    if !changes.is_empty() {
        return Err(format!(
            "the second LetsGo changed the host:\n{}",
            changes.join("\n")
        ));
    }
    run(&sim, &os(&["audit", "--summary"]), &envs)
}

/// The simulator's audit log, one JSON value per call.
fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

type Ids<T> = std::collections::BTreeMap<u64, T>;

/// Simulated seconds per guest (from the audit log) and the critical path through the
/// dependency graph (`validate --output json`: clone sources and dependencies).
fn simulated_report(validate: &[u8], entries: &[serde_json::Value]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(validate).map_err(|e| e.to_string())?;
    let mut secs: Ids<f64> = Ids::new();
    for e in entries {
        if let Some(g) = e["guest"].as_u64() {
            *secs.entry(g).or_default() += e["secs"].as_f64().unwrap_or(0.0);
        }
    }
    let mut deps: Ids<Vec<u64>> = Ids::new();
    for g in v["guests"].as_array().into_iter().flatten() {
        let Some(id) = g["id"].as_u64() else {
            continue;
        };
        let mut d: Vec<u64> = g["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_u64)
            .collect();
        d.extend(g["clone_from"].as_u64());
        deps.insert(id, d);
    }
    // Container clones hold their source's `lock: disk` for the copy (pve-container
    // `clone_vm`); VM clones of a template share its lock (qemu-server `clone_vm`).
    let mut holds: Holds = Ids::new();
    for e in entries {
        if e["tool"] == "pct" && e["argv"][0] == "clone" && e["exit"] == 0 {
            let source = e["argv"][1].as_str().and_then(|s| s.parse().ok());
            if let (Some(g), Some(source)) = (e["guest"].as_u64(), source) {
                holds.insert(g, (source, e["secs"].as_f64().unwrap_or(0.0)));
            }
        }
    }
    let (total, path) = critical_path(&deps, &secs);
    let locked = critical_path_locked(&deps, &secs, &holds);
    let mut out = String::from("\nsimulated time per guest (Proxmox operations):\n");
    for (g, s) in &secs {
        out.push_str(&format!("  {g:<6} {s:>8.1} s\n"));
    }
    let shown: Vec<String> = path.iter().map(u64::to_string).collect();
    out.push_str(&format!(
        "critical path: {} ({total:.1} s simulated; {locked:.1} s under Proxmox's clone locks; {:.1} s for every guest one after another)\n",
        shown.join(" -> "),
        secs.values().sum::<f64>()
    ));
    Ok(out)
}

/// Guests whose creation copies a source under an exclusive lock: guest → (source, seconds
/// of the copy).
type Holds = Ids<(u64, f64)>;

/// The shortest time to build every guest with unlimited jobs under Proxmox's clone locks
/// (pure; a greedy schedule, so an upper bound on the true optimum and a lower bound on any
/// real run): a guest starts when what it needs is done, and a guest in `holds` first copies
/// its source while holding that source's lock, so copies of one source run one after
/// another. Among guests that could start, the earliest goes first, then the one with the
/// longest chain of work after it.
fn critical_path_locked(deps: &Ids<Vec<u64>>, secs: &Ids<f64>, holds: &Holds) -> f64 {
    let all: std::collections::BTreeSet<u64> = deps.keys().chain(secs.keys()).copied().collect();
    let cost = |g: u64| secs.get(&g).copied().unwrap_or(0.0);
    // Longest chain of work from each guest to the end (itself included).
    let mut tail: Ids<f64> = Ids::new();
    let dependents = |g: u64| {
        all.iter()
            .copied()
            .filter(move |d| deps.get(d).is_some_and(|v| v.contains(&g)))
    };
    fn tail_of(
        g: u64,
        cost: &dyn Fn(u64) -> f64,
        dependents: &dyn Fn(u64) -> Vec<u64>,
        memo: &mut Ids<f64>,
        depth: usize,
    ) -> f64 {
        if let Some(t) = memo.get(&g) {
            return *t;
        }
        let after = if depth < 64 {
            dependents(g)
                .into_iter()
                .map(|d| tail_of(d, cost, dependents, memo, depth + 1))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        let t = cost(g) + after;
        memo.insert(g, t);
        t
    }
    let dep_list = |g: u64| dependents(g).collect::<Vec<_>>();
    for g in &all {
        tail_of(*g, &cost, &dep_list, &mut tail, 0);
    }
    let mut finish: Ids<f64> = Ids::new();
    let mut lock_free: Ids<f64> = Ids::new();
    while finish.len() < all.len() {
        let next = all
            .iter()
            .copied()
            .filter(|g| !finish.contains_key(g))
            .filter(|g| {
                deps.get(g)
                    .into_iter()
                    .flatten()
                    .all(|d| finish.contains_key(d) || !all.contains(d))
            })
            .map(|g| {
                let ready = deps
                    .get(&g)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| finish.get(d))
                    .fold(0.0, |a: f64, b| a.max(*b));
                let start = match holds.get(&g) {
                    Some((s, _)) => ready.max(lock_free.get(s).copied().unwrap_or(0.0)),
                    None => ready,
                };
                (g, start)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(tail[&b.0].total_cmp(&tail[&a.0])));
        let Some((g, start)) = next else {
            break; // a cycle: validate refuses those
        };
        if let Some((s, copy)) = holds.get(&g) {
            lock_free.insert(*s, start + copy);
        }
        finish.insert(g, start + cost(g));
    }
    finish.values().fold(0.0, |a: f64, b| a.max(*b))
}

/// The longest chain of guests, each after what it needs (pure): `(seconds, chain)`, the
/// chain starting with the guest built first.
fn critical_path(deps: &Ids<Vec<u64>>, secs: &Ids<f64>) -> (f64, Vec<u64>) {
    fn finish(
        g: u64,
        deps: &Ids<Vec<u64>>,
        secs: &Ids<f64>,
        memo: &mut Ids<(f64, Vec<u64>)>,
        depth: usize,
    ) -> (f64, Vec<u64>) {
        if let Some(m) = memo.get(&g) {
            return m.clone();
        }
        let mut best: (f64, Vec<u64>) = (0.0, Vec::new());
        if depth < 64 {
            for d in deps.get(&g).into_iter().flatten() {
                let f = finish(*d, deps, secs, memo, depth + 1);
                if best.1.is_empty() || f.0 > best.0 {
                    best = f;
                }
            }
        }
        let mut chain = best.1;
        chain.push(g);
        let r = (best.0 + secs.get(&g).copied().unwrap_or(0.0), chain);
        memo.insert(g, r.clone());
        r
    }
    let mut memo = Ids::new();
    let mut best: (f64, Vec<u64>) = (0.0, Vec::new());
    for g in deps.keys().chain(secs.keys()) {
        let f = finish(*g, deps, secs, &mut memo, 0);
        if f.0 > best.0 {
            best = f;
        }
    }
    best
}

/// Starts `portainer-sim` on loopback, serving the example's Portainer host name over TLS
/// with a test CA that stands in for Step-CA's root, and leaves on the host what the CA
/// container and the operator would: returns the server (stopped when dropped) and its
/// address.
fn portainer(
    root: &Path,
    scratch: &Path,
    envs: &[(&str, &OsStr)],
) -> Result<(Background, String), String> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let psim = target
        .join("debug/portainer-sim")
        .to_string_lossy()
        .into_owned();
    let host: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("etc/phoenix_hypervisor_config.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let field = |a: &str, b: &str| {
        host[a][b]
            .as_str()
            .map(|s| s.trim_start_matches('/').to_string())
            .ok_or(format!("the example has no {a}.{b}"))
    };
    let sysroot = scratch.join("host");
    let certs = scratch.join("portainer-certs");
    let name = host["portainer_api"]["portainer_hostname"]
        .as_str()
        .unwrap_or("portainer.lab.example.internal");
    run(
        &psim,
        &[
            OsStr::new("gen-cert"),
            OsStr::new("--dir"),
            certs.as_os_str(),
            OsStr::new("--host"),
            OsStr::new(name),
        ],
        envs,
    )?;
    // What the CA container and the operator leave on the host: the CA's root and the
    // provisioner's password (in the CA's directory), Portainer's admin password.
    let root_ca = sysroot.join(field("step_ca", "root_ca_file")?);
    let ca = std::fs::read_to_string(certs.join("ca.crt")).map_err(|e| e.to_string())?;
    write(&root_ca, &ca)?;
    if let Some(dir) = root_ca.parent() {
        write_secret(
            &dir.join("provisioner_password.txt"),
            "demo provisioner password\n",
        )?;
    }
    write_secret(
        &sysroot.join(field("portainer_api", "admin_password_file")?),
        "demo portainer password\n",
    )?;
    // Smallstep's step CLI, which an operator installs from Smallstep's repository.
    let apt = sysroot.join("bin/apt-get").to_string_lossy().into_owned();
    run(&apt, &os(&["install", "-y", "-q", "step-cli"]), envs)?;
    let port_file = scratch.join("portainer-sim.addr");
    let server = Background(spawn(
        &psim,
        &[
            OsStr::new("serve"),
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
            OsStr::new("--tls-cert"),
            certs.join("server.crt").as_os_str(),
            OsStr::new("--tls-key"),
            certs.join("server.key").as_os_str(),
            OsStr::new("--port-file"),
            port_file.as_os_str(),
        ],
        envs,
    )?);
    let mut addr = String::new();
    for _ in 0..100 {
        addr = std::fs::read_to_string(&port_file)
            .unwrap_or_default()
            .trim()
            .to_string();
        if !addr.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if addr.is_empty() {
        return Err("portainer-sim did not start".into());
    }
    Ok((server, addr))
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    #[test]
    fn the_critical_path_is_the_slowest_chain() {
        let deps: Ids<Vec<u64>> = [
            (900, vec![]),
            (901, vec![900]),
            (950, vec![901, 103]),
            (103, vec![900]),
            (102, vec![103]),
        ]
        .into_iter()
        .collect();
        let secs: Ids<f64> = [
            (900, 10.0),
            (901, 30.0),
            (950, 5.0),
            (103, 20.0),
            (102, 1.0),
        ]
        .into_iter()
        .collect();
        assert_eq!(critical_path(&deps, &secs), (45.0, vec![900, 901, 950]));
        assert_eq!(critical_path(&Ids::new(), &Ids::new()), (0.0, vec![]));
        // Without locks the bound is the chain.
        assert_eq!(critical_path_locked(&deps, &secs, &Holds::new()), 45.0);
    }

    /// Three clones of one container copy it one after another (pve-container `clone_vm`
    /// `lock: disk`); the one with the longest work after it goes first.
    #[test]
    fn clones_of_one_container_copy_one_after_another() {
        let deps: Ids<Vec<u64>> = [
            (900, vec![]),
            (101, vec![900]),
            (102, vec![900]),
            (103, vec![900]),
            (950, vec![103]),
        ]
        .into_iter()
        .collect();
        let secs: Ids<f64> = [(900, 10.0), (101, 5.0), (102, 5.0), (103, 5.0), (950, 20.0)]
            .into_iter()
            .collect();
        let holds: Holds = [(101, (900, 4.0)), (102, (900, 4.0)), (103, (900, 4.0))]
            .into_iter()
            .collect();
        // 103 (tail 25) copies first: 10..14, done 15, then 950 15..35; the others copy
        // 14..18 and 18..22.
        assert_eq!(critical_path_locked(&deps, &secs, &holds), 35.0);
        // Were the copies 10 s each, the last one would end the run: 10 + 3 × 10 + 1.
        let long: Holds = holds.iter().map(|(g, (s, _))| (*g, (*s, 10.0))).collect();
        let secs: Ids<f64> = secs
            .iter()
            .map(|(g, t)| (*g, if long.contains_key(g) { 11.0 } else { *t }))
            .collect();
        assert_eq!(critical_path_locked(&deps, &secs, &long), 41.0);
    }
}
