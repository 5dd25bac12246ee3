//! Test knobs: strictness, time scale, the cost model, injected faults and guest command rules.
//!
//! - `config.json`: `{"strict": true, "time_scale": 0.0, "costs": {"pct.create": 9.0, …},
//!   "vm_boot_secs": 30, "ct_boot_secs": 2}`; `PVE_SIM_STRICT` and `PVE_SIM_TIME_SCALE`
//!   override it.
//! - `faults.json`: `[{"tool": "pct", "sub": "start", "id": "101", "nth": 1,
//!   "always": false, "message": "…", "exit": 255}]`: the `nth` call matching fails (and every
//!   later one with `always`), without touching state.
//! - `rules.json`: `[{"guest": 101, "match": "nvidia-smi*", "exit": 0, "stdout": "…",
//!   "stderr": "", "secs": 30}]`: what a command inside a guest does (glob on the command line
//!   joined by spaces; first match wins). Commands without a rule succeed silently, except the
//!   probes the simulator interprets against the guest's file tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::root::SimRoot;

/// `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Refuse what real Proxmox refuses (argument validation); default on.
    pub strict: bool,
    /// Wall seconds slept per simulated second (0 = never sleep).
    pub time_scale: f64,
    /// Overrides of the cost model (`<tool>.<op>` → seconds).
    pub costs: BTreeMap<String, f64>,
    /// Seconds from `qm start` until the guest agent answers.
    pub vm_boot_secs: u64,
    /// Seconds from `pct start` until the container is booted.
    pub ct_boot_secs: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            strict: true,
            time_scale: 0.0,
            costs: BTreeMap::new(),
            vm_boot_secs: 30,
            ct_boot_secs: 2,
        }
    }
}

/// Default simulated durations, in seconds, from public figures.
pub const DEFAULT_COSTS: &[(&str, f64)] = &[
    ("pct.create", 9.0),
    ("pct.clone.linked", 0.07),
    ("pct.clone.full_per_gb", 0.25),
    ("pct.start", 0.5),
    ("pct.stop", 1.0),
    ("pct.shutdown", 3.0),
    ("pct.reboot", 3.5),
    ("pct.destroy", 1.0),
    ("pct.set", 0.05),
    ("pct.snapshot", 0.2),
    ("pct.delsnapshot", 0.2),
    ("pct.rollback", 0.5),
    ("pct.template", 0.3),
    ("pct.resize", 0.2),
    ("pct.push", 0.05),
    ("pct.pull", 0.05),
    ("pct.exec", 0.05),
    ("qm.create", 0.5),
    ("qm.importdisk_per_gb", 2.0),
    ("qm.clone.linked", 0.1),
    ("qm.clone.full_per_gb", 0.5),
    ("qm.start", 1.0),
    ("qm.stop", 2.0),
    ("qm.shutdown", 10.0),
    ("qm.reboot", 10.0),
    ("qm.destroy", 1.0),
    ("qm.template", 0.5),
    ("qm.resize", 0.1),
    ("qm.set", 0.05),
    ("qm.snapshot", 0.3),
    ("qm.guest_exec", 0.05),
    ("qm.exec_status_poll", 1.0),
    ("qm.agent_ping", 1.0),
    ("qm.cloudinit", 0.2),
    ("storage.alloc", 0.5),
    ("pvesm.alloc", 0.1),
    ("pvesm.write", 0.05),
    ("pveam.download", 20.0),
    ("zfs.write", 0.05),
    ("zpool.create", 1.0),
    ("apt.update", 5.0),
    ("apt.install_per_pkg", 20.0),
    ("apt.remove_per_pkg", 5.0),
    ("apt.upgrade", 30.0),
    ("systemctl", 0.5),
    ("host.read", 0.05),
    ("host.write", 0.1),
    ("wipefs", 0.1),
    ("apparmor.load", 0.3),
    ("curl.download", 10.0),
    ("nvidia.install", 90.0),
    ("initramfs", 15.0),
    ("locale.gen", 3.0),
    ("exportfs", 0.2),
    ("ca.update", 1.0),
    ("step.bootstrap", 1.0),
    ("step.certificate", 0.5),
    ("boot", 60.0),
    ("read", 0.01),
];

impl Knobs {
    /// Loads `config.json` (defaults when absent) and applies the environment overrides.
    pub fn load(root: &SimRoot) -> Self {
        let mut k: Knobs = std::fs::read_to_string(root.data_file("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if let Ok(v) = std::env::var("PVE_SIM_STRICT") {
            k.strict = !matches!(v.as_str(), "0" | "false" | "no" | "off");
        }
        if let Some(v) = std::env::var("PVE_SIM_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            k.time_scale = v;
        }
        k
    }

    /// The simulated duration of an operation.
    pub fn cost(&self, op: &str) -> f64 {
        self.costs
            .get(op)
            .copied()
            .or_else(|| {
                DEFAULT_COSTS
                    .iter()
                    .find(|(k, _)| *k == op)
                    .map(|(_, v)| *v)
            })
            .unwrap_or(0.0)
    }
}

/// One injected fault.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Fault {
    /// Tool (`pct`, `qm`, …).
    pub tool: String,
    /// Subcommand (`start`, `guest exec`, …); empty = any.
    pub sub: String,
    /// Guest or object ID as the first positional argument; empty = any.
    pub id: String,
    /// Which matching call fails first (1-based).
    pub nth: u64,
    /// Keep failing after the nth call.
    pub always: bool,
    /// Error text (stderr).
    pub message: String,
    /// Exit status (default 255).
    pub exit: Option<i32>,
    /// Instead of failing the call, kill the run making it: SIGKILL to every ancestor of
    /// the simulator up to the first process of this name (`phoenix-cli`), and to itself,
    /// before the call does anything — a `kill -9` at a reproducible moment.
    pub kill: Option<String>,
}

/// Loads `faults.json`.
pub fn faults(root: &SimRoot) -> Vec<Fault> {
    std::fs::read_to_string(root.data_file("faults.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// One guest command rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Rule {
    /// Only for this guest.
    pub guest: Option<u32>,
    /// Glob over the command line joined by spaces (`*` matches anything).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Exit status.
    pub exit: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Simulated duration.
    pub secs: f64,
    /// Files the command leaves in the guest (guest path → content), e.g. a feature's log
    /// and exit-code files.
    pub files: BTreeMap<String, String>,
    /// The command only reads (a probe, a health check): the audit counts it as a read.
    pub read: bool,
}

/// Loads `rules.json`.
pub fn rules(root: &SimRoot) -> Vec<Rule> {
    std::fs::read_to_string(root.data_file("rules.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Glob match with `*` (any run of characters) and `?` (one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("nvidia-smi*", "nvidia-smi --query-gpu=driver_version"));
        assert!(glob(
            "*install*docker*",
            "bash /tmp/phoenix/install_docker.sh"
        ));
        assert!(!glob("nvidia-smi", "nvidia-smi -L"));
        assert!(glob("a?c", "abc"));
        assert!(glob("*", ""));
    }

    #[test]
    fn costs_default_and_override() {
        let mut k = Knobs::default();
        assert_eq!(k.cost("pct.create"), 9.0);
        k.costs.insert("pct.create".into(), 1.0);
        assert_eq!(k.cost("pct.create"), 1.0);
        assert_eq!(k.cost("nothing"), 0.0);
    }
}
