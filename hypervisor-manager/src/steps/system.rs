//! Initial system setup (the configuration's values were checked when it loaded): the packages the later steps need (only the missing ones, never an
//! upgrade of anything else), NTP (chrony) running, the time zone and locale from the
//! configuration, log rotation for our log, the global `phoenix` link, and the host name —
//! only when the configuration names one, and never on a node that is clustered or already
//! holds guests (Proxmox keys a node's guests and cluster membership by its name).
//!
//! What the shell version also did and this step does not: rewrite APT sources and keyrings
//! (the operator's and Proxmox's business), `dist-upgrade` on every run, overwrite
//! `/etc/resolv.conf` with a public resolver, write an `interfaces.d` stanza duplicating
//! `vmbr0` and restart networking (the dns step owns the resolver; the network is
//! Proxmox's).

use anyhow::Context;
use phoenix_core::cmd::Cmd;
use phoenix_core::config::host::HostConfig;
use phoenix_core::converge::{Change, Op};
use phoenix_core::host::{apt, systemd};
use phoenix_core::paths::binaries;

use phoenix_core::step::files::{self, Managed};
use phoenix_core::step::{Ctx, HostAction, HostStep, StepPlan};

/// Log rotation for phoenix's log directory.
pub const LOGROTATE: &str = "/etc/logrotate.d/phoenix_hypervisor";
/// The locale definitions `locale-gen` builds.
pub const LOCALE_GEN: &str = "/etc/locale.gen";
/// The system locale.
pub const DEFAULT_LOCALE: &str = "/etc/default/locale";
/// Present on a node that belongs to a Proxmox cluster.
pub const COROSYNC_CONF: &str = "/etc/pve/corosync.conf";

/// The step.
pub struct System;

/// The logrotate stanza for our log directory (pure).
pub fn logrotate() -> String {
    format!(
        "# Managed by phoenix hypervisor-manager (setup --step system); edits are overwritten.\n\
         {}/*.log {{\n    weekly\n    rotate 8\n    maxsize 100M\n    compress\n    delaycompress\n    missingok\n    notifempty\n    create 0640 root adm\n}}\n",
        phoenix_core::paths::host::LOG_DIR
    )
}

/// The packages the configuration needs on the host (pure): chrony always; sudo for an
/// admin with `sudo_access`; the NFS server for exports; Samba for shares; dnsmasq for the
/// DNS server. The NVIDIA step installs its own build prerequisites when it needs them.
pub fn required_packages(host: &HostConfig) -> Vec<&'static str> {
    let mut p = vec!["chrony"];
    if host.users.as_ref().and_then(|u| u.sudo_access) == Some(true) {
        p.push("sudo");
    }
    if !host.nfs.exports.is_empty() {
        p.push("nfs-kernel-server");
    }
    if host.samba.as_ref().is_some_and(|s| !s.shares.is_empty()) {
        p.push("samba");
    }
    if host.dns_server.as_ref().and_then(|d| d.enabled) == Some(true) {
        p.push("dnsmasq");
    }
    p
}

/// The `locale.gen` line for a locale (`en_US.UTF-8` → `en_US.UTF-8 UTF-8`), `None` for
/// the built-in ones (`C`, `C.UTF-8`, `POSIX`).
pub fn locale_gen_line(locale: &str) -> Option<String> {
    let base = locale.split('.').next().unwrap_or(locale);
    if matches!(base, "C" | "POSIX") {
        return None;
    }
    let charset = match locale.split_once('.') {
        Some((_, cs)) => cs.split('@').next().unwrap_or(cs).to_string(),
        None => "ISO-8859-1".to_string(),
    };
    Some(format!("{locale} {charset}"))
}

/// `locale.gen` with `line` enabled: uncommented where Debian lists it commented out, else
/// appended. `None` when it is already enabled (pure).
pub fn enable_locale(text: &str, line: &str) -> Option<String> {
    let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.lines().any(|l| norm(l) == line) {
        return None;
    }
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim_start_matches('#').trim();
            if !found && norm(t) == line && l.trim_start().starts_with('#') {
                found = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(line.to_string());
    }
    Some(out.join("\n") + "\n")
}

/// How `locale -a` names a locale (`en_US.UTF-8` → `en_US.utf8`).
pub fn locale_a_name(locale: &str) -> String {
    match locale.split_once('.') {
        Some((base, cs)) => format!("{base}.{}", cs.to_ascii_lowercase().replace('-', "")),
        None => locale.to_string(),
    }
}

/// `/etc/default/locale` with `LANG=<locale>`, other lines kept (pure).
pub fn default_locale(text: &str, locale: &str) -> String {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("LANG="))
        .map(str::to_string)
        .collect();
    out.insert(0, format!("LANG={locale}"));
    out.join("\n") + "\n"
}

