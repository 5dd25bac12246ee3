//! Samba shares, declaratively but without owning `smb.conf`: each configured share is one
//! section marked `# phoenix: managed share`; marked sections no longer configured are
//! removed; `[global]` and every other section (the distribution's `[homes]`,
//! `[printers]`, the operator's own) are kept, except that `workgroup` follows
//! `network.workgroup` when it is set. The new file is checked with `testparm` before it
//! replaces the old one, and `smbd` is reloaded only when it changed.
//!
//! Share directories (`/<path>`) exist, belong to the Samba user and are 0770 — never
//! world-writable, never changed recursively. The Samba account is added with `smbpasswd
//! -s -a`, the password read from `samba.password_file` and passed on stdin; without that
//! file the account is not added and the plan says so (the shell version used a hard-coded
//! password). An existing account's password is left alone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use anyhow::Context;
use phoenix_core::cmd::Cmd;
use phoenix_core::config::host::SambaShare;
use phoenix_core::converge::{Change, Op};
use phoenix_core::host::{accounts, apt, systemd};

use super::users::DEFAULT_SAMBA_USER;
use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::{Ctx, HostAction, Owner, StepPlan};

/// Samba's configuration.
pub const SMB_CONF: &str = "/etc/samba/smb.conf";
/// The comment line that marks a section phoenix manages.
pub const MARK: &str = "# phoenix: managed share";

/// One section of `smb.conf`, with the comment lines and blank lines before it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Section {
    /// The name in brackets (`None`: the lines before the first section).
    name: Option<String>,
    /// Every line, leading comments included.
    lines: Vec<String>,
}

impl Section {
    fn managed(&self) -> bool {
        self.lines.iter().any(|l| l.trim() == MARK)
    }
}

fn header(line: &str) -> Option<String> {
    let t = line.trim();
    (t.starts_with('[') && t.ends_with(']')).then(|| t[1..t.len() - 1].trim().to_string())
}

/// Splits `smb.conf` into sections; comment and blank lines above a header belong to the
/// section before, except phoenix's mark, which starts the section it marks.
fn sections(text: &str) -> Vec<Section> {
    let mut out = vec![Section {
        name: None,
        lines: Vec::new(),
    }];
    let mut pending: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = header(line) {
            // Comments above a header stay with the section before, except our mark and
            // what follows it.
            let own = match pending.iter().rposition(|l| l.trim() == MARK) {
                Some(i) => pending.split_off(i),
                None => Vec::new(),
            };
            out.last_mut()
                .expect("at least one")
                .lines
                .append(&mut pending);
            out.push(Section {
                name: Some(name),
                lines: own,
            });
            out.last_mut().expect("pushed").lines.push(line.to_string());
        } else if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            pending.push(line.to_string());
        } else {
            let last = out.last_mut().expect("at least one");
            last.lines.append(&mut pending);
            last.lines.push(line.to_string());
        }
    }
    out.last_mut()
        .expect("at least one")
        .lines
        .append(&mut pending);
    out
}

/// Sets `key = value` inside a section's lines (replacing the first such line, else
/// adding it after the header).
fn set_param(s: &mut Section, key: &str, value: &str) {
    let norm = |k: &str| {
        k.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    let line = format!("   {key} = {value}");
    if let Some(l) = s.lines.iter_mut().find(|l| {
        l.split_once('=')
            .is_some_and(|(k, _)| !l.trim_start().starts_with(['#', ';']) && norm(k) == key)
    }) {
        *l = line;
    } else if let Some(i) = s.lines.iter().position(|l| header(l).is_some()) {
        s.lines.insert(i + 1, line);
    }
}

/// The absolute path of a share (`quickOS/shared-prod-data` → `/quickOS/shared-prod-data`).
pub fn share_path(share: &SambaShare) -> String {
    format!("/{}", share.path.trim_start_matches('/'))
}

/// The section for one share (pure).
pub fn render_share(share: &SambaShare, user: &str) -> Vec<String> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let users = if share.valid_users.is_empty() {
        user.to_string()
    } else {
        share.valid_users.join(" ")
    };
    vec![
        MARK.to_string(),
        format!("[{}]", share.name),
        format!("   path = {}", share_path(share)),
        format!("   browseable = {}", yes(share.browsable.unwrap_or(true))),
        format!("   read only = {}", yes(share.read_only.unwrap_or(false))),
        format!("   guest ok = {}", yes(share.guest_ok.unwrap_or(false))),
        format!("   valid users = {users}"),
        format!("   force group = {user}"),
        "   create mask = 0660".to_string(),
        "   directory mask = 0770".to_string(),
    ]
}

