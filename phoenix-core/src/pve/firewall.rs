//! Guest firewall files (`/etc/pve/firewall/<id>.fw`) as pve-firewall writes them, built
//! from the configuration: `[OPTIONS]` (sorted), the sections we do not manage (aliases,
//! IP sets) kept as they were, and `[RULES]` in config order.
//!
//! The managers write the whole file declaratively instead of replaying `pvesh` calls: the
//! result is the same file pve-firewall would write, rules keep their config order, and stale
//! rules disappear.

use std::collections::BTreeMap;

use crate::config::guest::FirewallRule;
use crate::converge::{Change, Op};

/// A parsed `.fw` file, split into what we manage and what we keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FwFile {
    /// `[OPTIONS]` entries.
    pub options: BTreeMap<String, String>,
    /// `[RULES]` lines as written.
    pub rules: Vec<String>,
    /// Other sections (`[ALIASES]`, `[IPSET …]`), header and lines, kept verbatim.
    pub other: Vec<(String, Vec<String>)>,
}

impl FwFile {
    /// Parses a file (empty text → empty file).
    pub fn parse(text: &str) -> Self {
        let mut f = FwFile::default();
        let mut section: Option<String> = None;
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                let head = line
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                section = Some(head.clone());
                if head != "[options]" && head != "[rules]" {
                    f.other.push((line.to_string(), Vec::new()));
                }
                continue;
            }
            match section.as_deref() {
                Some("[options]") => {
                    if let Some((k, v)) = line.split_once(':') {
                        f.options
                            .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                Some("[rules]") => f.rules.push(line.to_string()),
                Some(_) => {
                    if let Some((_, lines)) = f.other.last_mut() {
                        lines.push(line.to_string());
                    }
                }
                None => {}
            }
        }
        f
    }

    /// Renders the file in pve-firewall's layout (`None` when everything is empty: Proxmox
    /// removes such a file).
    pub fn render(&self) -> Option<String> {
        let mut out = String::new();
        if !self.options.is_empty() {
            out.push_str("[OPTIONS]\n\n");
            for (k, v) in &self.options {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push('\n');
        }
        for (head, lines) in &self.other {
            out.push_str(&format!("{head}\n\n"));
            for l in lines {
                out.push_str(&format!("{l}\n"));
            }
            out.push('\n');
        }
        if !self.rules.is_empty() {
            out.push_str("[RULES]\n\n");
            for r in &self.rules {
                out.push_str(&format!("{r}\n"));
            }
            out.push('\n');
        }
        (!out.is_empty()).then_some(out)
    }
}

/// One rule as pve-firewall writes it: `IN ACCEPT -i net0 -source … -dest … -p tcp
/// -dport 22 -sport … # comment`.
pub fn format_rule(r: &FirewallRule) -> String {
    let mut s = format!(
        "{} {}",
        r.direction.to_ascii_uppercase(),
        r.action.to_ascii_uppercase()
    );
    let flags = [
        ("-i", &r.iface),
        ("-source", &r.source),
        ("-dest", &r.dest),
        ("-p", &r.proto),
        ("-dport", &r.port),
        ("-sport", &r.sport),
    ];
    for (flag, v) in flags {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            s.push_str(&format!(" {flag} {v}"));
        }
    }
    if let Some(c) = r
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        s.push_str(&format!(" # {c}"));
    }
    s
}

/// The file a guest's firewall block asks for, keeping the unmanaged parts of `current`:
/// `enable` follows the block, other options and sections stay, rules are the block's.
pub fn desired(current: &FwFile, enabled: bool, rules: &[FirewallRule]) -> FwFile {
    let mut f = current.clone();
    f.options
        .insert("enable".into(), if enabled { "1" } else { "0" }.into());
    f.rules = rules.iter().map(format_rule).collect();
    f
}

/// What bringing a `.fw` file to `want` takes: the changes to show and the text to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwPlan {
    /// One change per option that differs, per rule added or removed, or `rule order`.
    pub changes: Vec<Change>,
    /// The whole file to write.
    pub text: String,
}

