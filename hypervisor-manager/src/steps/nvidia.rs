//! NVIDIA: the host driver containers share their GPUs through, the unit that creates the
//! device nodes at boot, and VFIO for GPUs passed to VMs.
//!
//! - The driver is installed from `nvidia_driver.runfile_url` only when GPUs are present,
//!   `install` is true and the installed module (`modinfo -F version nvidia`) is not the
//!   configured version. The runfile is downloaded over HTTPS into a cache, checked against
//!   `runfile_sha256` when given (a mismatch deletes it and fails; without a checksum the plan
//!   says so and prints the hash to pin), and run with `--dkms` so the module is rebuilt
//!   for every new kernel (the shell version's `--no-dkms` broke on each kernel update).
//!   Prerequisites (DKMS, the running kernel's headers) are installed first, nouveau is
//!   blacklisted. A driver from Debian's packages is not replaced: the step fails and says
//!   how to remove it (the shell version purged every `*nvidia*` package).
//! - The host is never rebooted: the step reports `reboot required` until the loaded
//!   driver (`/proc/driver/nvidia/version`) is the configured one.
//! - `nvidia-gpu-init.service` runs `nvidia-smi` and `nvidia-modprobe` before guests start,
//!   so `/dev/nvidia*` exist for containers; it is started when the driver is loaded and the
//!   nodes are missing.
//! - `vfio.enabled` binds `vfio.pci_ids` to `vfio-pci` at boot (phoenix's own
//!   `modprobe.d`/`modules-load.d` files, the initramfs rebuilt, `reboot required`);
//!   disabling it removes those files.

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::config::formats;
use phoenix_core::converge::{Change, Op};
use phoenix_core::host::{apt, systemd};

use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::report::Outcome;
use phoenix_core::step::{Ctx, HostAction, SetupStep, StepPlan};

/// What the loaded kernel module reports.
pub const PROC_VERSION: &str = "/proc/driver/nvidia/version";
/// Where downloaded runfiles are kept.
pub const CACHE_DIR: &str = "/var/cache/phoenix_hypervisor/nvidia";
/// The nouveau blacklist.
pub const BLACKLIST: &str = "/etc/modprobe.d/phoenix-blacklist-nouveau.conf";
/// The device-node unit.
pub const GPU_INIT_UNIT: &str = "nvidia-gpu-init.service";
/// Its file.
pub const GPU_INIT: &str = "/etc/systemd/system/nvidia-gpu-init.service";
/// VFIO module options.
pub const VFIO_MODPROBE: &str = "/etc/modprobe.d/phoenix-vfio.conf";
/// VFIO modules loaded at boot.
pub const VFIO_MODULES: &str = "/etc/modules-load.d/phoenix-vfio.conf";
/// Debian's packaged driver, which a runfile must not be installed over.
pub const DEBIAN_DRIVER: [&str; 2] = ["nvidia-driver", "nvidia-kernel-dkms"];
/// The runfile's options: no questions, DKMS, no X or OpenGL on a headless host.
pub const RUNFILE_ARGS: [&str; 7] = [
    "--silent",
    "--accept-license",
    "--no-questions",
    "--dkms",
    "--no-x-check",
    "--no-nouveau-check",
    "--no-opengl-files",
];

/// What the nvidia step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// A common host action.
    Host(HostAction),
    /// Check the downloaded runfile's SHA-256 (deleting it on a mismatch).
    Verify {
        /// Host path.
        path: String,
        /// Expected hash, when configured.
        sha256: Option<String>,
    },
    /// Run the runfile.
    Install {
        /// Host path.
        path: String,
    },
}

/// The step.
pub struct Nvidia;

/// NVIDIA display controllers in `lspci -Dnn` output (pure): `(address, vendor:device)`.
pub fn nvidia_gpus(lspci: &str) -> Vec<(String, String)> {
    lspci
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(' ')?;
            let class = rest.split_once("[")?.1.split_once(']')?.0;
            let id = rest.rsplit_once('[')?.1.split_once(']')?.0;
            (class.starts_with("03") && id.starts_with("10de:"))
                .then(|| (addr.to_string(), id.to_string()))
        })
        .collect()
}

