//! DNS, the CA and certificate renewal.
//!
//! - **DNS server** (`dns_server.enabled`): dnsmasq answers for `domain_name` from the
//!   inventory — one `host-record` per running guest with a static address
//!   (`<name>.<domain>`), the guests' own `dns_records`, and every host the service mesh
//!   routes (`crate::mesh`), which points at the gateway — and forwards everything
//!   else to `dns_server.upstream_servers`. All of it is one file, `/etc/dnsmasq.d/phoenix.conf`,
//!   checked with `dnsmasq --test` before it replaces the old one; dnsmasq restarts only when
//!   it changed. Nothing else in `/etc/dnsmasq.d` is touched (the shell version deleted the
//!   whole directory), except the shell version's own records file, which this replaces.
//!   The host resolves through it: `/etc/resolv.conf` is `search <domain>`, the host's
//!   address, then the upstream servers (three name servers at most, as glibc reads).
//! - **CA trust** (`step_ca.root_ca_file`, by default `phoenix_root_ca.crt` in the CA
//!   container's `/etc/step-ca/ssl` bind mount, as the shell version kept it): once the CA guest has written its root
//!   certificate, it is added to the host's trust store (`update-ca-certificates` only when
//!   it changed); with `step_ca.ca_url` and the step CLI installed, `step ca bootstrap` pins
//!   the CA by the root's fingerprint.
//! - **Renewal** (`certificate-manifest.json` has entries): a systemd timer runs `phoenix
//!   sync certificates` hourly; the shell version's cron job is removed.

use std::net::IpAddr;

use crate::cmd::Cmd;
use crate::config::{Config, Guest, formats};
use crate::converge::{Change, Op};
use crate::host::{apt, systemd};
use crate::mesh;
use crate::paths::binaries;
use anyhow::{Context, bail};

use super::files::{self, Managed};
use super::{Ctx, HostAction, HostStep, StepPlan};

/// dnsmasq's file phoenix owns.
pub const DNSMASQ_CONF: &str = "/etc/dnsmasq.d/phoenix.conf";
/// The shell version's records file, superseded by [`DNSMASQ_CONF`].
pub const LEGACY_RECORDS: &str = "/etc/dnsmasq.d/00-phoenix-internal.conf";
/// The host's resolver configuration.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Where the CA's root joins the trust store.
pub const TRUSTED_ROOT: &str = "/usr/local/share/ca-certificates/phoenix_root_ca.crt";
/// The step CLI's defaults (root's).
pub const STEP_DEFAULTS: &str = "/root/.step/config/defaults.json";
/// The renewal service.
pub const RENEWAL_SERVICE: &str = "/etc/systemd/system/phoenix-cert-renewal.service";
/// The renewal timer.
pub const RENEWAL_TIMER: &str = "/etc/systemd/system/phoenix-cert-renewal.timer";
/// The timer's unit name.
pub const RENEWAL_TIMER_UNIT: &str = "phoenix-cert-renewal.timer";
/// The shell version's hourly cron job.
pub const LEGACY_CRON: &str = "/etc/cron.d/phoenix-cert-renewal";

/// The step.
pub struct Dns;

const HEAD: &str =
    "# Managed by phoenix hypervisor-manager (setup --step dns); edits are overwritten.\n";

fn addr(s: &str) -> Option<IpAddr> {
    s.split('/').next()?.trim().parse().ok()
}

