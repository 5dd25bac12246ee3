//! Checks that need more than one value: references between guests, cycles, duplicate IDs,
//! address formats, referenced files. Pure apart from `Path::exists` probes of the files a
//! config names (scripts, stacks).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, Report, Severity};
use super::host::HostConfig;
use super::json::{SpanIndex, child};
use super::locate::ConfigFiles;
use super::lxc::LxcFile;
use super::stacks::Stack;
use super::vm::VmFile;
use crate::ids::{GuestId, GuestKind};

mod guests;
mod host;
mod net;
mod refs;

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
    /// Where the files are.
    pub files: &'a ConfigFiles,
    /// Positions per file.
    pub spans: &'a HashMap<PathBuf, SpanIndex>,
    /// Directories searched for `application_script` (in order).
    pub app_script_dirs: Vec<PathBuf>,
    /// Directories holding feature installers (`<dir>/lxc/<f>.sh`, `<dir>/vm/<f>.sh`).
    pub setup_scripts_dir: Option<PathBuf>,
}

/// A guest as the checks see it: where it is written and what it references.
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
    guests::check_lxc(&mut c);
    guests::check_vms(&mut c);
    net::check_unique_addresses(&mut c);
    host::check_host(&mut c);
    c.report
}

fn lxc_ptr(key: &str) -> String {
    child("/lxc_configs", key)
}

fn vm_ptr(i: usize) -> String {
    child("/vms", &i.to_string())
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn storage_warning(c: &mut Checker<'_>, file: &Path, ptr: &str, id: GuestId, pool: &str) {
    let host = c.inp.files.host.clone();
    let d = c.warn(
        file,
        ptr,
        format!("storage {pool:?} of guest {id} is not defined by the host config"),
    );
    d.hint = Some(format!(
        "define it through zfs.datasets or proxmox_storage_ids in {}, or make sure it exists on the host",
        host.display()
    ));
    d.guest = Some(id);
}
