//! The datacenter firewall (`/etc/pve/firewall/cluster.fw`), declaratively: `enable`,
//! `policy_in` and `policy_out` from the configuration, the host rules in config order (each
//! once), and everything else in the file (other options, aliases, IP sets, groups) kept.
//! Guest rules stay in the guests' own `.fw` files (the shell version copied them here, where
//! they filtered host traffic). Proxmox's firewall daemon picks up the file by itself.

use crate::config::guest::FirewallRule;
use crate::config::host::HostFirewall;
use crate::converge::Change;
use crate::pve::firewall::{self, FwFile};
use anyhow::bail;

use super::{Ctx, HostAction, HostStep, StepPlan};

/// The datacenter firewall file, relative to the system root.
pub const CLUSTER_FW: &str = "/etc/pve/firewall/cluster.fw";

/// What the firewall step does: write this text to `cluster.fw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write(pub String);

/// The step.
pub struct Firewall;

fn policy(p: Option<&str>, what: &str) -> anyhow::Result<Option<String>> {
    match p.map(str::to_ascii_uppercase) {
        None => Ok(None),
        Some(v) if matches!(v.as_str(), "ACCEPT" | "DROP" | "REJECT") => Ok(Some(v)),
        Some(v) => bail!("firewall.{what}: {v:?} is not ACCEPT, DROP or REJECT"),
    }
}

/// The file the configuration asks for, keeping what it does not manage in `current`.
pub fn desired(current: &FwFile, fw: &HostFirewall) -> anyhow::Result<FwFile> {
    let mut rules: Vec<FirewallRule> = Vec::new();
    for r in &fw.global_firewall_rules {
        if !rules.contains(r) {
            rules.push(r.clone());
        }
    }
    let mut f = firewall::desired(current, fw.enabled == Some(true), &rules);
    for (key, v) in [
        (
            "policy_in",
            policy(fw.default_input_policy.as_deref(), "default_input_policy")?,
        ),
        (
            "policy_out",
            policy(fw.default_output_policy.as_deref(), "default_output_policy")?,
        ),
    ] {
        if let Some(v) = v {
            f.options.insert(key.into(), v);
        }
    }
    Ok(f)
}

/// Plans `cluster.fw` from its current text.
pub fn plan_file(
    current: Option<&str>,
    fw: &HostFirewall,
) -> anyhow::Result<(Vec<Change>, Option<Write>)> {
    let cur = current.map(FwFile::parse).unwrap_or_default();
    Ok(match firewall::plan(current, &desired(&cur, fw)?) {
        None => (Vec::new(), None),
        Some(p) => (p.changes, Some(Write(p.text))),
    })
}

impl HostStep for Firewall {
    fn name(&self) -> &'static str {
        "firewall"
    }

    fn plan(&self, ctx: &Ctx<'_>) -> anyhow::Result<StepPlan<HostAction>> {
        let Some(fw) = &ctx.cfg.host.firewall else {
            let mut p = StepPlan::default();
            p.note(
                "firewall",
                "no firewall block in the host configuration; cluster.fw is left alone",
            );
            return Ok(p);
        };
        let (changes, w) = plan_file(ctx.read(CLUSTER_FW)?.as_deref(), fw)?;
        let actions = w
            .into_iter()
            .map(|Write(text)| HostAction::Write {
                path: CLUSTER_FW.to_string(),
                text: text.into_bytes(),
                mode: 0o640,
                owner: None,
                check: None,
            })
            .collect::<Vec<_>>();
        Ok((changes, actions).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw() -> HostFirewall {
        HostFirewall {
            enabled: Some(true),
            default_input_policy: Some("drop".into()),
            default_output_policy: Some("ACCEPT".into()),
            global_firewall_rules: vec![
                FirewallRule {
                    direction: "in".into(),
                    action: "ACCEPT".into(),
                    proto: Some("tcp".into()),
                    port: Some("8006".into()),
                    comment: Some("web UI".into()),
                    ..FirewallRule::default()
                };
                2
            ],
        }
    }

    #[test]
    fn the_file_is_declarative_and_keeps_what_it_does_not_manage() {
        let cur = "[OPTIONS]\n\nenable: 0\nlog_ratelimit: enable=1\n\n[IPSET mgmt]\n\n10.0.0.5\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 23\n\n";
        let (changes, w) = plan_file(Some(cur), &fw()).unwrap();
        let text = w.unwrap().0;
        assert_eq!(
            text,
            "[OPTIONS]\n\nenable: 1\nlog_ratelimit: enable=1\npolicy_in: DROP\npolicy_out: ACCEPT\n\n[IPSET mgmt]\n\n10.0.0.5\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 8006 # web UI\n\n"
        );
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "~ option enable: 0 -> 1",
                "+ option policy_in: DROP",
                "+ option policy_out: ACCEPT",
                "- rule IN ACCEPT -p tcp -dport 23",
                "+ rule IN ACCEPT -p tcp -dport 8006 # web UI",
            ]
        );
        let (again, w) = plan_file(Some(&text), &fw()).unwrap();
        assert!(again.is_empty() && w.is_none());
    }

    #[test]
    fn bad_policies_are_errors() {
        let mut f = fw();
        f.default_input_policy = Some("maybe".into());
        let e = plan_file(None, &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "firewall.default_input_policy: \"MAYBE\" is not ACCEPT, DROP or REJECT"
        );
    }
}