/// `/etc/hosts` with the node's name changed from `old` to `new` (the short name and the
/// `old.<domain>` form), comments and other names kept (pure).
pub fn rename_in_hosts(text: &str, old: &str, new: &str) -> String {
    let prefix = format!("{old}.");
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                return l.to_string();
            }
            let mut words = l.split_whitespace();
            let Some(addr) = words.next() else {
                return l.to_string();
            };
            let names: Vec<String> = words
                .map(|w| {
                    if w == old {
                        new.to_string()
                    } else if let Some(rest) = w.strip_prefix(&prefix) {
                        format!("{new}.{rest}")
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            if names.is_empty() {
                l.to_string()
            } else {
                format!("{addr} {}", names.join(" "))
            }
        })
        .collect();
    lines.join("\n") + "\n"
}

/// Whether the node holds guests (any `.conf` under `/etc/pve/nodes/*/{lxc,qemu-server}`).
fn has_guests(ctx: &Ctx<'_>) -> bool {
    let nodes = ctx.layout.host("/etc/pve/nodes");
    std::fs::read_dir(nodes)
        .into_iter()
        .flatten()
        .flatten()
        .any(|n| {
            ["lxc", "qemu-server"].iter().any(|d| {
                std::fs::read_dir(n.path().join(d))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| f.path().extension().is_some_and(|x| x == "conf"))
            })
        })
}

fn plan_packages(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let want = required_packages(&ctx.cfg.host);
    let have = apt::installed(ctx.runner, &want)?;
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| !have.contains_key(*w))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    p.line(Change::new(Op::Add, "packages", missing.join(" ")));
    for c in apt::install_cmds(&missing) {
        p.actions.push(HostAction::Run(c));
    }
    Ok(())
}

fn plan_time(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let chrony = systemd::state(ctx.runner, "chrony")?;
    if let Some(c) = systemd::ensure_running("chrony", chrony) {
        p.push(
            Change::new(Op::Run, "time", c.to_string()),
            HostAction::Run(c),
        );
    }
    let Some(tz) = ctx.cfg.host.timezone.as_deref() else {
        return Ok(());
    };
    let now = ctx
        .runner
        .run(&Cmd::read("timedatectl").args(["show", "--property=Timezone", "--value"]))
        .context("cannot read the time zone")?
        .stdout_str();
    let now = now.trim();
    if now != tz {
        p.push(
            Change::new(Op::Change, "time", "time zone")
                .from(now)
                .to(tz),
            HostAction::Run(Cmd::mutate("timedatectl").args(["set-timezone", tz])),
        );
    }
    Ok(())
}

fn plan_locale(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let Some(locale) = ctx.cfg.host.locale.as_deref() else {
        return Ok(());
    };
    if let Some(line) = locale_gen_line(locale) {
        let gen_text = ctx.read(LOCALE_GEN)?.unwrap_or_default();
        let new_gen = enable_locale(&gen_text, &line);
        let generated = ctx
            .runner
            .run(&Cmd::read("locale").arg("-a"))
            .context("cannot list the generated locales")?
            .stdout_str()
            .lines()
            .any(|l| l.trim() == locale_a_name(locale));
        if let Some(text) = new_gen {
            files::plan(ctx, Managed::new("locale", LOCALE_GEN, text, 0o644), p)?;
        }
        if !generated
            || p.actions
                .iter()
                .any(|a| matches!(a, HostAction::Write { path, .. } if path == LOCALE_GEN))
        {
            p.push(
                Change::new(Op::Run, "locale", format!("locale-gen ({locale})")),
                HostAction::Run(Cmd::mutate("locale-gen")),
            );
        }
    }
    let text = ctx.read(DEFAULT_LOCALE)?.unwrap_or_default();
    files::plan(
        ctx,
        Managed::new(
            "locale",
            DEFAULT_LOCALE,
            default_locale(&text, locale),
            0o644,
        ),
        p,
    )?;
    Ok(())
}

fn plan_link(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) {
    let link = phoenix_core::paths::install::GLOBAL_LINK;
    let target = ctx.bin_dir.join(binaries::CLI);
    if !target.is_file() {
        p.note(
            "link",
            format!("{} is not installed; {link} is not made", target.display()),
        );
        return;
    }
    let host_link = ctx.layout.host(link);
    match std::fs::symlink_metadata(&host_link) {
        Ok(m) if !m.file_type().is_symlink() => p.note(
            "link",
            format!(
                "{link} exists and is not a link; left alone (remove it to let setup link phoenix)"
            ),
        ),
        Ok(_) if std::fs::read_link(&host_link).is_ok_and(|t| t == target) => {}
        r => {
            if let Some(dir) = std::path::Path::new(link).parent() {
                if !ctx.layout.host(dir).is_dir() {
                    p.actions.push(HostAction::Dir {
                        path: dir.display().to_string(),
                        mode: 0o755,
                        owner: None,
                    });
                }
            }
            let c = Change::new(
                if r.is_ok() { Op::Change } else { Op::Add },
                "link",
                link.to_string(),
            )
            .to(target.display().to_string());
            p.push(
                c,
                HostAction::Link {
                    target,
                    link: link.to_string(),
                },
            );
        }
    }
}

