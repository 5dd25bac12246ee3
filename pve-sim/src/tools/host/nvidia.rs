//! NVIDIA GPUs and their driver, and the tools around them: `lspci`, `modinfo`, `curl`
//! (which only knows how to fetch NVIDIA's runfile), `nvidia-installer` (what the runfile
//! runs), `nvidia-smi`, `nvidia-modprobe` and `update-initramfs`.
//!
//! The driver has two versions: the one installed on disk (what `modinfo` reports) and the
//! one loaded in the running kernel (what `/proc/driver/nvidia/version` and `nvidia-smi`
//! report). Installing changes the first; only a reboot (`pve-sim reboot`) loads it.

use super::{OptSpec, answer, catalogue, changed, fail, getopt_long, o, write_file};
use crate::Ctx;
use crate::outcome::{Effect, Outcome};
use crate::root::SimRoot;

/// The driver `pve-sim init --gpus N` loads unless `--nvidia-driver` says otherwise.
pub const DEFAULT_DRIVER: &str = "580.76.05";

/// The runfile stand-in `curl` writes for `NVIDIA-Linux-x86_64-<ver>.run`.
pub fn runfile(ver: &str) -> String {
    format!(
        "#!/bin/sh\n# NVIDIA Accelerated Graphics Driver for Linux-x86_64 {ver} (pve-sim stand-in)\nexec nvidia-installer --pve-sim-version {ver} \"$@\"\n"
    )
}

/// `/proc/driver/nvidia/version` for a loaded driver.
pub fn proc_version(ver: &str) -> String {
    format!(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {ver}  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Jul  8 18:55:29 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n"
    )
}

fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Installs the `nvidia-smi` and `nvidia-modprobe` stand-ins in `/usr/bin`.
pub fn install_tools(root: &SimRoot) -> Result<(), String> {
    for t in ["nvidia-smi", "nvidia-modprobe"] {
        write_file(
            root,
            &format!("/usr/bin/{t}"),
            format!("#!/bin/sh\n# {t} (pve-sim stand-in: the simulator answers `{t}`)\nexec {t} \"$@\"\n")
                .as_bytes(),
            0o755,
        )?;
    }
    Ok(())
}

/// Creates a device node stand-in `/dev/<name>`.
pub fn node(root: &SimRoot, name: &str) {
    let _ = write_file(root, &format!("/dev/{name}"), b"", 0o666);
}

