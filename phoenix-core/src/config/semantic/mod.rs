//! Checks that need more than one value: references between guests, cycles, duplicate IDs,
//! address formats, referenced files. Pure apart from `Path::exists` probes of the files a
//! config names (scripts, stacks).

mod guests;
mod host;
mod net;
mod refs;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::Guest;
use super::diag::{Blocks, Diagnostic, Report, Severity, Subject, Work};
use super::host::HostConfig;
use super::json::{SpanIndex, child};
use super::locate::ConfigFiles;
use super::lxc::LxcFile;
use super::stacks::Stack;
use super::vm::VmFile;
use crate::ids::{GuestId, GuestKind};

/// Everything the checks read.
pub struct Inputs<'a> {
    /// Host file.
    pub host: &'a HostConfig,
    /// LXC file.
    pub lxc: &'a LxcFile,
    /// VM file.
    pub vm: &'a VmFile,
    /// Stacks found on disk.
    pub stacks: &'a BTreeMap<String, Stack>,
    /// `certificate-manifest.json`.
    pub certificates: &'a [super::certs::Certificate],
    /// Where the files are.
    pub files: &'a ConfigFiles,
    /// Positions per file.
    pub spans: &'a HashMap<PathBuf, SpanIndex>,
    /// Directories searched for `application_script` (in order).
    pub app_script_dirs: Vec<PathBuf>,
    /// Directory holding feature installers (`<dir>/lxc/<f>.sh`, `<dir>/vm/<f>.sh`).
    pub setup_scripts_dir: Option<PathBuf>,
    /// The install root (host-side health checks in `bin/health_checks/`).
    pub install_root: Option<PathBuf>,
}

/// A guest and where it is written.
struct Site<'a> {
    id: GuestId,
    file: PathBuf,
    base: String,
    guest: Guest<'a>,
}

impl Site<'_> {
    /// Pointer below the guest: `key` is a relative pointer such as `ports/0` (its tokens
    /// are the schema's key names and indices, which need no escaping).
    fn at(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    fn kind(&self) -> GuestKind {
        self.guest.kind()
    }
}

/// Every guest whose ID parses, in file order (containers, then VMs).
fn sites<'a>(inp: &Inputs<'a>) -> Vec<Site<'a>> {
    let lxc = inp.lxc.lxc_configs.iter().filter_map(|(key, ct)| {
        let id = key.parse::<GuestId>().ok()?;
        Some(Site {
            id,
            file: inp.files.lxc.clone(),
            base: child("/lxc_configs", key),
            guest: Guest::Lxc(id, ct),
        })
    });
    let vms = inp.vm.vms.iter().enumerate().filter_map(|(i, vm)| {
        let id = vm.vmid?.0;
        Some(Site {
            id,
            file: inp.files.vm.clone(),
            base: child("/vms", &i.to_string()),
            guest: Guest::Vm(id, vm),
        })
    });
    lxc.chain(vms).collect()
}

/// A guest by ID, first definition wins (duplicates are reported by `refs`).
fn find<'a>(inp: &Inputs<'a>, id: GuestId) -> Option<Guest<'a>> {
    if let Some(ct) = inp.lxc.lxc_configs.get(&id.to_string()) {
        return Some(Guest::Lxc(id, ct));
    }
    inp.vm
        .vms
        .iter()
        .find(|v| v.vmid.map(|r| r.0) == Some(id))
        .map(|v| Guest::Vm(id, v))
}

/// Where the first definition of each ID is.
struct Entry {
    kind: GuestKind,
    file: PathBuf,
    pointer: String,
}

struct Checker<'a> {
    inp: &'a Inputs<'a>,
    report: Report,
    guests: BTreeMap<GuestId, Entry>,
}

impl Checker<'_> {
    fn diag(&mut self, sev: Severity, file: &Path, pointer: &str, msg: String) -> &mut Diagnostic {
        let pos = self.inp.spans.get(file).and_then(|s| s.locate(pointer));
        self.report
            .push(Diagnostic::new(sev, file, pointer, msg).at(pos));
        self.report
            .last_mut()
            .expect("a diagnostic was just pushed")
    }

    fn err(&mut self, file: &Path, pointer: &str, msg: String) -> &mut Diagnostic {
        self.diag(Severity::Error, file, pointer, msg)
    }

    fn warn(&mut self, file: &Path, pointer: &str, msg: String) -> &mut Diagnostic {
        self.diag(Severity::Warning, file, pointer, msg)
    }

    fn note(&mut self, file: &Path, pointer: &str, msg: String) -> &mut Diagnostic {
        self.diag(Severity::Note, file, pointer, msg)
    }

    /// An error about a guest.
    fn guest_err(&mut self, site: &Site<'_>, key: &str, msg: String) -> &mut Diagnostic {
        let d = self.err(&site.file, &site.at(key), msg);
        d.guest = Some(site.id);
        d
    }

    /// A warning about a guest.
    fn guest_warn(&mut self, site: &Site<'_>, key: &str, msg: String) -> &mut Diagnostic {
        let d = self.warn(&site.file, &site.at(key), msg);
        d.guest = Some(site.id);
        d
    }

    /// A warning about a guest that blocks `work` on it (and nothing else).
    fn guest_block(
        &mut self,
        site: &Site<'_>,
        key: &str,
        msg: String,
        work: &[Work],
    ) -> &mut Diagnostic {
        let d = self.guest_warn(site, key, msg);
        d.blocks = Some(Blocks::new(Subject::Guest(site.id), work));
        d
    }
}

/// Runs every cross-value check and returns the findings.
pub fn check(inp: &Inputs<'_>) -> Report {
    let mut c = Checker {
        inp,
        report: Report::default(),
        guests: BTreeMap::new(),
    };
    refs::index_guests(&mut c);
    refs::check_references(&mut c);
    refs::check_cycles(&mut c);
    refs::check_full_copies(&mut c);
    refs::check_trusted_ca_order(&mut c);
    guests::check_guests(&mut c);
    guests::check_stacks(&mut c);
    net::check_unique_addresses(&mut c);
    host::check_host(&mut c);
    host::check_certificates(&mut c);
    c.report
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