/// The one firewall planner (guest `.fw` files and `cluster.fw`): compares the file as it is
/// (`None`: absent) with the file wanted and says what changes, in one wording, under the
/// group `firewall`. `None` when the file already reads as wanted.
pub fn plan(current: Option<&str>, want: &FwFile) -> Option<FwPlan> {
    let text = want.render().unwrap_or_default();
    if current.unwrap_or("") == text {
        return None;
    }
    let cur = current.map(FwFile::parse).unwrap_or_default();
    let mut changes = Vec::new();
    let keys: std::collections::BTreeSet<&String> =
        cur.options.keys().chain(want.options.keys()).collect();
    for k in keys {
        let (old, new) = (cur.options.get(k), want.options.get(k));
        if old == new {
            continue;
        }
        let op = match (old, new) {
            (None, _) => Op::Add,
            (_, None) => Op::Remove,
            _ => Op::Change,
        };
        let mut c = Change::new(op, "firewall", format!("option {k}"));
        c.from = old.cloned();
        c.to = new.cloned();
        changes.push(c);
    }
    for r in cur.rules.iter().filter(|r| !want.rules.contains(r)) {
        changes.push(Change::new(Op::Remove, "firewall", format!("rule {r}")));
    }
    for r in want.rules.iter().filter(|r| !cur.rules.contains(r)) {
        changes.push(Change::new(Op::Add, "firewall", format!("rule {r}")));
    }
    if changes.is_empty() {
        // Same options and rules: the order of the rules, or the layout, differs.
        changes.push(Change::new(Op::Change, "firewall", "rule order"));
    }
    Some(FwPlan { changes, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_each_option_and_rule_once_and_nothing_when_converged() {
        let cur =
            "[OPTIONS]\n\nenable: 0\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 23\n\n";
        let mut want = FwFile::parse(cur);
        want.options.insert("enable".into(), "1".into());
        want.options.remove("policy_in");
        want.rules = vec!["IN ACCEPT -p icmp".into()];
        let p = plan(Some(cur), &want).unwrap();
        let lines: Vec<String> = p
            .changes
            .iter()
            .map(|c| format!("{:?} {} {:?} {:?}", c.op, c.what, c.from, c.to))
            .collect();
        assert_eq!(
            lines,
            [
                "Change option enable Some(\"0\") Some(\"1\")",
                "Remove option policy_in Some(\"DROP\") None",
                "Remove rule IN ACCEPT -p tcp -dport 23 None None",
                "Add rule IN ACCEPT -p icmp None None",
            ]
        );
        assert_eq!(plan(Some(&p.text), &want), None);
        let mut swapped = FwFile::parse(&p.text);
        swapped.rules = vec!["OUT DROP".into(), "IN ACCEPT -p icmp".into()];
        let two = swapped.render().unwrap();
        swapped.rules.reverse();
        let order = plan(Some(&two), &swapped).unwrap();
        assert_eq!(order.changes.len(), 1);
        assert_eq!(order.changes[0].what, "rule order");
        // An absent file is planned from empty.
        assert!(
            plan(None, &want)
                .unwrap()
                .changes
                .iter()
                .all(|c| c.op == Op::Add)
        );
    }

    fn rule(
        dir: &str,
        action: &str,
        proto: Option<&str>,
        port: Option<&str>,
        source: Option<&str>,
        comment: Option<&str>,
    ) -> FirewallRule {
        FirewallRule {
            direction: dir.into(),
            action: action.into(),
            proto: proto.map(Into::into),
            port: port.map(Into::into),
            source: source.map(Into::into),
            comment: comment.map(Into::into),
            ..FirewallRule::default()
        }
    }

    #[test]
    fn renders_rules_in_config_order_with_pve_flag_order() {
        let rules = vec![
            rule(
                "in",
                "accept",
                Some("tcp"),
                Some("22"),
                Some("10.0.0.0/24"),
                Some("SSH"),
            ),
            rule("out", "DROP", None, None, None, None),
        ];
        let f = desired(&FwFile::default(), true, &rules);
        assert_eq!(
            f.render().unwrap(),
            "[OPTIONS]\n\nenable: 1\n\n[RULES]\n\nIN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 # SSH\nOUT DROP\n\n"
        );
    }

    #[test]
    fn keeps_unmanaged_parts_and_round_trips() {
        let text = "[OPTIONS]\n\nenable: 0\npolicy_in: DROP\n\n[IPSET trusted] # mgmt\n\n10.0.0.5\n\n[RULES]\n\n|IN ACCEPT -p tcp -dport 23\n\n";
        let cur = FwFile::parse(text);
        assert_eq!(cur.render().unwrap(), text);
        let f = desired(
            &cur,
            true,
            &[rule("in", "ACCEPT", Some("icmp"), None, None, None)],
        );
        assert_eq!(
            f.render().unwrap(),
            "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[IPSET trusted] # mgmt\n\n10.0.0.5\n\n[RULES]\n\nIN ACCEPT -p icmp\n\n"
        );
        assert_eq!(FwFile::default().render(), None);
    }
}
