//! Users (names and the SSH key were checked when the configuration loaded): the administrator (`users`) and the service user that owns the Samba shares
//! (`samba.user`).
//!
//! - The administrator is created when missing (`useradd --create-home --shell /bin/bash`);
//!   its password hash comes from `users.password_hash_file` (or, with a warning, the inline
//!   `password_hash`) and is set with `chpasswd --encrypted` on stdin only when the shadow
//!   entry differs — never prompted for, never in argv.
//! - `sudo_access` is one drop-in, `/etc/sudoers.d/phoenix` (0440), validated with `visudo
//!   -c -f` before it replaces the old one; without `sudo_access` it is removed. `/etc/sudoers`
//!   itself is never edited.
//! - The administrator is a Proxmox user (`<name>@pam`) with the `Administrator` role on `/`,
//!   checked against `pveum … --output-format json` (the shell version re-granted it every
//!   run).
//! - `ssh_public_key` is kept in `~/.ssh/authorized_keys` (0600, the user's), other keys
//!   kept.
//! - The Samba user, when it is not the administrator, is created as a service user without
//!   a login shell.

use anyhow::{Context, bail};
use phoenix_core::cmd::Cmd;
use phoenix_core::converge::{Change, Op};
use phoenix_core::host::accounts::{self, Passwd};
use phoenix_core::pve::access;

use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::{Ctx, HostAction, HostStep, Owner, StepPlan};

/// The sudoers drop-in phoenix owns.
pub const SUDOERS: &str = "/etc/sudoers.d/phoenix";
/// The administrator's name when the configuration gives none (as in the shell version).
pub const DEFAULT_ADMIN: &str = "phoenix_admin";
/// The Samba user when the configuration gives none (as in the shell version).
pub const DEFAULT_SAMBA_USER: &str = "heads";

/// The step.
pub struct Users;

/// The sudoers drop-in granting `user` full sudo (pure).
pub fn sudoers(user: &str) -> String {
    format!(
        "# Managed by phoenix hypervisor-manager (setup --step users); edits are overwritten.\n\
         # users.sudo_access: {user} may run any command as any user, with their password.\n\
         {user} ALL=(ALL:ALL) ALL\n"
    )
}

/// `authorized_keys` with `key` in it: the file as it is when a line already holds the
/// key, else the key appended (pure).
pub fn with_key(current: &str, key: &str) -> Option<String> {
    if current.lines().any(|l| l.trim() == key) {
        return None;
    }
    let mut t = current.to_string();
    if !t.is_empty() && !t.ends_with('\n') {
        t.push('\n');
    }
    t.push_str(key);
    t.push('\n');
    Some(t)
}

/// The administrator's password hash: from the file named in config, else the inline value
/// (with a warning), else none. A hash that is not crypt(3) is an error.
fn admin_hash(ctx: &Ctx<'_>) -> anyhow::Result<Option<String>> {
    let Some(u) = &ctx.cfg.host.users else {
        return Ok(None);
    };
    let hash = if let Some(f) = u.password_hash_file.as_deref() {
        phoenix_core::step::files::read_secret(
            ctx.layout,
            "users.password_hash_file",
            f,
            "the admin's crypt(3) hash, e.g. from `mkpasswd -m yescrypt`",
        )?
        .trim()
        .to_string()
    } else {
        match u.password_hash.as_deref().map(str::trim) {
            None | Some("") | Some("NOT_SET") => return Ok(None),
            Some(h) => {
                tracing::warn!(
                    "users.password_hash is inline in the configuration; move it to a file named by users.password_hash_file"
                );
                h.to_string()
            }
        }
    };
    if !accounts::is_crypt_hash(&hash) {
        bail!(
            "the admin password hash is not a crypt(3) hash ($id$salt$hash); nothing was changed"
        );
    }
    Ok(Some(hash))
}