/// `smb.conf` with the configured shares (pure): unmanaged sections kept in place, managed
/// ones replaced by the configured shares, appended in configuration order. Names and paths
/// were checked when the configuration loaded.
pub fn desired(
    current: &str,
    shares: &[SambaShare],
    user: &str,
    workgroup: Option<&str>,
) -> String {
    let configured = |n: &str| shares.iter().any(|s| s.name.eq_ignore_ascii_case(n));
    let mut kept: Vec<Section> = sections(current)
        .into_iter()
        .filter(|s| match &s.name {
            Some(n) => !s.managed() && !configured(n),
            None => true,
        })
        .collect();
    if !kept.iter().any(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case("global"))
    }) {
        kept.insert(
            1.min(kept.len()),
            Section {
                name: Some("global".into()),
                lines: vec![
                    "[global]".into(),
                    "   workgroup = WORKGROUP".into(),
                    "   server role = standalone server".into(),
                    "   map to guest = bad user".into(),
                ],
            },
        );
    }
    if let Some(w) = workgroup {
        if let Some(g) = kept.iter_mut().find(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("global"))
        }) {
            set_param(g, "workgroup", w);
        }
    }
    let mut lines: Vec<String> = kept.into_iter().flat_map(|s| s.lines).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    for s in shares {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(render_share(s, user));
    }
    lines.join("\n") + "\n"
}

