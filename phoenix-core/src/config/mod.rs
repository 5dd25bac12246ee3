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
pub mod era;
pub mod formats;
pub mod guest;
pub mod host;
pub mod json;
pub mod locate;
pub mod lxc;
pub mod normalize;
pub mod schema;
pub mod semantic;
pub mod stacks;
pub mod vm;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use diag::{Blocks, Diagnostic, Report, Severity, Subject, Work};
pub use era::Era;
pub use locate::{ConfigFiles, ConfigLocation, ConfigSource};

use crate::graph::{EdgeKind, Graph};
use crate::ids::{GuestId, GuestKind};
use host::HostConfig;
use json::SpanIndex;
use lxc::{Container, LxcFile};
use schema::SchemaKind;
use stacks::{Stack, StackManifest, StacksFile};
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

struct Source {
    value: Value,
    spans: SpanIndex,
}

/// Reads and parses one file; pushes findings for read/parse failures and duplicates.
fn read_json(path: &Path, report: &mut Report, required: bool) -> Option<Source> {
    let text = match crate::files::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.is_not_found() && !required => return None,
        Err(e) => {
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    "",
                    format!("cannot read the file: {e}"),
                )
                .hint("check the path, or pass --config DIR / set PHOENIX_CONFIG_DIR"),
            );
            return None;
        }
    };
    // A UTF-8 byte-order mark (Windows editors write one) is not JSON, but it is not content
    // either: skip it, as jq and Python's utf-8-sig do.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            report.push(Diagnostic::new(
                Severity::Note,
                path,
                "",
                "the file starts with a UTF-8 byte-order mark; ignored",
            ));
            rest
        }
        None => text.as_str(),
    };
    match json::parse(text) {
        Ok(p) => {
            for d in &p.duplicates {
                report.push(
                    Diagnostic::new(
                        Severity::Warning,
                        path,
                        d.pointer.clone(),
                        format!(
                            "duplicate key; the value at line {} replaces the one at line {}",
                            d.last.line, d.first.line
                        ),
                    )
                    .at(Some(d.last)),
                );
            }
            // One rule for every value of every file, not each writer remembering it: a
            // control character would start a new line in the file the value lands in.
            let forbidden = json::forbidden_chars(&p.value);
            for (pointer, c, in_key) in &forbidden {
                let pos = if *in_key {
                    p.spans.locate(pointer)
                } else {
                    p.spans.locate_value(pointer)
                };
                report.push(
                    Diagnostic::new(
                        Severity::Error,
                        path,
                        pointer.clone(),
                        format!(
                            "the {} holds a control character (U+{:04X}); configuration values are single-line text",
                            if *in_key { "key" } else { "value" },
                            u32::from(*c)
                        ),
                    )
                    .at(pos)
                    .hint("values are written into line-oriented files (firewall rules, container .conf lines, exports, …), where the character would start a new line; remove it"),
                );
            }
            if !forbidden.is_empty() {
                return None;
            }
            Some(Source {
                value: p.value,
                spans: p.spans,
            })
        }
        Err(e) => {
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    e.pointer.clone(),
                    format!("malformed JSON: {}", e.message),
                )
                .at(Some(e.pos)),
            );
            None
        }
    }
}

/// Normalizes, schema-validates and deserializes one document. Returns `None` after errors.
fn typed<T: DeserializeOwned>(
    kind: SchemaKind,
    path: &Path,
    src: &mut Source,
    report: &mut Report,
    normalize: impl FnOnce(&mut Value, &SpanIndex) -> Vec<Diagnostic>,
) -> Option<T> {
    // Old shapes first become the current shape, then the schema (which describes only the
    // current shape) checks the result: it never refuses a shape the normaliser understands.
    // Positions still come from the file as written (a renamed key points at its parent).
    let notes = normalize(&mut src.value, &src.spans);
    let norm_errors = notes.iter().any(|d| d.severity == Severity::Error);
    notes.into_iter().for_each(|d| report.push(d));
    if norm_errors {
        return None;
    }
    let findings = schema::validate(kind, &src.value, path, &src.spans);
    let schema_errors = findings.iter().any(|d| d.severity == Severity::Error);
    findings.into_iter().for_each(|d| report.push(d));
    if schema_errors {
        return None;
    }
    match serde_path_to_error::deserialize::<_, T>(&src.value) {
        Ok(v) => Some(v),
        Err(e) => {
            let pointer = serde_path_to_pointer(&e.path().to_string());
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    pointer.clone(),
                    e.inner().to_string(),
                )
                .at(src.spans.locate_value(&pointer)),
            );
            None
        }
    }
}

/// `lxc_configs.101.dependencies[0]` → `/lxc_configs/101/dependencies/0`.
fn serde_path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for seg in path.split('.') {
        let (name, rest) = seg.split_once('[').unwrap_or((seg, ""));
        if !name.is_empty() {
            out.push('/');
            out.push_str(&json::escape_token(name));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(
            serde_path_to_pointer("lxc_configs.101.dependencies[0]"),
            "/lxc_configs/101/dependencies/0"
        );
        assert_eq!(
            serde_path_to_pointer("vms[2].firewall.rules[10].port"),
            "/vms/2/firewall/rules/10/port"
        );
        assert_eq!(serde_path_to_pointer("."), "");
    }

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