/// The kernel state of a (not) loaded driver: `/proc/driver/nvidia/version` and the device
/// nodes the module creates (`/dev/nvidia<i>`, `/dev/nvidiactl`). `extra` also creates what
/// `nvidia-modprobe -u -m` would (`nvidia-uvm`, `nvidia-uvm-tools`, `nvidia-modeset`).
pub fn apply_loaded(root: &SimRoot, gpus: u32, loaded: Option<&str>, extra: bool) {
    if let Ok(rd) = std::fs::read_dir(root.host("/dev")) {
        for e in rd.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().starts_with("nvidia") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir_all(root.host("/proc/driver/nvidia"));
    let Some(ver) = loaded else {
        return;
    };
    let _ = write_file(
        root,
        "/proc/driver/nvidia/version",
        proc_version(ver).as_bytes(),
        0o444,
    );
    for i in 0..gpus {
        node(root, &format!("nvidia{i}"));
    }
    node(root, "nvidiactl");
    if extra {
        for n in ["nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"] {
            node(root, n);
        }
    }
}

/// What a boot-time GPU init unit (`ExecStart=/usr/bin/nvidia-smi`, `nvidia-modprobe -u
/// -c=0`) does: with the driver loaded, the UVM device nodes appear; without, it fails.
pub fn gpu_init(ctx: &mut Ctx) -> Result<(), String> {
    let nv = &ctx.state.host.nvidia;
    if nv.installed.is_none() || !ctx.root.host("/usr/bin/nvidia-smi").exists() {
        return Err("/usr/bin/nvidia-smi: No such file or directory".into());
    }
    if nv.loaded.is_none() || nv.loaded != nv.installed {
        return Err(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.".into(),
        );
    }
    node(&ctx.root, "nvidia-uvm");
    node(&ctx.root, "nvidia-uvm-tools");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// lspci, modinfo

/// One PCI function: slot, class, class code, name, vendor:device, revision, driver.
type PciDev<'a> = (
    String,
    &'a str,
    &'a str,
    String,
    String,
    &'a str,
    Option<&'a str>,
);

/// `lspci [-D] [-n|-nn] [-k]`.
pub fn lspci(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [
        o("", Some('D'), false),
        o("", Some('n'), false),
        o("", Some('k'), false),
        o("", Some('v'), false),
        o("", Some('s'), true),
        o("", Some('d'), true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => {
            return fail(2, format!("lspci: {e}\nUsage: lspci [<switches>]\n"));
        }
    };
    if let Some(x) = p.operands.first() {
        return fail(2, format!("lspci: Unexpected argument: {x}\n"));
    }
    let domain = p.has("D");
    let numeric = p.count("n");
    let nv = &ctx.state.host.nvidia;
    let mut devs: Vec<PciDev> = vec![
        (
            "00:00.0".into(),
            "Host bridge",
            "0600",
            "Intel Corporation Raptor Lake-S 8+8 - Host Bridge/DRAM Registers".into(),
            "8086:a703".into(),
            "01",
            None,
        ),
        (
            "00:17.0".into(),
            "SATA controller",
            "0106",
            "Intel Corporation Raptor Lake SATA AHCI Controller".into(),
            "8086:7a62".into(),
            "11",
            Some("ahci"),
        ),
        (
            "00:1f.6".into(),
            "Ethernet controller",
            "0200",
            "Intel Corporation Ethernet Connection (17) I219-V".into(),
            "8086:1a1d".into(),
            "11",
            Some("e1000e"),
        ),
    ];
    let driver = if nv.loaded.is_some() {
        Some("nvidia")
    } else {
        None
    };
    for i in 0..nv.gpus {
        let bus = format!("{:02x}", 1 + i);
        devs.push((
            format!("{bus}:00.0"),
            "VGA compatible controller",
            "0300",
            "NVIDIA Corporation AD102 [GeForce RTX 4090]".into(),
            "10de:2684".into(),
            "a1",
            driver,
        ));
        devs.push((
            format!("{bus}:00.1"),
            "Audio device",
            "0403",
            "NVIDIA Corporation AD102 High Definition Audio Controller".into(),
            "10de:22ba".into(),
            "a1",
            Some("snd_hda_intel"),
        ));
    }
    let mut out = String::new();
    for (slot, class, code, name, ids, rev, drv) in devs {
        let drv = if nv.vfio_ids.iter().any(|v| v.eq_ignore_ascii_case(&ids)) {
            Some("vfio-pci")
        } else {
            drv
        };
        let slot = if domain { format!("0000:{slot}") } else { slot };
        let line = match numeric {
            0 => format!("{slot} {class}: {name} (rev {rev})"),
            1 => format!("{slot} {code}: {ids} (rev {rev})"),
            _ => format!("{slot} {class} [{code}]: {name} [{ids}] (rev {rev})"),
        };
        out.push_str(&line);
        out.push('\n');
        if p.has("k") {
            if let Some(d) = drv {
                out.push_str(&format!("\tKernel driver in use: {d}\n"));
            }
            if class == "VGA compatible controller" {
                out.push_str("\tKernel modules: nvidiafb, nouveau, nvidia_drm, nvidia\n");
            }
        }
    }
    Outcome::read(out).secs(ctx.knobs.cost("host.read"))
}

/// `modinfo [-F field] <module>`.
pub fn modinfo(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let specs = [o("field", Some('F'), true), o("", Some('k'), true)];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("modinfo: {e}")),
    };
    let secs = ctx.knobs.cost("host.read");
    let [module] = p.operands.as_slice() else {
        return fail(
            1,
            "Usage:\n\tmodinfo [options] <modulename|filename> [args]\n",
        );
    };
    let k = ctx.state.host.kernel.clone();
    let (version, file) = match module.as_str() {
        "nvidia" | "nvidia_uvm" | "nvidia_drm" | "nvidia_modeset" | "nvidia-uvm" => {
            match &ctx.state.host.nvidia.installed {
                Some(v) => (
                    v.clone(),
                    format!(
                        "/lib/modules/{k}/updates/dkms/{}.ko",
                        module.replace('-', "_")
                    ),
                ),
                None => {
                    return answer(
                        1,
                        "",
                        format!("modinfo: ERROR: Module {module} not found.\n"),
                    )
                    .secs(secs);
                }
            }
        }
        "zfs" | "spl" => (
            "2.2.8-pve1".to_string(),
            format!("/lib/modules/{k}/zfs/{module}.ko"),
        ),
        _ => {
            return answer(
                1,
                "",
                format!("modinfo: ERROR: Module {module} not found.\n"),
            )
            .secs(secs);
        }
    };
    let out = match p.value("field") {
        Some("version") => format!("{version}\n"),
        Some("filename") => format!("{file}\n"),
        Some("license") => {
            if module.starts_with("nvidia") {
                "Dual MIT/GPL\n".into()
            } else {
                "CDDL\n".into()
            }
        }
        Some("vermagic") => format!("{k} SMP preempt mod_unload modversions \n"),
        Some(_) => String::new(),
        None => format!(
            "filename:       {file}\nversion:        {version}\nlicense:        {}\nvermagic:       {k} SMP preempt mod_unload modversions \n",
            if module.starts_with("nvidia") {
                "Dual MIT/GPL"
            } else {
                "CDDL"
            }
        ),
    };
    Outcome::read(out).secs(secs)
}