/// Plans the Samba shares (nothing when none are configured).
pub fn plan(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let Some(samba) = ctx.cfg.host.samba.as_ref().filter(|s| !s.shares.is_empty()) else {
        return Ok(());
    };
    let user = samba.user.as_deref().unwrap_or(DEFAULT_SAMBA_USER);
    let owner = Owner::User(user.to_string());
    let account = accounts::user(ctx.runner, user)?;
    // Directories.
    for s in &samba.shares {
        let path = share_path(s);
        match std::fs::metadata(ctx.layout.host(&path)) {
            Err(_) => p.push(
                Change::new(Op::Add, "samba", format!("directory {path}"))
                    .to(format!("{user}, 0770")),
                HostAction::Dir {
                    path: path.clone(),
                    mode: 0o770,
                    owner: Some(owner.clone()),
                },
            ),
            Ok(m) => {
                // Setup gives a share directory to the Samba user only when this run made
                // it (its dataset or the directory itself): an existing directory is the
                // operator's, and a mismatch is only shown.
                let ours = ctx.created_this_run(&path);
                let mode = m.permissions().mode() & 0o7777;
                let owner_differs = account
                    .as_ref()
                    .is_none_or(|a| (a.uid, a.gid) != (m.uid(), m.gid()));
                if owner_differs && ours {
                    p.push(
                        Change::new(Op::Change, "samba", format!("owner of {path}")).to(user),
                        HostAction::Chown {
                            path: path.clone(),
                            owner: owner.clone(),
                        },
                    );
                } else if owner_differs {
                    p.note(
                        "samba",
                        format!(
                            "{path} is owned by {}:{}, not {user}: left as it is (setup changes the owner only of directories it creates); `chown {user} {path}` if {user} should write there",
                            m.uid(),
                            m.gid()
                        ),
                    );
                }
                if mode != 0o770 && ours {
                    p.push(
                        Change::new(Op::Change, "samba", format!("mode of {path}"))
                            .from(format!("{mode:04o}"))
                            .to("0770"),
                        HostAction::Mode { path, mode: 0o770 },
                    );
                } else if mode != 0o770 && owner_differs {
                    // Shown with the owner above.
                } else if mode != 0o770 {
                    p.note(
                        "samba",
                        format!("{path} has mode {mode:04o}, not 0770: left as it is"),
                    );
                }
            }
        }
    }
    // smb.conf, then the daemon.
    let current = ctx.read(SMB_CONF)?.unwrap_or_default();
    let want = desired(
        &current,
        &samba.shares,
        user,
        ctx.cfg.host.network.workgroup.as_deref(),
    );
    let changed = files::plan(
        ctx,
        Managed::new("samba", SMB_CONF, want, 0o644).checked(&[
            "testparm",
            "-s",
            "--suppress-prompt",
            "{}",
        ]),
        p,
    )?;
    let smbd = systemd::state(ctx.runner, "smbd")?;
    match systemd::ensure_running("smbd", smbd) {
        Some(c) => p.push(
            Change::new(Op::Run, "samba", c.to_string()),
            HostAction::Run(c),
        ),
        None if changed => {
            let c = systemd::cmd("reload", "smbd");
            p.push(
                Change::new(Op::Run, "samba", c.to_string()),
                HostAction::Run(c),
            );
        }
        None => {}
    }
    // The Samba account.
    let installed = !apt::installed(ctx.runner, &["samba"])?.is_empty();
    let has_account = installed
        && ctx
            .runner
            .run(&Cmd::read("pdbedit").arg("-L"))
            .context("cannot list the Samba accounts")?
            .stdout_str()
            .lines()
            .any(|l| l.split(':').next() == Some(user));
    if !has_account {
        match samba.password_file.as_deref() {
            Some(f) => {
                let pw = phoenix_core::step::files::read_secret(
                    ctx.layout,
                    "samba.password_file",
                    f,
                    &format!("{user}'s Samba password"),
                )?;
                p.push(
                    Change::new(Op::Add, "samba", format!("Samba account {user}"))
                        .to(format!("password from {f}")),
                    HostAction::Run(
                        Cmd::mutate("smbpasswd")
                            .args(["-s", "-a", user])
                            .stdin(format!("{pw}\n{pw}\n")),
                    ),
                );
            }
            None => p.note(
                "samba",
                format!("{user} has no Samba account: set samba.password_file to add one"),
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str, path: &str) -> SambaShare {
        SambaShare {
            name: name.into(),
            path: path.into(),
            valid_users: vec!["heads".into()],
            ..SambaShare::default()
        }
    }

    const DEBIAN: &str = "#======================= Global Settings =======================\n\n[global]\n   workgroup = WORKGROUP\n   server role = standalone server\n\n[homes]\n   comment = Home Directories\n   browseable = no\n\n;[printers]\n#   comment = All Printers\n";

    #[test]
    fn shares_are_added_and_the_rest_kept() {
        let want = desired(DEBIAN, &[share("data", "tank/data")], "heads", Some("LAB"));
        assert!(
            want.starts_with("#======================= Global Settings"),
            "{want}"
        );
        assert!(
            want.contains("[global]\n   workgroup = LAB\n   server role"),
            "{want}"
        );
        assert!(
            want.contains("[homes]\n   comment = Home Directories"),
            "{want}"
        );
        assert!(want.contains(";[printers]"), "{want}");
        assert!(
            want.ends_with("\n\n# phoenix: managed share\n[data]\n   path = /tank/data\n   browseable = yes\n   read only = no\n   guest ok = no\n   valid users = heads\n   force group = heads\n   create mask = 0660\n   directory mask = 0770\n"),
            "{want}"
        );
        assert_eq!(
            desired(&want, &[share("data", "tank/data")], "heads", Some("LAB")),
            want,
            "converged"
        );
        let gone = desired(&want, &[], "heads", Some("LAB"));
        assert!(!gone.contains("[data]") && !gone.contains(MARK), "{gone}");
        assert!(gone.contains("[homes]"));
    }

    #[test]
    fn an_unmarked_section_with_a_configured_name_is_taken_over() {
        let cur = "[global]\n   workgroup = X\n\n[data]\n   path = /old\n";
        let want = desired(cur, &[share("data", "/tank/data")], "heads", None);
        assert!(
            !want.contains("/old") && want.contains("path = /tank/data"),
            "{want}"
        );
        assert!(
            want.contains("workgroup = X"),
            "workgroup left alone: {want}"
        );
    }

    #[test]
    fn a_missing_file_gets_a_global_section() {
        let want = desired("", &[share("data", "tank/data")], "heads", None);
        assert!(
            want.starts_with("[global]\n   workgroup = WORKGROUP\n"),
            "{want}"
        );
    }
}