/// The inventory's records (pure), first record for a name winning: each guest's explicit
/// `dns_records` (a short name gets the domain), in guest order; then every route host of
/// the service mesh ([`mesh::mesh`], the Traefik dashboard included) at the gateway
/// container's static address, so requests for it reach the gateway, which passes them to
/// Traefik; then `<name>.<domain>` for every guest that runs with a static address. A later
/// record with another address comes back as a note, except a guest's own name that is
/// also a routed host: that name is served through the gateway (as the shell version
/// pointed `portainer.` and `traefik.` at it).
pub fn records(cfg: &Config, domain: &str) -> (Vec<(String, IpAddr)>, Vec<String>) {
    let mut out: Vec<(String, IpAddr)> = Vec::new();
    let mut notes = Vec::new();
    let mut push = |name: String, ip: IpAddr, from: String, notes: &mut Vec<String>| {
        if formats::dns_name(&name).is_err() {
            notes.push(format!("{from}: {name} is not a DNS name; no record"));
        } else if let Some((_, other)) = out.iter().find(|(n, _)| *n == name) {
            if *other != ip && !from.is_empty() {
                notes.push(format!(
                    "{from}: {name} already points at {other}; {ip} is not published"
                ));
            }
        } else {
            out.push((name, ip));
        }
    };
    let guests: Vec<_> = cfg
        .guests()
        .into_iter()
        .filter(|g| !g.is_template())
        .collect();
    for g in &guests {
        let from = format!("{} {}", g.kind(), g.id());
        let extra = match g {
            Guest::Lxc(_, c) => &c.dns_records,
            Guest::Vm(_, v) => &v.dns_records,
        };
        for r in extra {
            let Some(ip) = addr(&r.ip) else {
                notes.push(format!(
                    "{from}: dns_records {} has no address; no record",
                    r.hostname
                ));
                continue;
            };
            let name = r.hostname.trim_end_matches('.').to_ascii_lowercase();
            let name = if name.contains('.') {
                name
            } else {
                format!("{name}.{domain}")
            };
            push(name, ip, from.clone(), &mut notes);
        }
    }
    let routes = mesh::mesh(cfg).routes;
    let routed: Vec<String> = routes.iter().map(|r| r.host.clone()).collect();
    if !routes.is_empty() {
        let gateway = mesh::roles(cfg).gateway.and_then(|id| {
            let g = cfg.guest(id)?;
            Some((id, mesh::static_ip(&g)))
        });
        match gateway {
            Some((_, Some(ip))) => {
                for r in routes {
                    push(r.host, ip, format!("route {} ({})", r.name, r.from), &mut notes);
                }
            }
            Some((id, None)) => notes.push(format!(
                "the gateway container {id} has no static address; the {} routed host names are not published",
                routes.len()
            )),
            None => notes.push(format!(
                "no gateway container; the {} routed host names are not published",
                routes.len()
            )),
        }
    }
    for g in &guests {
        if let Some(ip) = g.ip().and_then(addr) {
            let name = format!("{}.{domain}", g.name().to_ascii_lowercase());
            let from = if routed.contains(&name) {
                String::new()
            } else {
                format!("{} {}", g.kind(), g.id())
            };
            push(name, ip, from, &mut notes);
        }
    }
    (out, notes)
}

/// dnsmasq's file (pure).
pub fn dnsmasq_conf(
    listen: IpAddr,
    domain: &str,
    upstream: &[IpAddr],
    records: &[(String, IpAddr)],
) -> String {
    let mut t = String::from(HEAD);
    t.push_str(&format!(
        "# Answers for {domain} from the inventory; forwards everything else.\n\
         listen-address={listen}\nbind-interfaces\ndomain-needed\nbogus-priv\nno-resolv\n\
         local=/{domain}/\ndomain={domain}\n"
    ));
    for u in upstream {
        t.push_str(&format!("server={u}\n"));
    }
    for (n, ip) in records {
        t.push_str(&format!("host-record={n},{ip}\n"));
    }
    t
}

/// `/etc/resolv.conf` (pure): the local server first, three name servers at most.
pub fn resolv_conf(domain: &str, local: IpAddr, upstream: &[IpAddr]) -> String {
    let mut t = format!("{HEAD}search {domain}\nnameserver {local}\n");
    for u in upstream.iter().filter(|u| **u != local).take(2) {
        t.push_str(&format!("nameserver {u}\n"));
    }
    t
}

