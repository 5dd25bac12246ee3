//! Repository hygiene, checked by `cargo test` (see the tests below).

use std::path::{Path, PathBuf};

/// Every `*.sh` under `dir`, sorted.
pub fn shell_scripts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if p.extension().is_some_and(|e| e == "sh") {
            out.push(p.to_path_buf());
        }
    });
    out.sort();
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&p, f);
            }
        } else {
            f(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project_root;

    fn rust_files() -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&project_root(), &mut |p| {
            if p.extension().is_some_and(|e| e == "rs") {
                out.push(p.to_path_buf());
            }
        });
        out
    }

    const PRODUCT_CRATES: [&str; 7] = [
        "phoenix-paths",
        "phoenix-core",
        "phoenix-cli",
        "lxc-manager",
        "vm-manager",
        "hypervisor-manager",
        "portainer-manager",
    ];

    /// Every crate's modules are layered: no two modules reach each other through their
    /// `use`s and paths (`crate::modgraph`).
    #[test]
    fn no_module_import_cycle() {
        let mut found = Vec::new();
        for krate in PRODUCT_CRATES
            .iter()
            .chain(&["pve-sim", "phoenix-testkit", "xtask"])
        {
            for c in crate::modgraph::cycles(&crate::modgraph::graph(
                &project_root().join(krate).join("src"),
            )) {
                found.push(format!("{krate}: {}", c.join(" <-> ")));
            }
        }
        assert!(
            found.is_empty(),
            "module import cycles:\n{}",
            found.join("\n")
        );
    }

    /// No product source file (tests inside `src/` included) is over 800 lines: a file that
    /// grows past it has more than one job.
    #[test]
    fn no_product_source_file_over_800_lines() {
        let mut big = Vec::new();
        for krate in PRODUCT_CRATES {
            walk(&project_root().join(krate).join("src"), &mut |p| {
                let n = std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
                if p.extension().is_some_and(|e| e == "rs") && n > 800 {
                    big.push(format!("{} ({n} lines)", p.display()));
                }
            });
        }
        assert!(big.is_empty(), "split these files:\n{}", big.join("\n"));
    }

    /// The dependency rule (ARCHITECTURE.md): `phoenix-paths` → `phoenix-core` → each binary
    /// crate; no binary crate depends on another (what two binaries share lives in
    /// `phoenix-core`). The simulator and the test kit are tools: product binaries may use
    /// them in tests only (`[dev-dependencies]`).
    #[test]
    fn no_binary_crate_depends_on_another() {
        let binaries = [
            "phoenix-cli",
            "hypervisor-manager",
            "lxc-manager",
            "vm-manager",
            "portainer-manager",
        ];
        let tools = ["pve-sim", "phoenix-testkit", "xtask"];
        let mut offenders = Vec::new();
        for krate in binaries {
            let toml = std::fs::read_to_string(project_root().join(krate).join("Cargo.toml"))
                .expect("Cargo.toml");
            let mut section = String::new();
            for line in toml.lines() {
                let t = line.trim();
                if t.starts_with('[') {
                    section = t.to_string();
                    continue;
                }
                let Some(name) = t.split(['=', ' ', '.']).next().filter(|n| !n.is_empty()) else {
                    continue;
                };
                let runtime = section == "[dependencies]" || section == "[build-dependencies]";
                let other_binary = binaries.contains(&name) && name != krate;
                if other_binary || (runtime && tools.contains(&name)) {
                    offenders.push(format!("{krate} {section}: {name}"));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "a binary crate names another (move what they share to phoenix-core): {offenders:#?}"
        );
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        let missing: Vec<String> = rust_files()
            .into_iter()
            .filter(|p| {
                !std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .trim_start()
                    .starts_with("//!")
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(missing.is_empty(), "add a `//!` header to: {missing:#?}");
    }

    #[test]
    fn no_ignored_or_should_panic_tests() {
        let needles = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
        let offenders: Vec<String> = rust_files()
            .into_iter()
            .filter(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                needles.iter().any(|n| text.contains(n))
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "tests must run and assert behavior: {offenders:#?}"
        );
    }

    #[test]
    fn process_spawning_stays_behind_the_runner() {
        // clippy enforces this too; this check also covers code clippy does not lint.
        let allowed = [
            "phoenix-core/src/cmd/exec.rs",
            "xtask/src/main.rs",
            "phoenix-cli/tests/it/support/",
            // The simulator's real guests (systemd-nspawn, nsenter, ip netns, their archive
            // proxy): test tooling that does not link phoenix-core.
            "pve-sim/src/real/",
        ];
        let needle = concat!("Command", "::new(");
        let offenders: Vec<String> = rust_files()
            .into_iter()
            .filter(|p| !allowed.iter().any(|a| p.to_string_lossy().contains(a)))
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .contains(needle)
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "run commands through phoenix_core::cmd::Runner: {offenders:#?}"
        );
    }

    /// Files are read into memory through `phoenix_core::files` only, which refuses devices,
    /// FIFOs and files over its limit (issue 15: a config symlinked to /dev/zero). Checked in
    /// the product's sources, up to their `#[cfg(test)]` module.
    #[test]
    fn file_reads_stay_bounded() {
        let crates = [
            "phoenix-core/src",
            "phoenix-cli/src",
            "lxc-manager/src",
            "vm-manager/src",
            "hypervisor-manager/src",
            "portainer-manager/src",
        ];
        let needles = [
            concat!("fs::", "read("),
            concat!("fs::", "read_to_string("),
            concat!("File::", "open("),
        ];
        let offenders: Vec<String> = rust_files()
            .into_iter()
            .filter(|p| {
                let s = p.to_string_lossy();
                crates.iter().any(|c| s.contains(c))
                    && !s.ends_with("phoenix-core/src/files.rs")
                    && !s.contains("/tests")
            })
            .filter(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let product = text.split("#[cfg(test)]").next().unwrap_or_default();
                needles.iter().any(|n| product.contains(n))
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "read files through phoenix_core::files (bounded, regular files only): {offenders:#?}"
        );
    }

    /// The architecture document and the decisions record, from the repository root.
    const ARCHITECTURE: &str = "ARCHITECTURE.md";
    const DECISIONS: &str = "docs/decisions.md";

    /// A code span (`` `…` ``) of a document, with the directory of the `###` section it is
    /// in: a heading whose first code span names a directory of the repository
    /// (`` ### `lxc-manager` ``) sets it until the next heading.
    struct Span {
        text: String,
        line: usize,
        section_dir: Option<String>,
    }

    /// The code spans of a Markdown document outside fenced blocks. A span broken across
    /// lines keeps a space for the line break.
    fn code_spans(text: &str) -> Vec<Span> {
        let root = project_root();
        let mut spans = Vec::new();
        let (mut fenced, mut inside) = (false, false);
        let mut section_dir = None;
        let mut buf = String::new();
        for (n, line) in text.lines().enumerate() {
            if !inside && line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            if !inside && line.starts_with('#') {
                section_dir = line
                    .starts_with("### ")
                    .then(|| line.split('`').nth(1))
                    .flatten()
                    .map(|s| s.trim_end_matches('/').to_string())
                    .filter(|d| !d.is_empty() && !d.contains("..") && root.join(d).is_dir());
            }
            for (k, part) in line.split('`').enumerate() {
                if k > 0 {
                    if inside {
                        spans.push(Span {
                            text: std::mem::take(&mut buf),
                            line: n + 1,
                            section_dir: section_dir.clone(),
                        });
                    }
                    inside = !inside;
                }
                if inside {
                    buf.push_str(part);
                }
            }
            if inside {
                buf.push(' ');
            }
        }
        spans
    }

    /// Whether a code span reads as a relative file path: no white space, no characters of
    /// commands, patterns or placeholders, not a host path (`/…`), a variable (`$…`) or a
    /// flag (`-…`), and either a `/` in it or a file extension of ours.
    fn looks_like_path(s: &str) -> bool {
        const EXTENSIONS: [&str; 9] = [
            ".rs", ".toml", ".md", ".json", ".sh", ".yml", ".yaml", ".lock", ".snap",
        ];
        !s.is_empty()
            && !s.starts_with(['/', '$', '-', '~'])
            && !s
                .chars()
                .any(|c| c.is_whitespace() || "<>{}[]()*|:=…,;'\"@#%&!?+^".contains(c))
            && (s.contains('/')
                || EXTENSIONS
                    .iter()
                    .any(|e| s.len() > e.len() && s.ends_with(e)))
    }

    /// What is wrong with the repository paths `doc` names (empty when nothing). A code span
    /// is a path by [`looks_like_path`]; `PATH::name` (a test or function, as
    /// `phoenix-cli/tests/dispatch.rs::a_missing_manager_is_named`) names `PATH`, which must
    /// then also define `fn name`. A path with a `..` component leaves the repository and is
    /// always wrong. With `every`, each path must exist, relative to the repository root or,
    /// inside a crate's section, to that crate's directory or its `src/`; without it, only
    /// paths whose first component is an entry of the repository root are checked (a
    /// document that also cites upstream sources such as pve-container's
    /// `src/PVE/LXC/Config.pm`).
    fn missing_paths(doc: &str, every: bool) -> Vec<String> {
        let root = project_root();
        let text = std::fs::read_to_string(root.join(doc)).expect("document");
        let mut wrong = Vec::new();
        for span in code_spans(&text) {
            let (path, item) = match span.text.split_once("::") {
                Some((p, item)) if p.ends_with(".rs") => (p, Some(item)),
                _ => (span.text.as_str(), None),
            };
            if !looks_like_path(path) {
                continue;
            }
            let at = format!("{doc}:{}: `{}`", span.line, span.text);
            if path.split('/').any(|c| c == "..") {
                wrong.push(format!("{at} leaves the repository"));
                continue;
            }
            let first = path.split('/').next().unwrap_or_default();
            if !every && !root.join(first).exists() {
                continue;
            }
            let mut candidates = vec![root.join(path)];
            if let Some(dir) = &span.section_dir {
                candidates.push(root.join(dir).join(path));
                candidates.push(root.join(dir).join("src").join(path));
            }
            let Some(found) = candidates.into_iter().find(|c| c.exists()) else {
                wrong.push(format!("{at} does not exist"));
                continue;
            };
            if let Some(item) = item {
                let name: String = item
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let source = std::fs::read_to_string(&found).unwrap_or_default();
                if !source.contains(&format!("fn {name}(")) {
                    wrong.push(format!("{at}: no `fn {name}` in {}", found.display()));
                }
            }
        }
        wrong
    }

    /// Every repository path ARCHITECTURE.md names exists, and every test or function it
    /// names as `PATH::name` is defined there: a code span is a path when it has no white
    /// space, does not start with `/`, `$`, `-` or `~`, holds none of `<>{}[]()*|:=…,;` and
    /// the like, and contains a `/` or ends in `.rs`, `.toml`, `.md`, `.json`, `.sh`, `.yml`,
    /// `.yaml`, `.lock` or `.snap`. It is resolved against the repository root or, under a
    /// `###` heading that names a directory (`` ### `vm-manager` ``), against that directory
    /// and its `src/`. Host paths are written absolute (`/etc/pve/…`), so they are not taken
    /// for repository paths. docs/decisions.md also cites upstream sources, so there only the
    /// paths that start with an entry of the repository root (`etc/…`, `phoenix-core/…`) are
    /// checked. In both, a path through `..` is an error.
    #[test]
    fn architecture_names_only_paths_that_exist() {
        let mut wrong = missing_paths(ARCHITECTURE, true);
        wrong.extend(missing_paths(DECISIONS, false));
        assert!(
            wrong.is_empty(),
            "fix the document or the path (keep the docs true to the tree): {wrong:#?}"
        );
    }

    /// ARCHITECTURE.md stays a map: at most 350 lines (decisions go to docs/decisions.md).
    #[test]
    fn architecture_is_short() {
        let text = std::fs::read_to_string(project_root().join(ARCHITECTURE)).expect("document");
        let lines = text.lines().count();
        assert!(
            lines <= 350,
            "{ARCHITECTURE} has {lines} lines (at most 350): move the why to {DECISIONS}"
        );
    }

    /// The docs stand on their own: neither names the specification documents kept beside a
    /// checkout (`../shared`, `shared/spec`) or cites their sections (`§`).
    #[test]
    fn docs_reference_nothing_outside_the_repository() {
        let needles = ["../shared", "shared/spec", "§"];
        let mut offenders = Vec::new();
        for doc in [ARCHITECTURE, DECISIONS] {
            let text = std::fs::read_to_string(project_root().join(doc)).expect("document");
            for (n, line) in text.lines().enumerate() {
                for needle in needles.iter().filter(|&&needle| line.contains(needle)) {
                    offenders.push(format!("{doc}:{}: `{needle}` in {line:?}", n + 1));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "describe the fact here instead of citing a document outside the repository: {offenders:#?}"
        );
    }

    #[test]
    fn shell_scripts_are_strict() {
        let lax: Vec<String> = shell_scripts(&project_root().join("setup-scripts"))
            .into_iter()
            .filter(|p| {
                !std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .take(5)
                    .any(|l| l.trim() == "set -euo pipefail")
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            lax.is_empty(),
            "start these with `set -euo pipefail`: {lax:#?}"
        );
    }
}
