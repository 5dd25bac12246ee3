//! `cargo xtask install`: lays out an installation from the repository and built binaries.
//!
//! ```text
//! <destdir><prefix>/bin/                 phoenix-cli and the four managers
//! <destdir><prefix>/bin/health_checks/   host-side health checks (setup-scripts/health_checks)
//! <destdir><prefix>/etc/                 example configuration (kept when already there),
//!                                        the JSON Schemas and AppArmor profiles (always ours)
//! <destdir><prefix>/setup-scripts/       lib/, lxc/, vm/, apps/ (tests stay in the repository)
//! <destdir><prefix>/stacks/              example stacks (kept when already there)
//! <destdir><prefix>/share/man/man1/      man pages, generated from clap
//! <destdir><prefix>/share/completions/   bash, zsh and fish completions for `phoenix`
//! <destdir>/usr/local/bin/phoenix        -> <prefix>/bin/phoenix-cli
//! ```
//!
//! Idempotent: a file is written only when its content or mode differs, and an operator's
//! configuration (`etc/*.json` other than schemas, `etc/cloud-init/`, `stacks/`) is never
//! overwritten. Pure but for the file system: the binaries and the generator of man pages
//! and completions are passed in, so the staged tree is tested without building.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The binaries an installation ships.
pub const BINARIES: &[&str] = &[
    "phoenix-cli",
    "lxc-manager",
    "vm-manager",
    "hypervisor-manager",
    "portainer-manager",
];

/// Produces a man page (`man`) or completion script (`bash`, `zsh`, `fish`) for a binary.
pub type Generate<'a> = &'a dyn Fn(&str, &str) -> Result<Vec<u8>, String>;

/// Where to install.
#[derive(Clone, Debug)]
pub struct Options {
    /// Install root on the target system.
    pub prefix: PathBuf,
    /// Staging directory prepended to every path (empty: the real system).
    pub destdir: Option<PathBuf>,
    /// Directory holding the built binaries.
    pub bin_dir: PathBuf,
}

/// What an install did, one line per file.
#[derive(Debug, Default)]
pub struct Report {
    /// `wrote PATH`, `kept PATH (…)`, `linked …`.
    pub lines: Vec<String>,
}

impl Report {
    /// How many files were written or linked.
    pub fn changes(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.starts_with("wrote") || l.starts_with("linked"))
            .count()
    }
}

struct Ctx<'a> {
    opts: &'a Options,
    report: Report,
}

impl Ctx<'_> {
    /// `<destdir><path>`.
    fn staged(&self, path: &Path) -> PathBuf {
        match &self.opts.destdir {
            Some(d) => d.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_path_buf(),
        }
    }

    /// Writes `data` at `<prefix>/rel` unless it is already so (or kept for the operator).
    fn file(&mut self, rel: &str, data: &[u8], mode: u32, keep: bool) -> Result<(), String> {
        let target = self.staged(&self.opts.prefix.join(rel));
        if let Ok(old) = std::fs::read(&target) {
            let old_mode = std::fs::metadata(&target)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0);
            if keep {
                if old != data {
                    self.report
                        .lines
                        .push(format!("kept {rel} (the operator's; ours differs)"));
                }
                return Ok(());
            }
            if old == data && old_mode == mode {
                return Ok(());
            }
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = target.with_extension("xtask-new");
        std::fs::write(&tmp, data).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &target).map_err(|e| format!("{}: {e}", target.display()))?;
        self.report.lines.push(format!("wrote {rel}"));
        Ok(())
    }

    /// Copies every file below `from` to `<prefix>/to`.
    fn tree(
        &mut self,
        from: &Path,
        to: &str,
        mode: &dyn Fn(&Path) -> u32,
        keep: bool,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<(), String> {
        for f in files(from)? {
            let rel = f.strip_prefix(from).map_err(|e| e.to_string())?;
            if skip(rel) {
                continue;
            }
            let data = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            self.file(&format!("{to}/{}", rel.display()), &data, mode(&f), keep)?;
        }
        Ok(())
    }
}

/// Every file below `dir`, sorted (none when it does not exist).
fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(files(&p)?);
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

fn is_schema(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".schema.json")
}

/// Installs from the repository at `root`.
pub fn install(root: &Path, opts: &Options, generate: Generate<'_>) -> Result<Report, String> {
    let mut cx = Ctx {
        opts,
        report: Report::default(),
    };
    for b in BINARIES {
        let src = opts.bin_dir.join(b);
        let data = std::fs::read(&src).map_err(|e| {
            format!(
                "{}: {e} (build it first: cargo build --release)",
                src.display()
            )
        })?;
        cx.file(&format!("bin/{b}"), &data, 0o755, false)?;
    }
    let exec = |_: &Path| 0o755;
    let plain = |_: &Path| 0o644;
    let none = |_: &Path| false;
    cx.tree(
        &root.join("setup-scripts/health_checks"),
        "bin/health_checks",
        &exec,
        false,
        &none,
    )?;
    // The operator's configuration is theirs once installed; the schemas and AppArmor
    // profiles are ours and follow the release.
    let etc = root.join("etc");
    cx.tree(&etc, "etc", &plain, true, &|rel: &Path| {
        is_schema(rel) || rel.starts_with("apparmor")
    })?;
    cx.tree(&etc, "etc", &plain, false, &|rel: &Path| {
        !(is_schema(rel) || rel.starts_with("apparmor"))
    })?;
    for part in ["lib", "lxc", "vm", "apps"] {
        // Installers run as `bash FILE`, health checks by path; the library is sourced.
        let mode = move |p: &Path| {
            if p.extension().is_some_and(|e| e == "sh") && part != "lib" {
                0o755
            } else {
                0o644
            }
        };
        cx.tree(
            &root.join("setup-scripts").join(part),
            &format!("setup-scripts/{part}"),
            &mode,
            false,
            &|rel: &Path| rel.file_name().is_some_and(|n| n == ".gitkeep"),
        )?;
    }
    cx.file(
        "setup-scripts/README.md",
        &std::fs::read(root.join("setup-scripts/README.md")).map_err(|e| e.to_string())?,
        0o644,
        false,
    )?;
    cx.tree(&root.join("stacks"), "stacks", &plain, true, &none)?;
    for b in BINARIES {
        let page = generate(b, "man")?;
        cx.file(&format!("share/man/man1/{b}.1"), &page, 0o644, false)?;
    }
    for (shell, rel) in [
        ("bash", "share/completions/bash/phoenix"),
        ("zsh", "share/completions/zsh/_phoenix"),
        ("fish", "share/completions/fish/phoenix.fish"),
    ] {
        let script = generate("phoenix-cli", shell)?;
        cx.file(rel, &script, 0o644, false)?;
    }
    link(&mut cx)?;
    Ok(cx.report)
}