/// The renewal service and timer (pure).
pub fn renewal_units(cli: &std::path::Path) -> (String, String) {
    let service = format!(
        "# Managed by phoenix hypervisor-manager (setup --step dns); edits are overwritten.\n\
         [Unit]\n\
         Description=Phoenix Hypervisor: renew the certificates that are due\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={} sync certificates\n",
        cli.display()
    );
    let timer =
        "# Managed by phoenix hypervisor-manager (setup --step dns); edits are overwritten.\n\
         [Unit]\n\
         Description=Phoenix Hypervisor: renew certificates hourly\n\
         \n\
         [Timer]\n\
         OnCalendar=hourly\n\
         RandomizedDelaySec=5min\n\
         Persistent=true\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
            .to_string();
    (service, timer)
}

fn plan_dns(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let host = &ctx.cfg.host;
    let Some(dns) = host.dns_server.as_ref().filter(|d| d.enabled == Some(true)) else {
        p.note(
            "dns",
            "dns_server.enabled is not true: dnsmasq and resolv.conf are left alone",
        );
        return Ok(());
    };
    let domain = host
        .domain_name
        .as_deref()
        .filter(|d| !d.is_empty())
        .context("domain_name is required for the DNS server")?;
    let listen = host
        .network
        .interfaces
        .as_ref()
        .and_then(|i| i.address.as_deref())
        .and_then(addr)
        .context("network.interfaces.address (the host's address, where dnsmasq listens) is required for the DNS server")?;
    // Checked when the configuration loaded: addresses, at least one.
    let upstream: Vec<IpAddr> = dns
        .upstream_servers
        .iter()
        .filter_map(|u| u.parse().ok())
        .collect();
    let (recs, notes) = records(ctx.cfg, domain);
    for n in notes {
        p.note("dns", n);
    }
    let legacy = files::plan_absent(
        ctx,
        "dns",
        LEGACY_RECORDS,
        "the shell version's records, now in phoenix.conf",
        p,
    );
    let changed = files::plan(
        ctx,
        Managed::new(
            "dns",
            DNSMASQ_CONF,
            dnsmasq_conf(listen, domain, &upstream, &recs),
            0o644,
        )
        .checked(&["dnsmasq", "--test", "--conf-file={}"]),
        p,
    )? || legacy;
    let unit = systemd::state(ctx.runner, "dnsmasq")?;
    match systemd::ensure_running("dnsmasq", unit) {
        Some(c) => p.push(
            Change::new(Op::Run, "dns", c.to_string()),
            HostAction::Run(c),
        ),
        None if changed => {
            let c = systemd::cmd("restart", "dnsmasq");
            p.push(
                Change::new(Op::Run, "dns", c.to_string()),
                HostAction::Run(c),
            );
        }
        None => {}
    }
    files::plan(
        ctx,
        Managed::new(
            "dns",
            RESOLV_CONF,
            resolv_conf(domain, listen, &upstream),
            0o644,
        ),
        p,
    )?;
    Ok(())
}

fn plan_ca(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    let Some(ca) = &ctx.cfg.host.step_ca else {
        return Ok(());
    };
    let Some(root) = mesh::ca_root_file(ctx.cfg) else {
        p.note(
            "ca",
            "step_ca.root_ca_file is not set (and no CA container mounts /etc/step-ca/ssl): the CA is not added to the host's trust store",
        );
        return Ok(());
    };
    let root = root.as_str();
    let Some(pem) = ctx.read(root)? else {
        p.note(
            "ca",
            format!("{root} does not exist yet (the CA guest writes it): trusted on a later run"),
        );
        return Ok(());
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        bail!("step_ca.root_ca_file {root} is not a PEM certificate");
    }
    if files::plan(ctx, Managed::new("ca", TRUSTED_ROOT, pem, 0o644), p)? {
        p.push(
            Change::new(Op::Run, "ca", "update-ca-certificates"),
            HostAction::Run(Cmd::mutate("update-ca-certificates")),
        );
    }
    let Some(url) = ca.ca_url.as_deref() else {
        return Ok(());
    };
    if apt::installed(ctx.runner, &["step-cli"])?.is_empty() {
        p.note("ca", "the step CLI (package step-cli) is not installed: the host is not bootstrapped against the CA");
        return Ok(());
    }
    let fp = ctx
        .runner
        .run(&Cmd::read("step").args([
            "certificate".as_ref(),
            "fingerprint".as_ref(),
            ctx.layout.host(root).as_os_str(),
        ]))
        .with_context(|| format!("cannot read the fingerprint of {root}"))?
        .stdout_str()
        .trim()
        .to_string();
    let current: serde_json::Value = ctx
        .read(STEP_DEFAULTS)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if current["ca-url"] != url || current["fingerprint"] != fp.as_str() {
        p.push(
            Change::new(Op::Run, "ca", format!("step ca bootstrap --ca-url {url}"))
                .to(format!("fingerprint {fp}")),
            HostAction::Run(Cmd::mutate("step").args([
                "ca",
                "bootstrap",
                "--ca-url",
                url,
                "--fingerprint",
                &fp,
                "--force",
            ])),
        );
    }
    Ok(())
}