fn plan_admin(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<Option<String>> {
    let Some(cfg) = &ctx.cfg.host.users else {
        p.note("users", "no users block: no administrator is managed");
        return Ok(None);
    };
    let name = cfg.username.as_deref().unwrap_or(DEFAULT_ADMIN).to_string();
    let hash = admin_hash(ctx)?;
    let existing: Option<Passwd> = accounts::user(ctx.runner, &name)?;
    if existing.is_none() {
        p.push(
            Change::new(Op::Add, "users", format!("user {name}")).to("administrator, /bin/bash"),
            HostAction::Run(Cmd::mutate("useradd").args([
                "--create-home",
                "--shell",
                "/bin/bash",
                "--comment",
                "Phoenix Hypervisor administrator",
                &name,
            ])),
        );
    }
    match &hash {
        Some(h) => {
            let now = match existing {
                Some(_) => accounts::password_hash(ctx.runner, &name)?,
                None => None,
            };
            if now.as_deref() != Some(h.as_str()) {
                p.push(
                    Change::new(Op::Change, "users", format!("password of {name}"))
                        .to("the configured hash"),
                    HostAction::Run(
                        Cmd::mutate("chpasswd")
                            .arg("--encrypted")
                            .stdin(format!("{name}:{h}\n")),
                    ),
                );
            }
        }
        None => p.note(
            "users",
            format!(
                "{name} has no password (set users.password_hash_file): log in with an SSH key"
            ),
        ),
    }
    // sudo
    if cfg.sudo_access == Some(true) {
        files::plan(
            ctx,
            Managed::new("sudo", SUDOERS, sudoers(&name), 0o440)
                .checked(&["visudo", "-c", "-q", "-f", "{}"]),
            p,
        )?;
        if hash.is_none() {
            p.note(
                "sudo",
                format!("{name} has no password, so sudo will ask for one it cannot check"),
            );
        }
    } else {
        files::plan_absent(ctx, "sudo", SUDOERS, "users.sudo_access is not true", p);
    }
    // SSH key
    if let Some(key) = cfg
        .ssh_public_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let home = match accounts::user(ctx.runner, &name)? {
            Some(u) => u.home,
            None => format!("/home/{name}"),
        };
        let dir = format!("{home}/.ssh");
        let owner = Owner::User(name.clone());
        if !ctx.layout.host(&dir).is_dir() {
            p.actions.push(HostAction::Dir {
                path: dir.clone(),
                mode: 0o700,
                owner: Some(owner.clone()),
            });
        }
        let keys = format!("{dir}/authorized_keys");
        let current = ctx.read(&keys)?.unwrap_or_default();
        let text = with_key(&current, key).unwrap_or(current);
        files::plan(ctx, Managed::new("ssh", keys, text, 0o600).owned(owner), p)?;
    }
    // Proxmox user and role
    let userid = format!("{name}@pam");
    let users = ctx
        .runner
        .run(&Cmd::read("pveum").args(["user", "list", "--output-format", "json"]))
        .context("cannot list Proxmox users")?;
    let users = access::parse_users(&users.stdout_str())?;
    if !users.iter().any(|u| u.userid == userid) {
        p.push(
            Change::new(Op::Add, "proxmox", format!("user {userid}")),
            HostAction::Run(Cmd::mutate("pveum").args([
                "user",
                "add",
                &userid,
                "--comment",
                "Phoenix Hypervisor administrator",
            ])),
        );
    }
    let acls = ctx
        .runner
        .run(&Cmd::read("pveum").args(["acl", "list", "--output-format", "json"]))
        .context("cannot list Proxmox ACLs")?;
    let acls = access::parse_acls(&acls.stdout_str())?;
    if !access::has_role(&acls, "/", &userid, "Administrator") {
        p.push(
            Change::new(
                Op::Add,
                "proxmox",
                format!("role Administrator on / for {userid}"),
            ),
            HostAction::Run(Cmd::mutate("pveum").args([
                "acl",
                "modify",
                "/",
                "--users",
                &userid,
                "--roles",
                "Administrator",
            ])),
        );
    }
    Ok(Some(name))
}

fn plan_samba_user(
    ctx: &Ctx<'_>,
    admin: Option<&str>,
    p: &mut StepPlan<HostAction>,
) -> anyhow::Result<()> {
    let Some(samba) = ctx.cfg.host.samba.as_ref().filter(|s| !s.shares.is_empty()) else {
        return Ok(());
    };
    let name = samba.user.as_deref().unwrap_or(DEFAULT_SAMBA_USER);
    if Some(name) == admin {
        return Ok(());
    }
    if accounts::user(ctx.runner, name)?.is_none() {
        p.push(
            Change::new(Op::Add, "users", format!("user {name}"))
                .to("owns the Samba shares, no login shell"),
            HostAction::Run(Cmd::mutate("useradd").args([
                "--create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                "Phoenix Samba shares",
                name,
            ])),
        );
    }
    Ok(())
}

impl HostStep for Users {
    fn name(&self) -> &'static str {
        "users"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        let admin = plan_admin(ctx, &mut p)?;
        plan_samba_user(ctx, admin.as_deref(), &mut p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudoers_grants_the_admin_only() {
        assert!(sudoers("phoenix_admin").ends_with("\nphoenix_admin ALL=(ALL:ALL) ALL\n"));
    }

    #[test]
    fn keys_are_added_once_and_others_kept() {
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1abcdefghijklmnop ops@lab";
        assert_eq!(
            with_key("ssh-rsa AAAAother", k).unwrap(),
            format!("ssh-rsa AAAAother\n{k}\n")
        );
        assert_eq!(with_key(&format!("{k}\n"), k), None);
    }
}
