//! AppArmor: the profiles the installation ships in `etc/apparmor/` (such as
//! `lxc-phoenix-v2`, Docker in unprivileged containers) and their tunables in
//! `etc/apparmor/tunables/`, installed under `/etc/apparmor.d/` and loaded.
//!
//! A profile file is written only when it differs (checked with `apparmor_parser
//! --skip-kernel-load` first) and loaded with `apparmor_parser --replace`, which swaps the
//! policy in place: a profile is never unloaded first (the shell version's `-R` then `-a`
//! left running containers unconfined in between). A profile is reloaded when its file or a
//! tunable changed, or when the kernel does not have it loaded. Each file must define the
//! profile named like the file, because that name is what lxc-manager writes into
//! `lxc.apparmor.profile` (the shell version renamed profiles while loading them, so the
//! names never matched). The distribution's `tunables/home` is left alone.

use std::path::Path;

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::converge::{Change, Op};

use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::{Ctx, HostAction, HostStep, StepPlan};

/// Where the kernel lists the loaded profiles.
pub const LOADED: &str = "/sys/kernel/security/apparmor/profiles";
/// Where profiles live on the host.
pub const PROFILE_DIR: &str = "/etc/apparmor.d";

/// The step.
pub struct AppArmor;

/// The names of the top-level profiles a policy file defines (pure): `profile NAME …{` or
/// an attachment path `/usr/bin/x …{` at brace depth 0.
pub fn profile_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if depth == 0 && line.ends_with('{') {
            let mut w = line.split_whitespace();
            match w.next() {
                Some("profile") => {
                    if let Some(n) = w.next() {
                        names.push(n.trim_end_matches('{').trim_matches('"').to_string());
                    }
                }
                Some(p) if p.starts_with('/') => names.push(p.to_string()),
                _ => {}
            }
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
    }
    names
}

/// The profile names the kernel has loaded, from [`LOADED`] (`name (enforce)` lines).
pub fn loaded_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.rsplit_once(" (").map(|(n, _)| n.to_string()))
        .collect()
}

/// The regular files of `dir` (not hidden), sorted.
fn files_in(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type()?.is_file() {
            continue;
        }
        let text = phoenix_core::files::read_to_string(e.path())
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        out.push((name, text));
    }
    out.sort();
    Ok(out)
}

impl HostStep for AppArmor {
    fn name(&self) -> &'static str {
        "apparmor"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        let src = ctx.layout.etc_dir().join("apparmor");
        let profiles = files_in(&src)?;
        let tunables = files_in(&src.join("tunables"))?;
        if profiles.is_empty() && tunables.is_empty() {
            p.note(
                "apparmor",
                format!("no profiles are shipped in {}", src.display()),
            );
            return Ok(p);
        }
        let mut tunables_changed = false;
        for (name, text) in tunables {
            let path = format!("{PROFILE_DIR}/tunables/{name}");
            tunables_changed |=
                files::plan(ctx, Managed::new("apparmor", path, text, 0o644), &mut p)?;
        }
        let loaded = ctx.read(LOADED)?;
        if loaded.is_none() && !profiles.is_empty() {
            p.note(
                "apparmor",
                format!("AppArmor is not enabled in this kernel ({LOADED} is missing): profiles are installed, not loaded"),
            );
        }
        let loaded = loaded.as_deref().map(loaded_names);
        for (name, text) in profiles {
            let names = profile_names(&text);
            if names != [name.as_str()] {
                bail!(
                    "{}: the file must define exactly one profile, named {name} like the file (lxc-manager writes the file name into lxc.apparmor.profile); it defines {names:?}",
                    src.join(&name).display()
                );
            }
            let path = format!("{PROFILE_DIR}/{name}");
            let changed = files::plan(
                ctx,
                Managed::new("apparmor", path.clone(), text, 0o644).checked(&[
                    "apparmor_parser",
                    "--skip-kernel-load",
                    "--skip-cache",
                    "--quiet",
                    "{}",
                ]),
                &mut p,
            )?;
            let Some(loaded) = &loaded else { continue };
            let is_loaded = loaded.contains(&name);
            if changed || tunables_changed || !is_loaded {
                let why = if !is_loaded { "not loaded" } else { "changed" };
                p.push(
                    Change::new(Op::Run, "apparmor", format!("load profile {name} ({why})")),
                    HostAction::Run(Cmd::mutate("apparmor_parser").args([
                        "--replace".as_ref(),
                        "--write-cache".as_ref(),
                        ctx.layout.host(&path).as_os_str(),
                    ])),
                );
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_come_from_top_level_blocks() {
        let shipped = include_str!("../../../etc/apparmor/lxc-phoenix-v2");
        assert_eq!(profile_names(shipped), ["lxc-phoenix-v2"]);
        let two = "#include <tunables/global>\n/usr/bin/foo flags=(complain) {\n  profile inner {\n  }\n}\nprofile \"bar\" {\n}\n";
        assert_eq!(profile_names(two), ["/usr/bin/foo", "bar"]);
    }

    #[test]
    fn loaded_profiles_are_read_from_securityfs() {
        let text = "lxc-container-default-with-nesting (enforce)\n/usr/bin/lxc-start (enforce)\nlxc-phoenix-v2 (complain)\n";
        assert_eq!(
            loaded_names(text),
            [
                "lxc-container-default-with-nesting",
                "/usr/bin/lxc-start",
                "lxc-phoenix-v2"
            ]
        );
    }
}
