//! Firewall files (`/etc/pve/firewall/<vmid>.fw`, `cluster.fw`, `host.fw`) in pve-firewall's
//! format: `[OPTIONS]`, `[ALIASES]`, `[IPSET name]`, `[RULES]`, `[group name]` sections; rule
//! lines such as `IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 # comment`, disabled rules
//! prefixed with `|`. Written back with pve-firewall's flag order; an empty file is removed.

use std::collections::BTreeMap;
use std::path::Path;

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Enabled (`|` prefix when not).
    pub enable: bool,
    /// `in`, `out`, `group`, `forward`.
    pub kind: String,
    /// `ACCEPT`, `DROP`, `REJECT` or a group name.
    pub action: String,
    /// Macro (`SSH` in `SSH(ACCEPT)`).
    pub macro_: Option<String>,
    /// `-i`.
    pub iface: Option<String>,
    /// `-source`.
    pub source: Option<String>,
    /// `-dest`.
    pub dest: Option<String>,
    /// `-p`.
    pub proto: Option<String>,
    /// `-dport`.
    pub dport: Option<String>,
    /// `-sport`.
    pub sport: Option<String>,
    /// `-log`.
    pub log: Option<String>,
    /// `-icmp-type`.
    pub icmp_type: Option<String>,
    /// `# comment`.
    pub comment: Option<String>,
}

/// A parsed firewall file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FwFile {
    /// Options (written sorted).
    pub options: BTreeMap<String, String>,
    /// `[ALIASES]` lines as written.
    pub aliases: Vec<String>,
    /// `[IPSET name]` → entry lines.
    pub ipsets: BTreeMap<String, Vec<String>>,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// `[group name]` → rules (cluster.fw).
    pub groups: BTreeMap<String, Vec<Rule>>,
    /// Lines that could not be parsed (`<file> (line N): …`).
    pub warnings: Vec<String>,
}

/// Parses one rule line.
pub fn parse_rule(line: &str) -> Result<Rule, String> {
    let mut r = Rule::default();
    let mut line = line.to_string();
    if let Some(i) = line.find('#') {
        let c = line[i + 1..].trim().to_string();
        if !c.is_empty() {
            r.comment = Some(c);
        }
        line.truncate(i);
    }
    let mut line = line.trim();
    r.enable = match line.strip_prefix('|') {
        Some(rest) => {
            line = rest;
            false
        }
        None => true,
    };
    let mut words = line.split_whitespace();
    let (Some(kind), Some(action)) = (words.next(), words.next()) else {
        return Err(format!("unable to parse rule: {line}"));
    };
    r.kind = kind.to_ascii_lowercase();
    r.action = action.to_string();
    if let Some((m, a)) = action.strip_suffix(')').and_then(|x| x.split_once('(')) {
        if matches!(a, "ACCEPT" | "DROP" | "REJECT") {
            r.macro_ = Some(m.to_string());
            r.action = a.to_string();
        }
    }
    let rest: Vec<&str> = words.collect();
    let mut i = 0;
    while i < rest.len() {
        let flag = rest[i].trim_start_matches('-');
        let val = rest.get(i + 1).map(|v| v.to_string());
        let slot = match flag {
            "i" => &mut r.iface,
            "p" | "proto" => &mut r.proto,
            "dport" => &mut r.dport,
            "sport" => &mut r.sport,
            "source" => &mut r.source,
            "dest" => &mut r.dest,
            "log" => &mut r.log,
            "icmp-type" => &mut r.icmp_type,
            _ => {
                return Err(format!(
                    "unable to parse rule parameters: {}",
                    rest[i..].join(" ")
                ));
            }
        };
        if val.is_none() {
            return Err(format!(
                "unable to parse rule parameters: {}",
                rest[i..].join(" ")
            ));
        }
        *slot = val;
        i += 2;
    }
    Ok(r)
}

/// Formats a rule the way pve-firewall writes it.
pub fn format_rule(r: &Rule, allow_iface: bool) -> String {
    let mut s = String::new();
    if !r.enable {
        s.push('|');
    }
    s.push_str(&r.kind.to_ascii_uppercase());
    match &r.macro_ {
        Some(m) => s.push_str(&format!(" {m}({})", r.action)),
        None => s.push_str(&format!(" {}", r.action)),
    }
    if allow_iface {
        if let Some(i) = &r.iface {
            s.push_str(&format!(" -i {i}"));
        }
    }
    if r.kind != "group" {
        for (flag, v) in [
            ("source", &r.source),
            ("dest", &r.dest),
            ("p", &r.proto),
            ("dport", &r.dport),
            ("sport", &r.sport),
            ("log", &r.log),
            ("icmp-type", &r.icmp_type),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                s.push_str(&format!(" -{flag} {v}"));
            }
        }
    }
    if let Some(c) = r.comment.as_ref().filter(|c| !c.trim().is_empty()) {
        s.push_str(&format!(" # {c}"));
    }
    s
}