// ---------------------------------------------------------------------------------------
// curl

const CURL_OPTS: &[OptSpec] = &[
    o("fail", Some('f'), false),
    o("silent", Some('s'), false),
    o("show-error", Some('S'), false),
    o("location", Some('L'), false),
    o("proto", None, true),
    o("output", Some('o'), true),
    o("retry", None, true),
    o("connect-timeout", None, true),
    o("max-time", Some('m'), true),
    o("tlsv1.2", None, false),
    o("create-dirs", None, false),
];

/// `curl -fsSL [--proto =https] -o <path> <url>`: only NVIDIA's driver runfiles exist; any
/// other host does not resolve. The output path is a real path inside the system root.
pub fn curl(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, CURL_OPTS) {
        Ok(p) => p,
        Err(e) => {
            let opt = e.split('\'').nth(1).unwrap_or("").to_string();
            return fail(
                2,
                format!(
                    "curl: option {opt}: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information"
                ),
            );
        }
    };
    let [url] = p.operands.as_slice() else {
        return fail(
            2,
            "curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information",
        );
    };
    let show = !p.has("silent") || p.has("show-error");
    let err = |code: i32, msg: String| {
        let mut o = fail(code, if show { msg } else { String::new() });
        if !show {
            o.stderr.clear();
        }
        o
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
    if let Some(proto) = p.value("proto") {
        let allowed: Vec<&str> = proto
            .trim_start_matches('=')
            .split(',')
            .map(|s| s.trim_start_matches(['=', '+']))
            .collect();
        if !allowed.contains(&scheme) {
            return err(1, format!("curl: (1) Protocol \"{scheme}\" disabled"));
        }
    }
    if !matches!(scheme, "http" | "https") {
        return err(
            1,
            format!("curl: (1) Protocol \"{scheme}\" not supported or disabled in libcurl"),
        );
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let last = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    let ver = last
        .strip_prefix("NVIDIA-Linux-x86_64-")
        .and_then(|r| r.strip_suffix(".run"))
        .filter(|v| valid_version(v) && rest.contains('/'));
    let Some(ver) = ver else {
        return err(6, format!("curl: (6) Could not resolve host: {host}"));
    };
    let body = runfile(ver);
    let secs = ctx.knobs.cost("curl.download");
    let Some(out) = p.value("output") else {
        return Outcome::ok(Effect::Read).out(body).secs(secs);
    };
    let path = std::path::Path::new(out);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    if !abs.starts_with(ctx.root.sysroot()) {
        return err(
            23,
            format!(
                "Warning: Failed to open the file {out}: Permission denied\ncurl: (23) Failure writing output to destination (pve-sim: {out} is outside $PHOENIX_SYSROOT)"
            ),
        );
    }
    if p.has("create-dirs") {
        if let Some(d) = abs.parent() {
            let _ = std::fs::create_dir_all(d);
        }
    }
    if !abs.parent().is_some_and(std::path::Path::is_dir) {
        return err(
            23,
            format!(
                "Warning: Failed to open the file {out}: No such file or directory\ncurl: (23) Failure writing output to destination"
            ),
        );
    }
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::write(&abs, body.as_bytes())
        .and_then(|()| std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(0o644)))
    {
        return err(
            23,
            format!(
                "Warning: Failed to open the file {out}: {e}\ncurl: (23) Failure writing output to destination"
            ),
        );
    }
    changed("").secs(secs)
}