fn plan_renewal(ctx: &Ctx<'_>, p: &mut StepPlan<HostAction>) -> anyhow::Result<()> {
    files::plan_absent(
        ctx,
        "renewal",
        LEGACY_CRON,
        "the shell version's hourly job, now a systemd timer",
        p,
    );
    let timer = systemd::state(ctx.runner, RENEWAL_TIMER_UNIT)?;
    if ctx.cfg.certificates.is_empty() {
        let present =
            ctx.layout.host(RENEWAL_TIMER).exists() || ctx.layout.host(RENEWAL_SERVICE).exists();
        if present {
            if timer.enabled || timer.active {
                let c = systemd::cmd("disable --now", RENEWAL_TIMER_UNIT);
                p.push(
                    Change::new(Op::Run, "renewal", c.to_string()),
                    HostAction::Run(c),
                );
            }
            files::plan_absent(ctx, "renewal", RENEWAL_TIMER, "no certificates to renew", p);
            files::plan_absent(
                ctx,
                "renewal",
                RENEWAL_SERVICE,
                "no certificates to renew",
                p,
            );
            p.push(
                Change::new(Op::Run, "renewal", "systemctl daemon-reload"),
                HostAction::Run(systemd::daemon_reload()),
            );
        }
        return Ok(());
    }
    let (service, timer_text) = renewal_units(&ctx.bin_dir.join(binaries::CLI));
    let mut changed = files::plan(
        ctx,
        Managed::new("renewal", RENEWAL_SERVICE, service, 0o644),
        p,
    )?;
    changed |= files::plan(
        ctx,
        Managed::new("renewal", RENEWAL_TIMER, timer_text, 0o644),
        p,
    )?;
    if changed {
        p.push(
            Change::new(Op::Run, "renewal", "systemctl daemon-reload"),
            HostAction::Run(systemd::daemon_reload()),
        );
    }
    if let Some(c) = systemd::ensure_running(RENEWAL_TIMER_UNIT, timer) {
        p.push(
            Change::new(Op::Run, "renewal", c.to_string()),
            HostAction::Run(c),
        );
    }
    Ok(())
}

/// The CA part alone (what `sync` runs as its `ca` stage).
pub struct Ca;

impl HostStep for Ca {
    fn name(&self) -> &'static str {
        "ca"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        plan_ca(ctx, &mut p)?;
        Ok(p)
    }
}

/// The DNS server and resolver alone (what `sync` runs as its `dns` stage).
pub struct Records;

impl HostStep for Records {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        plan_dns(ctx, &mut p)?;
        Ok(p)
    }
}