fn plan_hostname(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let Some(want) = ctx.cfg.host.network.hostname.as_deref() else {
        return Ok(());
    };
    let now = ctx
        .runner
        .run(&Cmd::read("hostnamectl").arg("hostname"))
        .context("cannot read the host name")?
        .stdout_str();
    let now = now.trim();
    if now == want {
        return Ok(());
    }
    if ctx.layout.host(COROSYNC_CONF).exists() {
        p.note(
            "hostname",
            format!("the node is named {now}, the configuration says {want}: a clustered node is never renamed"),
        );
        return Ok(());
    }
    if has_guests(ctx) {
        p.note(
            "hostname",
            format!("the node is named {now}, the configuration says {want}: a node holding guests is never renamed (Proxmox keeps them under its name)"),
        );
        return Ok(());
    }
    p.push(
        Change::new(Op::Change, "hostname", "host name")
            .from(now)
            .to(want),
        HostAction::Run(Cmd::mutate("hostnamectl").args(["set-hostname", want])),
    );
    if let Some(hosts) = ctx.read("/etc/hosts")? {
        let new = rename_in_hosts(&hosts, now, want);
        if new != hosts {
            files::plan(ctx, Managed::new("hostname", "/etc/hosts", new, 0o644), p)?;
        }
    }
    p.reboot = Some(format!("the node is renamed to {want}"));
    Ok(())
}

impl HostStep for System {
    fn name(&self) -> &'static str {
        "system"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        plan_packages(ctx, &mut p)?;
        plan_time(ctx, &mut p)?;
        plan_locale(ctx, &mut p)?;
        files::plan(
            ctx,
            Managed::new("logs", LOGROTATE, logrotate(), 0o644),
            &mut p,
        )?;
        plan_link(ctx, &mut p);
        plan_hostname(ctx, &mut p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_core::config::host::{DnsServer, Nfs, NfsExport, Users};

    #[test]
    fn packages_follow_the_configuration() {
        let mut h = HostConfig::default();
        assert_eq!(required_packages(&h), ["chrony"]);
        h.users = Some(Users {
            sudo_access: Some(true),
            ..Users::default()
        });
        h.nfs = Nfs {
            exports: vec![NfsExport::default()],
        };
        h.dns_server = Some(DnsServer {
            enabled: Some(true),
            ..DnsServer::default()
        });
        assert_eq!(
            required_packages(&h),
            ["chrony", "sudo", "nfs-kernel-server", "dnsmasq"]
        );
    }

    #[test]
    fn locales_are_enabled_where_debian_lists_them() {
        assert_eq!(locale_gen_line("en_US.UTF-8").unwrap(), "en_US.UTF-8 UTF-8");
        assert_eq!(locale_gen_line("de_DE").unwrap(), "de_DE ISO-8859-1");
        assert_eq!(locale_gen_line("C.UTF-8"), None);
        let debian = "# This file lists locales\n# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n";
        assert_eq!(
            enable_locale(debian, "en_US.UTF-8 UTF-8").unwrap(),
            "# This file lists locales\n# de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n"
        );
        assert_eq!(
            enable_locale("en_US.UTF-8   UTF-8\n", "en_US.UTF-8 UTF-8"),
            None
        );
        assert_eq!(
            enable_locale("", "fr_FR.UTF-8 UTF-8").unwrap(),
            "fr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(locale_a_name("en_US.UTF-8"), "en_US.utf8");
        assert_eq!(
            default_locale("LANG=C\nLC_TIME=en_GB.UTF-8\n", "en_US.UTF-8"),
            "LANG=en_US.UTF-8\nLC_TIME=en_GB.UTF-8\n"
        );
    }

    #[test]
    fn renaming_keeps_other_names() {
        let hosts =
            "127.0.0.1 localhost.localdomain localhost\n10.0.0.13 pve.lab.example pve\n# pve\n";
        assert_eq!(
            rename_in_hosts(hosts, "pve", "phoenix"),
            "127.0.0.1 localhost.localdomain localhost\n10.0.0.13 phoenix.lab.example phoenix\n# pve\n"
        );
    }

    #[test]
    fn logrotate_covers_our_log_directory() {
        assert!(logrotate().contains("/var/log/phoenix_hypervisor/*.log {"));
    }
}
