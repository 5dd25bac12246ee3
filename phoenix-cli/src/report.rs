//! What `phoenix` prints: the run summary table and the `validate` summary.

use std::fmt::Write as _;
use std::path::Path;

use phoenix_core::config::{Config, Guest, Report, Severity};
use phoenix_core::graph::{self, EdgeKind};

use crate::run::{JobResult, Outcome};

/// The summary table printed after a run.
pub fn summary_table(results: &[JobResult]) -> String {
    let mut rows: Vec<[String; 5]> =
        vec![["GUEST", "KIND", "ACTION", "RESULT", "TIME"].map(String::from)];
    for r in results {
        let outcome = match &r.outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Exists => "exists, skipped".to_string(),
            Outcome::Failed { code: Some(c) } => format!("FAILED (exit {c})"),
            Outcome::Failed { code: None } => "FAILED (no exit status)".to_string(),
            Outcome::Skipped { because } => format!("skipped ({because} failed)"),
        };
        let time = r
            .elapsed
            .map_or_else(|| "-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
        rows.push([
            r.guest.map_or_else(|| "-".to_string(), |g| g.to_string()),
            r.kind.map_or_else(|| "-".to_string(), |k| k.to_string()),
            r.action.clone(),
            outcome,
            time,
        ]);
    }
    let mut out = table(&rows);
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped { .. }))
        .count();
    let ok = results.len() - failed - skipped;
    let _ = writeln!(out, "{ok} ok, {failed} failed, {skipped} skipped");
    out
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut width = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn source(cfg: &Config, g: &Guest<'_>) -> String {
    if let Some(src) = g.clone_source() {
        return match cfg.guest(src) {
            Some(s) if s.is_template() => format!("linked clone of {src}"),
            Some(s) => format!("clone {src}@{}", s.template_snapshot_name().unwrap_or("?")),
            None => format!("clone {src}"),
        };
    }
    match g {
        Guest::Lxc(_, c) => match (&c.template, &c.template_file) {
            (_, Some(f)) => format!("template {f}"),
            (Some(t), None) => format!(
                "template {}",
                Path::new(t)
                    .file_name()
                    .map_or_else(|| t.clone(), |n| n.to_string_lossy().into_owned())
            ),
            (None, None) => "template chosen by features".to_string(),
        },
        Guest::Vm(_, v) => v
            .template_image
            .as_ref()
            .map_or_else(|| "-".to_string(), |i| format!("image {i}")),
    }
}

fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Orders shown by `validate`.
pub struct Orders {
    /// Creation order.
    pub create: Vec<String>,
    /// LetsGo start order.
    pub start: Vec<String>,
}

/// Computes the create and start orders.
pub fn orders(cfg: &Config) -> Orders {
    let create = cfg
        .graph()
        .topo_order()
        .map(|o| o.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let start = graph::boot_order(
        cfg.guests()
            .iter()
            .filter(|g| !g.is_template())
            .map(|g| (g.id(), g.boot_order())),
    );
    Orders {
        create,
        start: start.iter().map(ToString::to_string).collect(),
    }
}

/// The one-screen summary printed by `validate`.
pub fn validate_summary(cfg: &Config, report: &Report) -> String {
    let mut out = String::new();
    let loc = &cfg.location;
    let _ = writeln!(
        out,
        "configuration  {} (from {})",
        loc.dir.display(),
        loc.source
    );
    let h = &cfg.host;
    let domain = h
        .domain_name
        .as_deref()
        .map_or_else(String::new, |d| format!(", domain {d}"));
    let _ = writeln!(
        out,
        "  host         {}: {} ZFS pools, {} datasets{domain}",
        file_name(&cfg.files.host),
        h.zfs.pools.len(),
        h.zfs.datasets.len()
    );
    let _ = writeln!(
        out,
        "  containers   {}: {}",
        file_name(&cfg.files.lxc),
        cfg.lxc.lxc_configs.len()
    );
    let _ = writeln!(
        out,
        "  VMs          {}: {}",
        file_name(&cfg.files.vm),
        cfg.vm.vms.len()
    );
    let names: Vec<&str> = cfg.stacks.keys().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "  stacks       {}: {}",
        cfg.files.stacks_dir.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    if cfg.eras.any_legacy() {
        let _ = writeln!(
            out,
            "  era          LEGACY (v1-era shapes read with --allow-legacy; see the warnings)"
        );
    }
    out.push('\n');

    let g = cfg.graph();
    let mut rows: Vec<[String; 6]> =
        vec![["ID", "KIND", "NAME", "FROM", "BOOT", "NEEDS"].map(String::from)];
    for guest in cfg.guests() {
        let needs: Vec<String> = g
            .needs(guest.id())
            .iter()
            .filter(|(_, k)| *k == EdgeKind::Depends)
            .map(|(t, _)| t.to_string())
            .collect();
        let boot = if guest.is_template() {
            "template".to_string()
        } else {
            guest
                .boot_order()
                .map_or_else(|| "-".to_string(), |b| b.to_string())
        };
        rows.push([
            guest.id().to_string(),
            guest.kind().to_string(),
            guest.name().to_string(),
            ellipsize(&source(cfg, &guest), 40),
            boot,
            if needs.is_empty() {
                "-".to_string()
            } else {
                needs.join(",")
            },
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');

    let sources: Vec<String> = cfg
        .guests()
        .iter()
        .filter(|s| {
            cfg.guests()
                .iter()
                .any(|o| o.clone_source() == Some(s.id()))
        })
        .map(|s| {
            if s.is_template() {
                format!("{} (Proxmox template)", s.id())
            } else {
                format!("{} ({})", s.id(), s.template_snapshot_name().unwrap_or("?"))
            }
        })
        .collect();
    let o = orders(cfg);
    let _ = writeln!(
        out,
        "clone sources  {}",
        if sources.is_empty() {
            "none".to_string()
        } else {
            sources.join(", ")
        }
    );
    let _ = writeln!(out, "create order   {}", o.create.join(" "));
    let _ = writeln!(out, "start order    {}", o.start.join(" "));
    // What findings on one object block (warnings above): the rest of the estate acts.
    let mut blocked: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    for b in cfg.blockers.iter().filter_map(|d| d.blocks.as_ref()) {
        let entry = blocked.entry(b.subject.to_string()).or_default();
        entry.extend(b.work.iter().map(|w| w.verbs()));
    }
    if !blocked.is_empty() {
        let items: Vec<String> = blocked
            .iter()
            .map(|(subject, work)| {
                let work: Vec<&str> = work.iter().copied().collect();
                format!("{subject} ({})", work.join(", "))
            })
            .collect();
        let _ = writeln!(out, "blocked        {}", items.join("; "));
    }
    out.push('\n');
    let (e, w, n) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Note),
    );
    let _ = write!(out, "valid: {e} errors, {w} warnings, {n} notes");
    if n > 0 {
        out.push_str(" (-v shows notes)");
    }
    out.push('\n');
    out
}