impl HostStep for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let mut p = StepPlan::default();
        plan_dns(ctx, &mut p)?;
        plan_ca(ctx, &mut p)?;
        plan_renewal(ctx, &mut p)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_file_lists_upstreams_then_records() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let t = dnsmasq_conf(
            ip("10.20.0.2"),
            "lab.example",
            &[ip("1.1.1.1"), ip("9.9.9.9")],
            &[("gateway.lab.example".into(), ip("10.20.0.12"))],
        );
        assert!(t.starts_with(HEAD));
        assert!(
            t.contains("listen-address=10.20.0.2\nbind-interfaces\n"),
            "{t}"
        );
        assert!(t.contains("local=/lab.example/\n"));
        assert!(
            t.ends_with(
                "server=1.1.1.1\nserver=9.9.9.9\nhost-record=gateway.lab.example,10.20.0.12\n"
            ),
            "{t}"
        );
        let r = resolv_conf(
            "lab.example",
            ip("10.20.0.2"),
            &[ip("1.1.1.1"), ip("10.20.0.2"), ip("9.9.9.9"), ip("8.8.8.8")],
        );
        assert!(
            r.ends_with(
                "search lab.example\nnameserver 10.20.0.2\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"
            ),
            "{r}"
        );
    }

    #[test]
    fn records_are_explicit_then_routes_at_the_gateway_then_guest_names() {
        use crate::config::{ConfigLocation, LoadOptions};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
        let loc = ConfigLocation::resolve(
            Some(&dir),
            None,
            &crate::paths::Layout::new("/nonexistent", "/"),
        );
        let mut cfg = crate::config::load(&loc, &LoadOptions::default())
            .config
            .expect("the example configuration loads");
        let vm = cfg.vm.vms.iter_mut().find(|v| v.name == "apps").unwrap();
        vm.dns_records.push(
            serde_json::from_value(serde_json::json!({"hostname": "qdrant", "ip": "10.20.0.99"}))
                .unwrap(),
        );
        let domain = "lab.example.internal";
        let (recs, notes) = records(&cfg, domain);
        let shown: Vec<String> = recs.iter().map(|(n, ip)| format!("{n}={ip}")).collect();
        assert_eq!(
            shown,
            [
                // Explicit records first.
                "qdrant.lab.example.internal=10.20.0.99",
                // The mesh's hosts, at the gateway (101), the guests' own names among them.
                "portainer.lab.example.internal=10.20.0.11",
                "ca.lab.example.internal=10.20.0.11",
                "qwen.lab.example.internal=10.20.0.11",
                "ollama.lab.example.internal=10.20.0.11",
                "traefik.lab.example.internal=10.20.0.11",
                "gateway.lab.example.internal=10.20.0.11",
                // Then every other guest's own name.
                "step-ca.lab.example.internal=10.20.0.10",
                "tmpl-base.lab.example.internal=10.20.0.200",
                "tmpl-gpu.lab.example.internal=10.20.0.201",
                "tmpl-docker.lab.example.internal=10.20.0.202",
                "vllm-qwen.lab.example.internal=10.20.0.50",
                "apps.lab.example.internal=10.20.0.32",
            ],
            "{notes:#?}"
        );
        // A routed name shadowed by an explicit record is a note; a guest's own name that
        // is routed is not.
        assert_eq!(
            notes,
            [
                "route qdrant (stack qdrant on VM 1002): qdrant.lab.example.internal already points at 10.20.0.99; 10.20.0.11 is not published",
            ]
        );
        // A gateway without a static address: a note instead of the route hosts.
        let gw = cfg.lxc.lxc_configs.get_mut("101").unwrap();
        gw.name = "web".into();
        gw.network_config.as_mut().unwrap().ip = Some("dhcp".into());
        let (recs, notes) = records(&cfg, domain);
        assert!(recs.iter().all(|(_, ip)| ip.to_string() != "10.20.0.11"));
        assert_eq!(
            notes.last().unwrap(),
            "the gateway container 101 has no static address; the 6 routed host names are not published"
        );
    }

    #[test]
    fn the_timer_runs_phoenix_sync_certificates() {
        let (s, t) = renewal_units(std::path::Path::new(
            "/usr/local/phoenix_hypervisor/bin/phoenix-cli",
        ));
        assert!(s.contains(
            "ExecStart=/usr/local/phoenix_hypervisor/bin/phoenix-cli sync certificates\n"
        ));
        assert!(t.contains("OnCalendar=hourly\n"));
    }
}
