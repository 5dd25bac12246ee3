//! Guest firewall files (`/etc/pve/firewall/<id>.fw`) as pve-firewall writes them, built
//! from the configuration: `[OPTIONS]` (sorted), the sections we do not manage (aliases,
//! IP sets) kept as they were, and `[RULES]` in config order.
//!
//! The managers write the whole file declaratively instead of replaying `pvesh` calls: the
//! result is the same file pve-firewall would write, rules keep their config order, and stale
//! rules disappear.

use std::collections::BTreeMap;

use crate::config::guest::FirewallRule;

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

#[cfg(test)]
mod tests {
    use super::*;

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
