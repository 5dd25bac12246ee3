//! `traefik` and `nginx`: the generated files swapped into the Traefik and gateway
//! containers, checked first, reloaded after.

use anyhow::{Context, anyhow, bail};
use phoenix_core::converge::{Change, Op};
use phoenix_core::ids::GuestId;
use phoenix_core::step::StepPlan;

use super::s;
use super::{Cx, Planned, Stage, ready};
use crate::guest::Guest;
use crate::{nginx, traefik};

/// Traefik's file-provider directory and file.
pub const TRAEFIK_DYNAMIC: &str = "/etc/traefik/dynamic/dynamic_conf.yml";
/// Where the new file is staged (Traefik's file provider reads only `.yml`, `.yaml` and
/// `.toml` files, so the staged copy is not loaded half-written).
pub const TRAEFIK_STAGED: &str = "/etc/traefik/dynamic/.dynamic_conf.yml.phoenix-new";

/// `traefik`.
pub struct TraefikStage;

/// The generated file, checked: Traefik has no configuration checker of its own (its
/// maintainers point at a YAML parser), so the file is parsed back and every router must
/// name a service it defines (or the dashboard's `api@internal`).
pub fn traefik_file(cx: &Cx<'_>, ct: GuestId) -> anyhow::Result<String> {
    let root = traefik::root_ca_in_container(cx.cfg(), ct);
    let text = traefik::dynamic_config(&cx.mesh, root.as_deref());
    check_traefik(&text)?;
    Ok(text)
}