// ---------------------------------------------------------------------------------------
// nvidia-installer, nvidia-smi, nvidia-modprobe, update-initramfs

const INSTALLER_OPTS: &[OptSpec] = &[
    o("pve-sim-version", None, true),
    o("silent", Some('s'), false),
    o("accept-license", None, false),
    o("no-questions", Some('q'), false),
    o("ui", None, true),
    o("dkms", None, false),
    o("no-x-check", None, false),
    o("no-nouveau-check", None, false),
    o("no-opengl-files", None, false),
    o("disable-nouveau", None, false),
    o("install-libglvnd", None, false),
    o("no-kernel-module-source", None, false),
    o("no-drm", None, false),
];

/// `nvidia-installer --pve-sim-version <ver> [options]` (what the runfile stand-in runs).
pub fn installer(ctx: &mut Ctx, args: &[String]) -> Outcome {
    let p = match getopt_long(args, INSTALLER_OPTS) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                1,
                format!(
                    "ERROR: {e}\n\nPlease run `nvidia-installer --help` for usage information.\n"
                ),
            );
        }
    };
    let Some(ver) = p.value("pve-sim-version").map(str::to_string) else {
        return fail(
            1,
            "nvidia-installer: pve-sim answers nvidia-installer only through a driver runfile (NVIDIA-Linux-x86_64-<version>.run)",
        );
    };
    let head = format!(
        "Verifying archive integrity... OK\nUncompressing NVIDIA Accelerated Graphics Driver for Linux-x86_64 {ver}................................................\n\n"
    );
    let failed = |msg: &str| Outcome {
        stdout: head.clone(),
        ..fail(1, format!("ERROR: {msg}\n"))
    };
    let ui_none = p.value("ui") == Some("none");
    if !p.has("silent") && !ui_none {
        return failed("Unable to find a suitable interactive user interface");
    }
    let host = &ctx.state.host;
    if host.installed("nvidia-driver") || host.installed("nvidia-kernel-dkms") {
        return failed(
            "An NVIDIA kernel module 'nvidia' appears to be already loaded/installed by a package",
        );
    }
    let kernel = host.kernel.clone();
    if !catalogue::headers_for(&kernel)
        .iter()
        .any(|h| host.installed(h))
    {
        return failed(
            "Unable to find the kernel source tree for the currently running kernel.  Please make sure you have installed the kernel source files for your kernel and that they are properly configured; on Red Hat Linux systems, for example, be sure you have the 'kernel-source' or 'kernel-devel' RPM installed.  If you know the correct kernel source files are installed, you may specify the kernel source path with the '--kernel-source-path' command line option.",
        );
    }
    if p.has("dkms") && !host.installed("dkms") {
        return failed(
            "Failed to install the kernel module through DKMS. No kernel module was installed; please try installing again without DKMS, or check the DKMS logs for more information.",
        );
    }
    if let Err(e) = install_tools(&ctx.root) {
        return fail(1, format!("ERROR: {e}"));
    }
    let nv = &mut ctx.state.host.nvidia;
    nv.installed = Some(ver.clone());
    nv.by_package = false;
    if nv.loaded.as_deref() != Some(ver.as_str()) {
        ctx.state.host.reboot_required = true;
    }
    let mut out = head;
    if p.has("dkms") {
        out.push_str(&format!(
            "Installing the kernel module through DKMS (nvidia/{ver}) for kernel {kernel}.\n"
        ));
    }
    out.push_str(&format!(
        "Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: {ver}) is now complete.\n"
    ));
    let mut err = String::new();
    if ctx.state.host.reboot_required {
        err.push_str(
            "WARNING: The NVIDIA driver was installed; reboot to load the new kernel module.\n",
        );
    }
    Outcome {
        stdout: out,
        stderr: err,
        ..Outcome::ok(Effect::Mutate)
    }
    .secs(ctx.knobs.cost("nvidia.install"))
}