/// `/usr/local/bin/phoenix` -> `<prefix>/bin/phoenix-cli` (a file in the way is left alone).
fn link(cx: &mut Ctx<'_>) -> Result<(), String> {
    let target = cx.opts.prefix.join("bin/phoenix-cli");
    let link = cx.staged(Path::new("/usr/local/bin/phoenix"));
    match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
                return Ok(());
            }
            std::fs::remove_file(&link).map_err(|e| format!("{}: {e}", link.display()))?;
        }
        Ok(_) => {
            cx.report.lines.push(format!(
                "kept {} (not a link; phoenix is {})",
                link.display(),
                target.display()
            ));
            return Ok(());
        }
        Err(_) => {}
    }
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::os::unix::fs::symlink(&target, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    cx.report.lines.push(format!(
        "linked /usr/local/bin/phoenix -> {}",
        target.display()
    ));
    Ok(())
}

/// The staged tree as text: `mode path` per file, `link path -> target` per link (for
/// snapshots and the `.deb`).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    let path = |l: &String| {
        l.strip_prefix("link ")
            .map(str::to_string)
            .unwrap_or_else(|| {
                l.split_once(' ')
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default()
            })
    };
    out.sort_by_key(path);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() {
            let t = std::fs::read_link(&p).unwrap_or_default();
            out.push(format!("link {rel} -> {}", t.display()));
        } else if m.is_dir() {
            walk(base, &p, out);
        } else {
            out.push(format!("{:04o} {rel}", m.permissions().mode() & 0o7777));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_generate(bin: &str, what: &str) -> Result<Vec<u8>, String> {
        Ok(format!("{what} of {bin}\n").into_bytes())
    }

    fn setup() -> (tempfile::TempDir, Options) {
        let d = tempfile::tempdir().unwrap();
        let bins = d.path().join("bins");
        std::fs::create_dir_all(&bins).unwrap();
        for b in BINARIES {
            std::fs::write(bins.join(b), format!("binary {b}")).unwrap();
        }
        let opts = Options {
            prefix: PathBuf::from("/usr/local/phoenix_hypervisor"),
            destdir: Some(d.path().join("stage")),
            bin_dir: bins,
        };
        (d, opts)
    }

    #[test]
    fn the_staged_tree() {
        let (d, opts) = setup();
        let root = crate::project_root();
        let r = install(&root, &opts, &fake_generate).unwrap();
        assert!(r.changes() > 0);
        let tree = listing(&d.path().join("stage"));
        // Scripts and stacks change as the project grows: the snapshot pins the layout.
        let layout: Vec<String> = tree
            .iter()
            .filter(|l| {
                !l.contains("/setup-scripts/lxc/")
                    && !l.contains("/setup-scripts/vm/")
                    && !l.contains("/setup-scripts/apps/")
                    && !l.contains("/bin/health_checks/")
            })
            .cloned()
            .collect();
        insta::assert_snapshot!(layout.join("\n"));
        for f in crate::tidy::shell_scripts(&root.join("setup-scripts/lxc")) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                tree.contains(&format!(
                    "0755 usr/local/phoenix_hypervisor/setup-scripts/lxc/{name}"
                )),
                "{name} is installed executable"
            );
        }
    }

    #[test]
    fn a_second_install_changes_nothing_and_keeps_the_operators_config() {
        let (d, opts) = setup();
        let root = crate::project_root();
        install(&root, &opts, &fake_generate).unwrap();
        let cfg = d
            .path()
            .join("stage/usr/local/phoenix_hypervisor/etc/phoenix_hypervisor_config.json");
        std::fs::write(&cfg, "{\"operator\": true}\n").unwrap();
        let again = install(&root, &opts, &fake_generate).unwrap();
        assert_eq!(again.changes(), 0, "{:#?}", again.lines);
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            "{\"operator\": true}\n"
        );
        assert!(
            again
                .lines
                .iter()
                .any(|l| l.starts_with("kept etc/phoenix_hypervisor_config.json")),
            "{:#?}",
            again.lines
        );
        // A changed binary is replaced; nothing else moves.
        std::fs::write(opts.bin_dir.join("vm-manager"), "binary vm-manager 2").unwrap();
        let third = install(&root, &opts, &fake_generate).unwrap();
        assert_eq!(third.changes(), 1, "{:#?}", third.lines);
    }
}