/// Each PCI device's address, `vendor:device` ID and driver in `lspci -Dnnk` output (pure).
pub fn pci_drivers(lspci: &str) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    for l in lspci.lines() {
        if let Some(d) = l.trim_start().strip_prefix("Kernel driver in use:") {
            if l.starts_with(char::is_whitespace) {
                if let Some(last) = out.last_mut() {
                    last.2 = Some(d.trim().to_string());
                }
            }
            continue;
        }
        if l.starts_with(char::is_whitespace) {
            continue;
        }
        let Some((addr, rest)) = l.split_once(' ') else {
            continue;
        };
        if let Some(id) = rest
            .rsplit_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(i, _)| i)
        {
            out.push((addr.to_string(), id.to_ascii_lowercase(), None));
        }
    }
    out
}

/// The version in `/proc/driver/nvidia/version` (pure).
pub fn loaded_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|w| {
            w.split('.').count() >= 2
                && w.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// The nouveau blacklist (pure).
pub fn blacklist() -> String {
    "# Managed by phoenix hypervisor-manager (setup --step nvidia): the host uses NVIDIA's driver.\nblacklist nouveau\noptions nouveau modeset=0\n".to_string()
}

/// The unit that creates the device nodes before guests start (pure).
pub fn gpu_init_unit() -> String {
    "# Managed by phoenix hypervisor-manager (setup --step nvidia); edits are overwritten.\n\
     [Unit]\n\
     Description=NVIDIA GPU initialisation (device nodes for containers)\n\
     After=systemd-modules-load.service\n\
     Before=pve-guests.service\n\
     \n\
     [Service]\n\
     Type=oneshot\n\
     ExecStart=/usr/bin/nvidia-smi\n\
     ExecStart=/usr/bin/nvidia-modprobe -c0 -u\n\
     RemainAfterExit=yes\n\
     \n\
     [Install]\n\
     WantedBy=multi-user.target\n"
        .to_string()
}

/// The VFIO files for `ids` (pure; the IDs were checked when the configuration loaded):
/// modules to load, and the options binding the devices (loaded before the NVIDIA driver,
/// so it does not take them).
pub fn vfio_files(ids: &[String]) -> (String, String) {
    let head =
        "# Managed by phoenix hypervisor-manager (setup --step nvidia); edits are overwritten.\n";
    let modules = format!("{head}vfio\nvfio_iommu_type1\nvfio_pci\n");
    let ids: Vec<String> = ids.iter().map(|i| i.to_ascii_lowercase()).collect();
    let modprobe = format!(
        "{head}options vfio-pci ids={}\nsoftdep nvidia pre: vfio-pci\nsoftdep nouveau pre: vfio-pci\n",
        ids.join(",")
    );
    (modules, modprobe)
}

fn plan_vfio(ctx: &Ctx<'_>, lspci: &str, p: &mut StepPlan<HostAction>) -> anyhow::Result<bool> {
    let v = ctx.cfg.host.vfio.as_ref();
    let mut changed = false;
    if v.and_then(|v| v.enabled) == Some(true) {
        let ids = v.map(|v| v.pci_ids.clone()).unwrap_or_default();
        let (modules, modprobe) = vfio_files(&ids);
        changed |= files::plan(ctx, Managed::new("vfio", VFIO_MODULES, modules, 0o644), p)?;
        changed |= files::plan(ctx, Managed::new("vfio", VFIO_MODPROBE, modprobe, 0o644), p)?;
        let devices = pci_drivers(lspci);
        for id in &ids {
            let id = id.to_ascii_lowercase();
            let found: Vec<_> = devices.iter().filter(|(_, i, _)| *i == id).collect();
            if found.is_empty() {
                p.note("vfio", format!("no PCI device {id} on this host"));
            }
            for (addr, _, drv) in found {
                if drv.as_deref() != Some("vfio-pci") && p.reboot.is_none() {
                    p.reboot = Some(format!(
                        "{addr} ({id}) is bound to {}; vfio-pci takes it at the next boot",
                        drv.as_deref().unwrap_or("no driver")
                    ));
                }
            }
        }
    } else {
        changed |= files::plan_absent(ctx, "vfio", VFIO_MODULES, "vfio is not enabled", p);
        changed |= files::plan_absent(ctx, "vfio", VFIO_MODPROBE, "vfio is not enabled", p);
    }
    if changed {
        p.push(
            Change::new(Op::Run, "vfio", "update-initramfs -u -k all"),
            HostAction::Run(Cmd::mutate("update-initramfs").args(["-u", "-k", "all"])),
        );
        p.note(
            "vfio",
            "IOMMU must be on in the firmware (and intel_iommu=on on kernels before 6.8)",
        );
        p.reboot
            .get_or_insert_with(|| "VFIO bindings change at the next boot".into());
    }
    Ok(changed)
}

fn host_plan(p: StepPlan<HostAction>) -> StepPlan<Action> {
    StepPlan {
        changes: p.changes,
        actions: p.actions.into_iter().map(Action::Host).collect(),
        reboot: p.reboot,
    }
}

impl SetupStep for Nvidia {
    type Action = Action;

    fn name(&self) -> &'static str {
        "nvidia"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<Action>> {
        let r = ctx.runner;
        let lspci = r
            .run(&Cmd::read("lspci").arg("-Dnnk"))
            .context("cannot list PCI devices")?
            .stdout_str();
        let mut hp = StepPlan::default();
        plan_vfio(ctx, &lspci, &mut hp)?;
        let cfg = &ctx.cfg.host.nvidia_driver;
        if cfg.install != Some(true) {
            hp.note(
                "driver",
                "nvidia_driver.install is not true: the driver is not managed",
            );
            return Ok(host_plan(hp));
        }
        let gpus = nvidia_gpus(&lspci);
        if gpus.is_empty() {
            hp.note("driver", "no NVIDIA GPU on the PCI bus: nothing to install");
            return Ok(host_plan(hp));
        }
        let want = cfg
            .version
            .as_deref()
            .filter(|v| !v.is_empty())
            .context("nvidia_driver.version is required when nvidia_driver.install is true")?;
        let url = cfg
            .runfile_url
            .as_deref()
            .context("nvidia_driver.runfile_url is required when nvidia_driver.install is true")?;
        let name = formats::runfile_url(url).map_err(anyhow::Error::msg)?;
        let installed = r
            .run(
                &Cmd::read("modinfo")
                    .args(["-F", "version", "nvidia"])
                    .ok_codes(&[0, 1]),
            )
            .context("cannot ask modinfo for the NVIDIA module")?;
        let installed = (installed.code == Some(0))
            .then(|| installed.stdout_str().trim().to_string())
            .filter(|v| !v.is_empty());
        let loaded = ctx.read(PROC_VERSION)?.as_deref().and_then(loaded_version);
        let mut extra: Vec<Action> = Vec::new();
        let mut extra_changes: Vec<Change> = Vec::new();
        if installed.as_deref() != Some(want) {
            let debian = apt::installed(r, &DEBIAN_DRIVER)?;
            if !debian.is_empty() {
                let pkgs: Vec<&str> = debian.keys().map(String::as_str).collect();
                bail!(
                    "the NVIDIA driver on this host comes from Debian packages ({}); phoenix installs {want} from NVIDIA's runfile and does not remove packages: run `apt-get purge {}` and reboot, or set nvidia_driver.install to false",
                    pkgs.join(", "),
                    pkgs.join(" ")
                );
            }
            if files::plan(
                ctx,
                Managed::new("driver", BLACKLIST, blacklist(), 0o644),
                &mut hp,
            )? {
                hp.push(
                    Change::new(Op::Run, "driver", "update-initramfs -u"),
                    HostAction::Run(Cmd::mutate("update-initramfs").arg("-u")),
                );
            }
            let kernel = r
                .run(&Cmd::read("uname").arg("-r"))
                .context("cannot read the kernel version")?
                .stdout_str()
                .trim()
                .to_string();
            let headers = [
                format!("proxmox-headers-{kernel}"),
                format!("pve-headers-{kernel}"),
            ];
            let mut need: Vec<String> = ["dkms", "build-essential", "pkg-config"]
                .map(String::from)
                .to_vec();
            need.extend(headers.iter().cloned());
            let have = apt::installed(r, &need)?;
            let mut missing: Vec<String> = ["dkms", "build-essential", "pkg-config"]
                .iter()
                .filter(|n| !have.contains_key(**n))
                .map(|n| n.to_string())
                .collect();
            if !headers.iter().any(|h| have.contains_key(h)) {
                missing.push(headers[0].clone());
            }
            if !missing.is_empty() {
                hp.line(Change::new(
                    Op::Add,
                    "driver",
                    format!("packages {}", missing.join(" ")),
                ));
                hp.actions
                    .extend(apt::install_cmds(&missing).into_iter().map(HostAction::Run));
            }
            let path = format!("{CACHE_DIR}/{name}");
            // The runfile is hundreds of MiB: hashed as a stream, never held in memory.
            let cached = phoenix_core::files::sha256_file(ctx.layout.host(&path)).ok();
            let good = match (&cached, cfg.runfile_sha256.as_deref()) {
                (Some(h), Some(s)) => h.eq_ignore_ascii_case(s),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !good {
                let file = ctx.layout.host(&path);
                hp.push(
                    Change::new(Op::Add, "driver", format!("download {name}")).to(path.clone()),
                    HostAction::Dir {
                        path: CACHE_DIR.into(),
                        mode: 0o700,
                        owner: None,
                    },
                );
                hp.actions.push(HostAction::Run(
                    Cmd::mutate("curl")
                        .args([
                            "--fail",
                            "--silent",
                            "--show-error",
                            "--location",
                            "--proto",
                            "=https",
                            "--output",
                        ])
                        .arg(&file)
                        .arg(url),
                ));
            }
            if cfg.runfile_sha256.is_none() {
                let known = cached
                    .as_deref()
                    .map(|h| format!(" (the cached file's is {h})"))
                    .unwrap_or_default();
                hp.note(
                    "driver",
                    format!("nvidia_driver.runfile_sha256 is not set: {name} is trusted for coming over HTTPS; pin its SHA-256{known}"),
                );
            }
            extra.push(Action::Verify {
                path: path.clone(),
                sha256: cfg.runfile_sha256.clone(),
            });
            extra_changes.push(
                Change::new(Op::Run, "driver", format!("install NVIDIA driver {want}"))
                    .from(installed.clone().unwrap_or_else(|| "none".into())),
            );
            extra.push(Action::Install { path });
            hp.reboot = Some(format!("the NVIDIA driver {want} loads at the next boot"));
        } else if loaded.as_deref() != Some(want) {
            hp.reboot = Some(format!(
                "the NVIDIA driver {want} is installed but {} is loaded",
                loaded.as_deref().unwrap_or("none")
            ));
        }
        // The device-node unit.
        let unit_changed = files::plan(
            ctx,
            Managed::new("devices", GPU_INIT, gpu_init_unit(), 0o644),
            &mut hp,
        )?;
        let mut after: Vec<(Change, HostAction)> = Vec::new();
        if unit_changed {
            after.push((
                Change::new(Op::Run, "devices", "systemctl daemon-reload"),
                HostAction::Run(systemd::daemon_reload()),
            ));
        }
        let unit = systemd::state(r, GPU_INIT_UNIT)?;
        if !unit.enabled {
            let c = systemd::cmd("enable", GPU_INIT_UNIT);
            after.push((
                Change::new(Op::Run, "devices", c.to_string()),
                HostAction::Run(c),
            ));
        }
        let nodes = ctx.layout.host("/dev/nvidia-uvm").exists()
            && ctx.layout.host("/dev/nvidiactl").exists();
        if loaded.as_deref() == Some(want) && (!unit.active || !nodes) {
            let verb = if unit.active { "restart" } else { "start" };
            let c = systemd::cmd(verb, GPU_INIT_UNIT);
            after.push((
                Change::new(Op::Run, "devices", c.to_string()).to("create the device nodes"),
                HostAction::Run(c),
            ));
        }
        let mut p = host_plan(hp);
        p.changes.extend(extra_changes);
        p.actions.extend(extra);
        for (c, a) in after {
            p.push(c, Action::Host(a));
        }
        Ok(p)
    }

    fn apply(&self, ctx: &Ctx<'_>, actions: Vec<Action>) -> anyhow::Result<Outcome> {
        for a in actions {
            match a {
                Action::Host(h) => phoenix_core::step::apply_actions(ctx, vec![h])?,
                Action::Verify { path, sha256 } => {
                    let file = ctx.layout.host(&path);
                    let got = phoenix_core::files::sha256_file(&file).with_context(|| {
                        format!("cannot read the downloaded {}", file.display())
                    })?;
                    match sha256 {
                        Some(want) if !got.eq_ignore_ascii_case(&want) => {
                            ctx.runner.remove_file(&file)?;
                            bail!(
                                "{path}: SHA-256 {got} is not nvidia_driver.runfile_sha256 {want}; the file was deleted and nothing was installed"
                            );
                        }
                        Some(_) => {}
                        None => tracing::warn!(
                            "{path} is not checked against a pinned hash: set nvidia_driver.runfile_sha256 to {got}"
                        ),
                    }
                }
                Action::Install { path } => {
                    let file = ctx.layout.host(&path);
                    ctx.runner.set_mode(&file, 0o700)?;
                    ctx.runner
                        .run(&Cmd::mutate(&file).args(RUNFILE_ARGS))
                        .with_context(|| format!("the NVIDIA installer {path} failed"))?;
                }
            }
        }
        Ok(Outcome::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_nvidia_display_controllers() {
        let lspci = "0000:00:00.0 Host bridge [0600]: Intel Corporation Device [8086:a700] (rev 01)\n\
0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] [10de:2684] (rev a1)\n\
0000:01:00.1 Audio device [0403]: NVIDIA Corporation AD102 High Definition Audio Controller [10de:22ba] (rev a1)\n\
0000:02:00.0 3D controller [0302]: NVIDIA Corporation GA100 [A100 PCIe 40GB] [10de:20f1] (rev a1)\n";
        assert_eq!(
            nvidia_gpus(lspci),
            [
                ("0000:01:00.0".to_string(), "10de:2684".to_string()),
                ("0000:02:00.0".to_string(), "10de:20f1".to_string())
            ]
        );
    }

    #[test]
    fn drivers_are_read_from_lspci_k() {
        let text = "0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] [10de:2684] (rev a1)\n\tSubsystem: NVIDIA Corporation Device [10de:16f0]\n\tKernel driver in use: vfio-pci\n\tKernel modules: nvidiafb, nouveau, nvidia_drm, nvidia\n0000:01:00.1 Audio device [0403]: NVIDIA Corporation AD102 High Definition Audio Controller [10de:22ba] (rev a1)\n";
        assert_eq!(
            pci_drivers(text),
            [
                (
                    "0000:01:00.0".to_string(),
                    "10de:2684".to_string(),
                    Some("vfio-pci".to_string())
                ),
                ("0000:01:00.1".to_string(), "10de:22ba".to_string(), None)
            ]
        );
        assert_eq!(nvidia_gpus(text).len(), 1);
    }

    #[test]
    fn the_loaded_version_is_read_from_proc() {
        let text = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Jul  8 18:55:29 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n";
        assert_eq!(loaded_version(text).as_deref(), Some("580.76.05"));
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16-T02-35-3)  Thu Feb 22 01:25:25 UTC 2024\n";
        assert_eq!(loaded_version(open).as_deref(), Some("550.54.14"));
        assert_eq!(loaded_version(""), None);
    }

    #[test]
    fn vfio_binds_the_configured_ids() {
        let (modules, modprobe) = vfio_files(&["10DE:2204".into(), "10de:1aef".into()]);
        assert!(modules.ends_with("vfio\nvfio_iommu_type1\nvfio_pci\n"));
        assert!(
            modprobe.contains("options vfio-pci ids=10de:2204,10de:1aef\n"),
            "{modprobe}"
        );
    }
}