/// `update-initramfs -u [-k all|<version>]`.
pub fn update_initramfs(ctx: &mut Ctx, args: &[String]) -> Outcome {
    const USAGE: &str = "Usage: update-initramfs {-c|-d|-u} [-k version] [-v] [-b directory]\n\nOptions:\n -k version\tSpecify kernel version or 'all'\n -c\t\tCreate a new initramfs\n -u\t\tUpdate an existing initramfs\n -d\t\tRemove an existing initramfs\n -b directory\tSet alternate boot directory\n -v\t\tBe verbose\n\nSee update-initramfs(8) for further details.\n";
    let specs = [
        o("", Some('u'), false),
        o("", Some('c'), false),
        o("", Some('d'), false),
        o("", Some('k'), true),
        o("", Some('v'), false),
        o("", Some('b'), true),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(2, format!("update-initramfs: {e}\n{USAGE}")),
    };
    if !(p.has("u") || p.has("c") || p.has("d")) || !p.operands.is_empty() {
        return fail(2, USAGE);
    }
    let kernel = ctx.state.host.kernel.clone();
    let k = p.value("k").unwrap_or(&kernel);
    if k != "all" && k != kernel {
        return fail(
            1,
            format!("update-initramfs: {k} has no initramfs (no /lib/modules/{k})"),
        );
    }
    ctx.state.host.counters.initramfs_updates += 1;
    let _ = write_file(
        &ctx.root,
        &format!("/boot/initrd.img-{kernel}"),
        format!(
            "pve-sim initramfs {}\n",
            ctx.state.host.counters.initramfs_updates
        )
        .as_bytes(),
        0o644,
    );
    changed(format!(
        "update-initramfs: Generating /boot/initrd.img-{kernel}\nRunning hook script 'zz-proxmox-boot'..\n"
    ))
    .secs(ctx.knobs.cost("initramfs"))
}

/// The IDs `options vfio-pci ids=a,b` lines in `/etc/modprobe.d/*.conf` bind at boot.
pub fn vfio_ids_at_boot(root: &crate::root::SimRoot) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(dir) = std::fs::read_dir(root.host("/etc/modprobe.d")) else {
        return ids;
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() >= 3 && w[0] == "options" && w[1] == "vfio-pci" {
                for opt in &w[2..] {
                    if let Some(list) = opt.strip_prefix("ids=") {
                        ids.extend(list.split(',').map(|i| i.to_ascii_lowercase()));
                    }
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runfile_content_is_documented() {
        assert_eq!(
            runfile("580.76.05"),
            "#!/bin/sh\n# NVIDIA Accelerated Graphics Driver for Linux-x86_64 580.76.05 (pve-sim stand-in)\nexec nvidia-installer --pve-sim-version 580.76.05 \"$@\"\n"
        );
        assert!(proc_version("580.76.05").starts_with(
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  Release Build"
        ));
        assert!(valid_version("580.76.05") && valid_version("570.86"));
        assert!(!valid_version("latest") && !valid_version("580..5"));
    }
}
