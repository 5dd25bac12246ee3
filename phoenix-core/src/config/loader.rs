//! [`load`]: every file of a configuration directory, its era, the stacks, the cross-file
//! checks, and the [`Config`] built from them when nothing is wrong.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, Report, Severity};
use super::document::{read_json, typed};
use super::era::{self, Era};
use super::host::HostConfig;
use super::json::{self, SpanIndex};
use super::locate::{ConfigFiles, ConfigLocation};
use super::lxc::LxcFile;
use super::schema::SchemaKind;
use super::stacks::{Stack, StackManifest, StacksFile};
use super::vm::VmFile;
use super::{Config, Eras, certs, normalize, semantic};

/// Options for [`load`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Directories searched for `application_script` files.
    pub app_script_dirs: Vec<PathBuf>,
    /// Directory of feature installers (`lxc/<f>.sh`, `vm/<f>.sh`), checked when it exists.
    pub setup_scripts_dir: Option<PathBuf>,
    /// Read files recognised as legacy (v1 era) with warnings instead of refusing them.
    pub allow_legacy: bool,
    /// The install root, whose `bin/health_checks/` holds host-side health checks (checked
    /// when that directory exists); the shell version's `/usr/local/phoenix_hypervisor/…`
    /// paths in `health_check.command` mean this root.
    pub install_root: Option<PathBuf>,
}

impl LoadOptions {
    /// The install layout's script locations: `setup-scripts/apps/` for application scripts
    /// (the shell version kept them in `bin/`, where our binaries now live) and
    /// `setup-scripts/` for feature installers.
    pub fn for_layout(layout: &phoenix_paths::Layout) -> Self {
        Self {
            app_script_dirs: vec![layout.setup_scripts_dir().join("apps")],
            setup_scripts_dir: Some(layout.setup_scripts_dir()),
            allow_legacy: false,
            install_root: Some(layout.root().to_path_buf()),
        }
    }
}

/// The result of [`load`].
#[derive(Debug)]
pub struct Loaded {
    /// The configuration, when there are no errors.
    pub config: Option<Config>,
    /// Every finding, sorted (errors first).
    pub report: Report,
    /// The files that were (or would have been) read.
    pub files: Option<ConfigFiles>,
}

/// The Portainer administrator of the 2025-10-06 VM files (`portainer_admin_user`,
/// `portainer_admin_password` on VM `i`) became the host's `portainer_api` on 10-07: read there
/// when the host file does not say.
fn portainer_admin_from_vm(
    host: &mut HostConfig,
    (i, user, password): (usize, Option<String>, Option<String>),
    vm_file: &Path,
    spans: &HashMap<PathBuf, SpanIndex>,
    report: &mut Report,
) {
    let api = host.portainer_api.get_or_insert_with(Default::default);
    let at = |key: &str| {
        let p = json::child(&json::child("/vms", &i.to_string()), key);
        let pos = spans.get(vm_file).and_then(|s| s.locate(&p));
        (p, pos)
    };
    if let Some(u) = user {
        let (p, pos) = at("portainer_admin_user");
        let (sev, msg) = if api.admin_user.is_none() {
            api.admin_user = Some(u);
            (
                Severity::Note,
                "read as the host's portainer_api.admin_user (moved there on 2025-10-07)",
            )
        } else {
            (
                Severity::Note,
                "ignored: the host's portainer_api.admin_user (moved there on 2025-10-07) says who the administrator is",
            )
        };
        report.push(Diagnostic::new(sev, vm_file, p, msg).at(pos));
    }
    if let Some(pw) = password {
        let (p, pos) = at("portainer_admin_password");
        if api.admin_password.is_none() && api.admin_password_file.is_none() {
            api.admin_password = Some(pw);
            report.push(
                Diagnostic::new(
                    Severity::Warning,
                    vm_file,
                    p,
                    "the Portainer admin password is stored inline in the VM file; read as the host's portainer_api.admin_password",
                )
                .at(pos)
                .hint("move it to a root-only file (mode 0600) and name it in the host's portainer_api.admin_password_file"),
            );
        } else {
            report.push(
                Diagnostic::new(
                    Severity::Warning,
                    vm_file,
                    p,
                    "ignored: the host's portainer_api names the password; remove this inline copy",
                )
                .at(pos),
            );
        }
    }
}