/// Parses Traefik's dynamic configuration and checks that every router's service exists.
pub fn check_traefik(text: &str) -> anyhow::Result<()> {
    let v: serde_yaml::Value =
        serde_yaml::from_str(text).context("the generated Traefik configuration is not YAML")?;
    let http = &v["http"];
    let services = &http["services"];
    if let Some(routers) = http["routers"].as_mapping() {
        for (name, r) in routers {
            let svc = r["service"].as_str().unwrap_or_default();
            if svc != "api@internal" && services.get(svc).is_none() {
                bail!(
                    "the generated Traefik configuration routes {} to service {svc:?}, which it does not define",
                    name.as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

impl Stage for TraefikStage {
    type Action = String;

    fn name(&self) -> &'static str {
        "traefik"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<String>> {
        let Some(ct) = cx.roles.traefik else {
            return Ok(Planned::NotReady(
                "no container has the traefik feature".into(),
            ));
        };
        let g = Guest::ct(ct);
        if let Err(why) = ready(cx, g)? {
            return Ok(Planned::NotReady(why));
        }
        if g.exec(cx.runner(), &s(&["test", "-d", "/etc/traefik"]), false)?
            .code
            != 0
        {
            return Ok(Planned::NotReady(format!(
                "Traefik is not installed in container {ct} (no /etc/traefik; its traefik feature installs it)"
            )));
        }
        let text = traefik_file(cx, ct)?;
        let mut p = StepPlan::default();
        for n in &cx.mesh.notes {
            p.note("route", n.clone());
        }
        let have = g.read(cx.runner(), TRAEFIK_DYNAMIC)?;
        if have.as_deref() != Some(text.as_str()) {
            let routes = cx.mesh.routes.len();
            p.push(
                Change::new(
                    if have.is_none() { Op::Add } else { Op::Change },
                    "file",
                    format!("container {ct}:{TRAEFIK_DYNAMIC}"),
                )
                .to(format!("{routes} route(s)")),
                text,
            );
        }
        Ok(Planned::Ready(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<String>) -> anyhow::Result<()> {
        let ct = cx.roles.traefik.context("no Traefik container")?;
        let g = Guest::ct(ct);
        let r = cx.runner();
        for text in actions {
            g.write(r, cx.layout(), TRAEFIK_STAGED, text.as_bytes(), 0o644)?;
            g.check(r, &s(&["mv", "-f", TRAEFIK_STAGED, TRAEFIK_DYNAMIC]), true)?;
            g.check(r, &s(&["systemctl", "reload-or-restart", "traefik"]), true)
                .context("Traefik did not take the new configuration (see `journalctl -u traefik` in the container)")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// nginx

/// The gateway's site.
pub const NGINX_SITE: &str = "/etc/nginx/sites-available/gateway";
/// Its link.
pub const NGINX_ENABLED: &str = "/etc/nginx/sites-enabled/gateway";
/// The placeholder site the container's setup leaves (P39).
pub const NGINX_DEFAULT: &str = "/etc/nginx/sites-enabled/default";

/// `nginx`.
pub struct NginxStage;

/// What the nginx stage changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NginxAction {
    /// New site content (the old one, if any, for putting back).
    Site(String, Option<String>),
    /// Link it into `sites-enabled`.
    Enable,
    /// Remove the placeholder.
    RemoveDefault,
}

/// The gateway's site for this inventory.
pub fn nginx_site(cx: &Cx<'_>) -> anyhow::Result<String> {
    let site = nginx::site(cx.cfg(), &cx.mesh).map_err(|e| anyhow!(e))?;
    Ok(nginx::gateway_site(&site))
}

impl Stage for NginxStage {
    type Action = NginxAction;

    fn name(&self) -> &'static str {
        "nginx"
    }

    fn plan(&self, cx: &Cx<'_>) -> anyhow::Result<Planned<NginxAction>> {
        let Some(gw) = cx.roles.gateway else {
            return Ok(Planned::NotReady("no gateway container".into()));
        };
        let g = Guest::ct(gw);
        if let Err(why) = ready(cx, g)? {
            return Ok(Planned::NotReady(why));
        }
        let r = cx.runner();
        if g.exec(r, &s(&["test", "-d", "/etc/nginx/sites-enabled"]), false)?
            .code
            != 0
        {
            return Ok(Planned::NotReady(format!(
                "nginx is not installed in container {gw} (no /etc/nginx/sites-enabled; the gateway's application script installs it)"
            )));
        }
        let text = nginx_site(cx)?;
        let mut p = StepPlan::default();
        let have = g.read(r, NGINX_SITE)?;
        if have.as_deref() != Some(text.as_str()) {
            p.push(
                Change::new(
                    if have.is_none() { Op::Add } else { Op::Change },
                    "file",
                    format!("container {gw}:{NGINX_SITE}"),
                ),
                NginxAction::Site(text, have),
            );
        }
        let linked = g.exec(r, &s(&["test", "-L", NGINX_ENABLED]), false)?.code == 0;
        if !linked {
            p.push(
                Change::new(Op::Add, "link", format!("container {gw}:{NGINX_ENABLED}")),
                NginxAction::Enable,
            );
        }
        let placeholder = g.exec(r, &s(&["test", "-e", NGINX_DEFAULT]), false)?.code == 0
            || g.exec(r, &s(&["test", "-L", NGINX_DEFAULT]), false)?.code == 0;
        if placeholder {
            p.push(
                Change::new(
                    Op::Remove,
                    "link",
                    format!("container {gw}:{NGINX_DEFAULT}"),
                )
                .from("the placeholder site (default_server on :80)"),
                NginxAction::RemoveDefault,
            );
        }
        Ok(Planned::Ready(p))
    }

    fn apply(&self, cx: &Cx<'_>, actions: Vec<NginxAction>) -> anyhow::Result<()> {
        let gw = cx.roles.gateway.context("no gateway container")?;
        let g = Guest::ct(gw);
        let r = cx.runner();
        let staged = format!("{NGINX_SITE}.phoenix-new");
        let mut old: Option<Option<String>> = None;
        for a in &actions {
            match a {
                NginxAction::Site(text, before) => {
                    g.write(r, cx.layout(), &staged, text.as_bytes(), 0o644)?;
                    g.check(r, &s(&["mv", "-f", &staged, NGINX_SITE]), true)?;
                    old = Some(before.clone());
                }
                NginxAction::Enable => {
                    g.check(r, &s(&["ln", "-sfn", NGINX_SITE, NGINX_ENABLED]), true)?;
                }
                NginxAction::RemoveDefault => {
                    g.check(r, &s(&["rm", "-f", NGINX_DEFAULT]), true)?;
                }
            }
        }
        let test = g.exec(r, &s(&["nginx", "-t"]), false)?;
        if test.code != 0 {
            match old {
                Some(Some(before)) => {
                    g.write(r, cx.layout(), &staged, before.as_bytes(), 0o644)?;
                    g.check(r, &s(&["mv", "-f", &staged, NGINX_SITE]), true)?;
                }
                Some(None) => {
                    g.check(r, &s(&["rm", "-f", NGINX_SITE, NGINX_ENABLED]), true)?;
                }
                None => {}
            }
            bail!(
                "nginx -t rejected the configuration in container {gw}; the previous site was put back and nginx was not reloaded:\n  {}",
                test.err.trim()
            );
        }
        g.check(r, &s(&["systemctl", "reload", "nginx"]), true)
            .context("nginx did not reload (see `journalctl -u nginx` in the container)")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traefiks_file_is_checked_before_it_is_pushed() {
        let good = "http:\n  routers:\n    a-router:\n      rule: \"Host(`a.example`)\"\n      service: \"a-service\"\n    d-router:\n      rule: \"Host(`t.example`)\"\n      service: \"api@internal\"\n  services:\n    a-service:\n      loadBalancer:\n        servers:\n          - url: \"http://10.0.0.5:80\"\n";
        check_traefik(good).unwrap();
        let dangling = good.replace("service: \"a-service\"", "service: \"b-service\"");
        let e = check_traefik(&dangling).unwrap_err();
        assert!(
            e.to_string()
                .contains("routes a-router to service \"b-service\""),
            "{e}"
        );
        assert!(check_traefik("http:\n  routers: [\n").is_err());
    }
}