impl FwFile {
    /// Parses a file; `name` is used in warnings.
    pub fn parse(text: &str, name: &str) -> Self {
        let mut f = FwFile::default();
        #[derive(PartialEq)]
        enum Sec {
            None,
            Options,
            Aliases,
            Rules,
            Ipset(String),
            Group(String),
        }
        let mut sec = Sec::None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let lower = line.to_ascii_lowercase();
            let header = lower.split('#').next().unwrap_or("").trim().to_string();
            if header == "[options]" {
                sec = Sec::Options;
                continue;
            }
            if header == "[aliases]" {
                sec = Sec::Aliases;
                continue;
            }
            if header == "[rules]" {
                sec = Sec::Rules;
                continue;
            }
            if let Some(n) = header
                .strip_prefix("[ipset ")
                .and_then(|r| r.strip_suffix(']'))
            {
                sec = Sec::Ipset(n.trim().to_string());
                f.ipsets.entry(n.trim().to_string()).or_default();
                continue;
            }
            if let Some(n) = header
                .strip_prefix("[group ")
                .and_then(|r| r.strip_suffix(']'))
            {
                sec = Sec::Group(n.trim().to_string());
                f.groups.entry(n.trim().to_string()).or_default();
                continue;
            }
            let prefix = format!("{name} (line {})", n + 1);
            match &sec {
                Sec::None => f.warnings.push(format!("{prefix}: skip line - no section")),
                Sec::Options => match line.split_once(':') {
                    Some((k, v)) => {
                        f.options
                            .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    None => f
                        .warnings
                        .push(format!("{prefix}: can't parse option '{line}'")),
                },
                Sec::Aliases => f.aliases.push(line.to_string()),
                Sec::Ipset(n) => f
                    .ipsets
                    .entry(n.clone())
                    .or_default()
                    .push(line.to_string()),
                Sec::Rules => match parse_rule(line) {
                    Ok(r) => f.rules.push(r),
                    Err(e) => f.warnings.push(format!("{prefix}: {e}")),
                },
                Sec::Group(n) => match parse_rule(line) {
                    Ok(r) => f.groups.entry(n.clone()).or_default().push(r),
                    Err(e) => f.warnings.push(format!("{prefix}: {e}")),
                },
            }
        }
        f
    }

    /// Loads a file (empty when absent).
    pub fn load(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&std::fs::read_to_string(path).unwrap_or_default(), &name)
    }

    /// Renders the file (`None` when everything is empty: the file is removed).
    pub fn render(&self) -> Option<String> {
        let mut out = String::new();
        if !self.options.is_empty() {
            out.push_str("[OPTIONS]\n\n");
            for (k, v) in &self.options {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push('\n');
        }
        if !self.aliases.is_empty() {
            out.push_str("[ALIASES]\n\n");
            for a in &self.aliases {
                out.push_str(&format!("{a}\n"));
            }
            out.push('\n');
        }
        for (name, entries) in &self.ipsets {
            out.push_str(&format!("[IPSET {name}]\n\n"));
            let mut e = entries.clone();
            e.sort();
            for x in e {
                out.push_str(&format!("{x}\n"));
            }
            out.push('\n');
        }
        if !self.rules.is_empty() {
            out.push_str("[RULES]\n\n");
            for r in &self.rules {
                out.push_str(&format_rule(r, true));
                out.push('\n');
            }
            out.push('\n');
        }
        for (name, rules) in &self.groups {
            out.push_str(&format!("[group {name}]\n\n"));
            for r in rules {
                out.push_str(&format_rule(r, false));
                out.push('\n');
            }
            out.push('\n');
        }
        (!out.is_empty()).then_some(out)
    }

    /// Saves (or removes) the file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        match self.render() {
            Some(t) => crate::root::write_atomic(path, t.as_bytes()),
            None => {
                let _ = std::fs::remove_file(path);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_in_pve_firewall_order() {
        let r = parse_rule("IN ACCEPT -p tcp -dport 22 -source 10.0.0.0/24 -log nolog # allow ssh")
            .unwrap();
        assert_eq!(
            format_rule(&r, true),
            "IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 -log nolog # allow ssh"
        );
        let d = parse_rule("|OUT DROP -dest 8.8.8.8").unwrap();
        assert!(!d.enable);
        assert_eq!(format_rule(&d, true), "|OUT DROP -dest 8.8.8.8");
        let m = parse_rule("IN SSH(ACCEPT) -i net0").unwrap();
        assert_eq!(
            (m.macro_.as_deref(), m.action.as_str()),
            (Some("SSH"), "ACCEPT")
        );
        assert!(parse_rule("IN ACCEPT -bogus 1").is_err());
    }

    #[test]
    fn files_render_with_sections_and_blank_lines() {
        let text = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\n\nIN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 -log nolog # allow ssh\n|IN DROP -p tcp -dport 23\n\n";
        let f = FwFile::parse(text, "100.fw");
        assert!(f.warnings.is_empty());
        assert_eq!(f.render().as_deref(), Some(text));
        assert_eq!(FwFile::default().render(), None);
    }
}
