//! systemd units: whether a unit exists, is enabled and is active (`systemctl is-enabled`,
//! `systemctl is-active`), and the commands that change that.

use anyhow::Context;

use crate::cmd::{Cmd, Runner};

/// What systemd says about one unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    /// systemd knows the unit file.
    pub exists: bool,
    /// `is-enabled` says `enabled` (or `enabled-runtime`, `alias`, `static`, `indirect`,
    /// `generated`: states in which `enable` has nothing to do).
    pub enabled: bool,
    /// `is-active` says `active`.
    pub active: bool,
}

/// The unit name systemd uses (`dnsmasq` → `dnsmasq.service`).
pub fn unit_name(unit: &str) -> String {
    if unit.contains('.') {
        unit.to_string()
    } else {
        format!("{unit}.service")
    }
}

/// Reads `systemctl is-enabled` and `is-active` output (pure): the first word of each, and
/// the stderr of `is-enabled`, which names a unit systemd does not know.
pub fn parse_state(is_enabled: &str, is_enabled_err: &str, is_active: &str) -> UnitState {
    let word = |s: &str| s.split_whitespace().next().unwrap_or("").to_string();
    let en = word(is_enabled);
    let exists = !(en.is_empty()
        && (is_enabled_err.contains("No such file") || is_enabled_err.contains("not found")));
    UnitState {
        exists,
        enabled: matches!(
            en.as_str(),
            "enabled" | "enabled-runtime" | "alias" | "static" | "indirect" | "generated"
        ),
        active: word(is_active) == "active",
    }
}

/// Asks systemd about `unit`.
pub fn state(runner: &Runner, unit: &str) -> anyhow::Result<UnitState> {
    let unit = unit_name(unit);
    let en = runner
        .run(
            &Cmd::read("systemctl")
                .args(["is-enabled", &unit])
                .ok_codes(&[0, 1]),
        )
        .with_context(|| format!("cannot ask systemd whether {unit} is enabled"))?;
    let ac = runner
        .run(
            &Cmd::read("systemctl")
                .args(["is-active", &unit])
                .ok_codes(&[0, 1, 3, 4]),
        )
        .with_context(|| format!("cannot ask systemd whether {unit} is active"))?;
    Ok(parse_state(
        &en.stdout_str(),
        &en.stderr_str(),
        &ac.stdout_str(),
    ))
}

/// `systemctl <verb> <unit>` (`enable --now` is two words).
pub fn cmd(verb: &str, unit: &str) -> Cmd {
    Cmd::mutate("systemctl")
        .args(verb.split_whitespace())
        .arg(unit_name(unit))
}

/// `systemctl daemon-reload`.
pub fn daemon_reload() -> Cmd {
    Cmd::mutate("systemctl").arg("daemon-reload")
}

/// What makes a unit enabled and running: nothing, `enable --now`, `enable` or `start`.
pub fn ensure_running(unit: &str, s: UnitState) -> Option<Cmd> {
    match (s.enabled, s.active) {
        (true, true) => None,
        (false, false) => Some(cmd("enable --now", unit)),
        (false, true) => Some(cmd("enable", unit)),
        (true, false) => Some(cmd("start", unit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_come_from_the_first_word() {
        let s = parse_state("enabled\n", "", "active\n");
        assert_eq!(
            s,
            UnitState {
                exists: true,
                enabled: true,
                active: true
            }
        );
        let s = parse_state("disabled\n", "", "inactive\n");
        assert!(s.exists && !s.enabled && !s.active);
        let s = parse_state(
            "",
            "Failed to get unit file state for dnsmasq.service: No such file or directory\n",
            "inactive\n",
        );
        assert!(!s.exists && !s.enabled && !s.active);
        assert!(parse_state("static\n", "", "active\n").enabled);
        assert!(!parse_state("masked\n", "", "inactive\n").enabled);
    }

    #[test]
    fn running_units_need_nothing() {
        let st = |enabled, active| UnitState {
            exists: true,
            enabled,
            active,
        };
        assert!(ensure_running("smbd", st(true, true)).is_none());
        let show = |c: Option<Cmd>| c.unwrap().to_string();
        assert_eq!(
            show(ensure_running("smbd", st(false, false))),
            "systemctl enable --now smbd.service"
        );
        assert_eq!(
            show(ensure_running("x.timer", st(true, false))),
            "systemctl start x.timer"
        );
    }
}
