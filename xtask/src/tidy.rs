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
            "tests/support",
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