/// Reports a file from before the dispatcher era: an error naming the file (exit 2), or with
/// `--allow-legacy` a warning per marker. Returns whether the file is refused.
fn legacy_finding(
    path: &Path,
    era: &Era,
    spans: &SpanIndex,
    opts: &LoadOptions,
    report: &mut Report,
) -> bool {
    let Era::Legacy { markers } = era else {
        return false;
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if opts.allow_legacy {
        for m in markers {
            report.push(
                Diagnostic::new(
                    Severity::Warning,
                    path,
                    m.pointer.clone(),
                    format!("legacy format: {}", m.reason),
                )
                .at(spans.locate(&m.pointer))
                .hint(
                    "read because --allow-legacy was given; convert the file to the current shape",
                ),
            );
        }
        return false;
    }
    let first = &markers[0];
    let reasons: Vec<&str> = markers.iter().map(|m| m.reason.as_str()).collect();
    let mut reasons_unique: Vec<&str> = Vec::new();
    for r in reasons {
        if !reasons_unique.contains(&r) {
            reasons_unique.push(r);
        }
    }
    report.push(
        Diagnostic::new(
            Severity::Error,
            path,
            first.pointer.clone(),
            format!(
                "legacy format: {name} is a file of the shell version's v1 era (before 2025-09-01), whose keys meant other things: {}",
                reasons_unique.join("; ")
            ),
        )
        .at(spans.locate(&first.pointer))
        .hint("convert it to the dispatcher-era shape (clone_from_ctid; features as a list of Phoenix features; Proxmox features in pct_options; a host file of version 1.0.0 with core_paths), or pass --allow-legacy to read it with the old meanings"),
    );
    true
}

/// Loads everything from `location` and checks it. Never acts on the host.
pub fn load(location: &ConfigLocation, opts: &LoadOptions) -> Loaded {
    let mut report = Report::default();
    let mut spans: HashMap<PathBuf, SpanIndex> = HashMap::new();

    let host_path = location.host_file.clone();
    let Some(mut host_src) = read_json(&host_path, &mut report, true) else {
        report.sort();
        return Loaded {
            config: None,
            report,
            files: None,
        };
    };
    let host_era = era::host_era(&host_src.value);
    legacy_finding(&host_path, &host_era, &host_src.spans, opts, &mut report);
    let host: Option<HostConfig> = typed(
        SchemaKind::Hypervisor,
        &host_path,
        &mut host_src,
        &mut report,
        |v, s| normalize::host(v, &host_path, s),
    );
    spans.insert(host_path.clone(), host_src.spans);
    let Some(mut host) = host else {
        report.sort();
        return Loaded {
            config: None,
            report,
            files: None,
        };
    };
    let files = location.files(&host.core_paths);
    let explicit_lxc = host.core_paths.lxc_config_file.is_some();
    let explicit_vm = host.core_paths.vm_config_file.is_some();

    let (lxc, lxc_era) = match read_json(&files.lxc, &mut report, explicit_lxc) {
        Some(mut src) => {
            let era = era::lxc_era(&src.value);
            let era_for_norm = era.clone();
            let path = files.lxc.clone();
            let refused = legacy_finding(&path, &era, &src.spans, opts, &mut report);
            let v: Option<LxcFile> = if refused {
                None
            } else {
                typed(SchemaKind::Lxc, &path, &mut src, &mut report, |v, s| {
                    normalize::lxc(v, &era_for_norm, &path, s)
                })
            };
            spans.insert(files.lxc.clone(), src.spans);
            (v, era)
        }
        None => {
            if !explicit_lxc && !files.lxc.exists() {
                report.push(Diagnostic::new(
                    Severity::Note,
                    &files.lxc,
                    "",
                    "no LXC configuration file; no containers are defined",
                ));
            }
            (Some(LxcFile::default()), Era::Current)
        }
    };
    let mut vm_admin = None;
    let (vm, vm_era) = match read_json(&files.vm, &mut report, explicit_vm) {
        Some(mut src) => {
            let era = era::vm_era(&src.value);
            legacy_finding(&files.vm, &era, &src.spans, opts, &mut report);
            let path = files.vm.clone();
            let v: Option<VmFile> = typed(SchemaKind::Vm, &path, &mut src, &mut report, |v, s| {
                vm_admin = normalize::take_vm_portainer_admin(v);
                normalize::vm(v, &path, s)
            });
            spans.insert(files.vm.clone(), src.spans);
            (v, era)
        }
        None => {
            if !explicit_vm && !files.vm.exists() {
                report.push(Diagnostic::new(
                    Severity::Note,
                    &files.vm,
                    "",
                    "no VM configuration file; no VMs are defined",
                ));
            }
            (Some(VmFile::default()), Era::Current)
        }
    };
    let stacks_catalogue = match read_json(
        &files.stacks_config,
        &mut report,
        host.core_paths.stacks_config_file.is_some(),
    ) {
        Some(mut src) => {
            let v: Option<StacksFile> = typed(
                SchemaKind::Stacks,
                &files.stacks_config,
                &mut src,
                &mut report,
                |v, s| normalize::stacks(v, &files.stacks_config, s),
            );
            spans.insert(files.stacks_config.clone(), src.spans);
            v
        }
        None => None,
    };
    let stacks = discover_stacks(
        &files.stacks_dir,
        stacks_catalogue
            .as_ref()
            .map(|c| (c, files.stacks_config.as_path())),
        &files.root,
        &mut report,
        &mut spans,
    );
    let certificates = match read_json(&files.certificates, &mut report, false) {
        Some(mut src) => {
            let v: Option<Vec<certs::Certificate>> = typed(
                SchemaKind::CertificateManifest,
                &files.certificates,
                &mut src,
                &mut report,
                |_, _| Vec::new(),
            );
            spans.insert(files.certificates.clone(), src.spans);
            v.unwrap_or_default()
        }
        None => Vec::new(),
    };

    let (Some(lxc), Some(vm)) = (lxc, vm) else {
        report.sort();
        return Loaded {
            config: None,
            report,
            files: Some(files),
        };
    };
    if report.has_errors() {
        report.sort();
        return Loaded {
            config: None,
            report,
            files: Some(files),
        };
    }

    let inputs = semantic::Inputs {
        host: &host,
        lxc: &lxc,
        vm: &vm,
        stacks: &stacks,
        certificates: &certificates,
        files: &files,
        spans: &spans,
        app_script_dirs: opts.app_script_dirs.clone(),
        setup_scripts_dir: opts.setup_scripts_dir.clone(),
        install_root: opts.install_root.clone(),
    };
    report.extend(semantic::check(&inputs));
    // After the checks, which would report the password at the host file, where it is not.
    if let Some(admin) = vm_admin {
        portainer_admin_from_vm(&mut host, admin, &files.vm, &spans, &mut report);
    }
    report.sort();
    if report.has_errors() {
        return Loaded {
            config: None,
            report,
            files: Some(files),
        };
    }
    let config = Config {
        location: location.clone(),
        files: files.clone(),
        host,
        lxc,
        vm,
        stacks_catalogue,
        stacks,
        certificates,
        eras: Eras {
            host: host_era,
            lxc: lxc_era,
            vm: vm_era,
        },
        blockers: report
            .all()
            .iter()
            .filter(|d| d.blocks.is_some())
            .cloned()
            .collect(),
    };
    Loaded {
        config: Some(config),
        report,
        files: Some(files),
    }
}

/// The stacks: every `stacks/<name>/` directory holding `phoenix.json` (the compose file may
/// be missing: that is a finding on the stack, reported by [`semantic`] where a VM uses it),
/// then every catalogue entry with no such directory (the 2025-10 shape).
fn discover_stacks(
    dir: &Path,
    catalogue: Option<(&StacksFile, &Path)>,
    root: &Path,
    report: &mut Report,
    spans: &mut HashMap<PathBuf, SpanIndex>,
) -> BTreeMap<String, Stack> {
    let mut out = BTreeMap::new();
    let in_catalogue =
        |name: &str| catalogue.is_some_and(|(c, _)| c.docker_stacks.contains_key(name));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest = d.join(phoenix_paths::config_files::STACK_MANIFEST);
        let compose = d.join(phoenix_paths::config_files::STACK_COMPOSE);
        if !manifest.is_file() {
            if compose.is_file() && !in_catalogue(&name) {
                report.push(Diagnostic::new(
                    Severity::Warning,
                    &manifest,
                    "",
                    format!(
                        "stack {name:?} is incomplete ({} is missing) and is skipped",
                        manifest.display()
                    ),
                ));
            }
            continue;
        }
        let Some(mut src) = read_json(&manifest, report, true) else {
            continue;
        };
        let m: Option<StackManifest> = typed(
            SchemaKind::StackManifest,
            &manifest,
            &mut src,
            report,
            |_, _| Vec::new(),
        );
        spans.insert(manifest.clone(), src.spans);
        if let Some(m) = m {
            out.insert(name.clone(), Stack::in_dir(&name, d, m));
        }
    }
    if let Some((cat, path)) = catalogue {
        for (name, def) in &cat.docker_stacks {
            if out.contains_key(name) {
                continue;
            }
            let mut stack = Stack::from_catalogue(name, def, path, root);
            // `stacks/<name>/docker-compose.yml` without `phoenix.json` (2025-11-17): the
            // directory convention names the compose file, the catalogue the environments.
            let in_dir = dir
                .join(name)
                .join(phoenix_paths::config_files::STACK_COMPOSE);
            if in_dir.is_file() {
                stack.compose = in_dir;
            }
            out.insert(name.clone(), stack);
        }
    }
    out
}
