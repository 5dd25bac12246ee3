//! The runtime planner both guest managers share (pure): with the guest's settings in place,
//! what runs — start, a snapshot before the installers, the feature installers whose script
//! or inputs changed, an application script and host hook (containers), the health check,
//! the snapshots after, or the conversion to a Proxmox template.
//!
//! Installers are recorded inside the guest with a hash of their script and inputs; one whose
//! recorded hash matches is not run again. Snapshots record the guest's content, so they are
//! retaken only when an installer ran.

use std::collections::BTreeMap;

use crate::converge::{Change, Op};

/// What the guest should be, as far as the runtime steps care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeSpec {
    /// `container` or `VM`, for messages.
    pub noun: &'static str,
    /// The guest's ID, for messages.
    pub id: u32,
    /// It should become a Proxmox template.
    pub is_template: bool,
    /// The snapshot taken before the first installer runs (`pre-configured`).
    pub pre: Option<String>,
    /// The snapshots taken after the installers, in order (`final-form`, the
    /// `template_snapshot_name` clones are made from).
    pub post: Vec<String>,
}

/// What is known about the guest before the runtime steps start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeState {
    /// The guest is a Proxmox template already.
    pub template: bool,
    /// It is running.
    pub running: bool,
    /// Its snapshots.
    pub snapshots: Vec<String>,
    /// Why it cannot take snapshots (a container with bind mounts), if it cannot.
    pub no_snapshots: Option<String>,
    /// Recorded feature hashes (`None`: unknown, the guest is not running yet).
    pub markers: Option<BTreeMap<String, String>>,
    /// Recorded application-script hash.
    pub app_marker: Option<String>,
    /// Recorded host-hook hash.
    pub hook_marker: Option<String>,
    /// Settings change in this run (or it was just created).
    pub settings_changed: bool,
    /// Files an earlier installer run could not remove from the guest ([`super::leftovers`]).
    pub leftovers: Vec<String>,
}

/// One runtime step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start and wait until the guest answers.
    Start,
    /// Remove files an earlier installer run left in the guest.
    Cleanup(Vec<String>),
    /// Take a snapshot.
    Snapshot(String),
    /// Delete a snapshot (to take it again).
    DelSnapshot(String),
    /// Run a feature installer; its hash.
    Feature(String, String),
    /// Run the application script; its hash.
    App(String, String),
    /// Run the host hook; its hash.
    Hook(String),
    /// Run the health check.
    HealthCheck,
    /// Stop and convert to a Proxmox template.
    Template,
}

impl Step {
    /// The step's name in messages (`feature docker`, `snapshot final-form`).
    pub fn name(&self) -> String {
        match self {
            Step::Start => "start".into(),
            Step::Cleanup(_) => "removal of leftover installer files".into(),
            Step::Snapshot(n) => format!("snapshot {n}"),
            Step::DelSnapshot(n) => format!("delete snapshot {n}"),
            Step::Feature(f, _) => format!("feature {f}"),
            Step::App(a, _) => format!("application script {a}"),
            Step::Hook(_) => "host hook".into(),
            Step::HealthCheck => "health check".into(),
            Step::Template => "template conversion".into(),
        }
    }
}

/// Inputs that come from files: `(feature, hash)`, the application script and the host hook
/// with their hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Features with their current hashes, in order.
    pub features: Vec<(String, String)>,
    /// Application script name and hash.
    pub app: Option<(String, String)>,
    /// Host hook hash.
    pub hook: Option<String>,
    /// Run every feature even when recorded (`--force-features`).
    pub force: bool,
    /// A health check is configured.
    pub health_check: bool,
}

/// Why the runtime steps cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub String);

/// Plans the runtime steps and their plan lines.
pub fn plan(
    spec: &RuntimeSpec,
    st: &RuntimeState,
    work: &Work,
) -> Result<(Vec<Step>, Vec<Change>), RuntimeError> {
    let noun = spec.noun;
    let mut steps = Vec::new();
    let mut changes = Vec::new();
    if st.template {
        changes.push(Change::new(
            Op::Note,
            "runtime",
            "is a Proxmox template: settings are checked, nothing runs inside it",
        ));
        return Ok((steps, changes));
    }
    if !st.running {
        steps.push(Step::Start);
        changes.push(Change::new(
            Op::Run,
            "runtime",
            "start and wait until it answers",
        ));
    }
    if !st.leftovers.is_empty() {
        steps.push(Step::Cleanup(st.leftovers.clone()));
        changes.push(Change::new(
            Op::Run,
            "runtime",
            format!(
                "remove what an earlier installer run left: {}",
                st.leftovers.join(", ")
            ),
        ));
    }
    let unknown = st.markers.is_none();
    let recorded = st.markers.clone().unwrap_or_default();
    let features: Vec<&(String, String)> = work
        .features
        .iter()
        .filter(|(f, h)| work.force || recorded.get(f) != Some(h))
        .collect();
    let app = work
        .app
        .as_ref()
        .filter(|(_, h)| work.force || st.app_marker.as_ref() != Some(h));
    let hook = work
        .hook
        .as_ref()
        .filter(|h| st.hook_marker.as_ref() != Some(h));
    let will_run = !features.is_empty() || app.is_some() || hook.is_some();
    let no_snapshots = st.no_snapshots.as_deref().filter(|_| !spec.is_template);
    if let (Some(pre), false, true) = (&spec.pre, spec.is_template, will_run) {
        if let Some(why) = no_snapshots {
            changes.push(Change::new(
                Op::Note,
                "snapshots",
                format!("{pre}: snapshots unavailable ({why})"),
            ));
        } else if !st.snapshots.contains(pre) {
            steps.push(Step::Snapshot(pre.clone()));
            changes.push(Change::new(Op::Run, "snapshots", format!("take {pre}")));
        }
    }
    for (f, h) in &work.features {
        if features.iter().any(|(x, _)| x == f) {
            let why = if work.force {
                "forced"
            } else if unknown {
                "unless recorded: known once it runs"
            } else if recorded.contains_key(f) {
                "script or inputs changed"
            } else {
                "new"
            };
            steps.push(Step::Feature(f.clone(), h.clone()));
            changes.push(Change::new(Op::Run, "features", format!("{f} ({why})")));
        }
    }
    if let Some((name, h)) = app {
        steps.push(Step::App(name.clone(), h.clone()));
        changes.push(Change::new(Op::Run, "application", name.clone()));
    }
    if let Some(h) = hook {
        steps.push(Step::Hook(h.clone()));
        changes.push(Change::new(
            Op::Run,
            "host hook",
            format!("setup hook for {}", spec.id),
        ));
    }
    // The health check runs after anything that could affect it: creation, settings, a
    // start, installers. A converged, untouched guest is not probed.
    if work.health_check && (will_run || st.settings_changed || !st.running) {
        steps.push(Step::HealthCheck);
        changes.push(Change::new(Op::Note, "checks", "health check"));
    }
    // Snapshots record the guest's content: retaken only when an installer ran. Settings
    // live in the .conf and are converged again after a rollback or clone.
    let mut names: Vec<&String> = Vec::new();
    for n in &spec.post {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if spec.is_template {
        if !st.snapshots.is_empty() {
            return Err(RuntimeError(format!(
                "{noun} {} should become a Proxmox template but has snapshots ({}); Proxmox cannot convert it: delete them or set is_template to false",
                spec.id,
                st.snapshots.join(", ")
            )));
        }
        if !names.is_empty() {
            changes.push(Change::new(
                Op::Note,
                "snapshots",
                "templates take no snapshots; clones of it are linked clones",
            ));
        }
        steps.push(Step::Template);
        changes.push(Change::new(
            Op::Run,
            "template",
            "stop and convert to a Proxmox template",
        ));
        return Ok((steps, changes));
    }
    for n in names {
        if let Some(why) = no_snapshots {
            if will_run || st.settings_changed {
                changes.push(Change::new(
                    Op::Note,
                    "snapshots",
                    format!("{n}: snapshots unavailable ({why})"),
                ));
            }
            continue;
        }
        if !st.snapshots.contains(n) {
            steps.push(Step::Snapshot(n.clone()));
            changes.push(Change::new(Op::Run, "snapshots", format!("take {n}")));
        } else if will_run {
            steps.push(Step::DelSnapshot(n.clone()));
            steps.push(Step::Snapshot(n.clone()));
            changes.push(Change::new(
                Op::Run,
                "snapshots",
                format!("retake {n} (the {noun} changed)"),
            ));
        }
    }
    Ok((steps, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> RuntimeSpec {
        RuntimeSpec {
            noun: "VM",
            id: 1001,
            post: vec!["final-form".into()],
            ..RuntimeSpec::default()
        }
    }

    fn work(features: &[(&str, &str)]) -> Work {
        Work {
            features: features
                .iter()
                .map(|(f, h)| (f.to_string(), h.to_string()))
                .collect(),
            ..Work::default()
        }
    }

    /// Files an installer run could not remove are removed first, and only then: a
    /// converged guest with nothing recorded plans nothing.
    #[test]
    fn leftovers_are_removed_first_and_only_when_recorded() {
        let converged = RuntimeState {
            running: true,
            snapshots: vec!["final-form".into()],
            markers: Some([("docker".to_string(), "h".to_string())].into()),
            ..RuntimeState::default()
        };
        let (steps, _) = plan(&vm(), &converged, &work(&[("docker", "h")])).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        let left = RuntimeState {
            leftovers: vec!["/tmp/phoenix/feature-docker.json".into()],
            ..converged.clone()
        };
        let (steps, changes) = plan(&vm(), &left, &work(&[("docker", "h")])).unwrap();
        assert_eq!(
            steps,
            [Step::Cleanup(vec![
                "/tmp/phoenix/feature-docker.json".into()
            ])]
        );
        assert!(
            changes[0].to_string().contains("feature-docker.json"),
            "{changes:?}"
        );
        let stopped = RuntimeState {
            running: false,
            ..left
        };
        let (steps, _) = plan(&vm(), &stopped, &work(&[("docker", "h")])).unwrap();
        assert_eq!(steps[0], Step::Start);
        assert!(matches!(steps[1], Step::Cleanup(_)));
    }

    #[test]
    fn unchanged_installers_do_not_run_and_snapshots_stay() {
        let st = RuntimeState {
            running: true,
            snapshots: vec!["final-form".into()],
            markers: Some([("docker".to_string(), "h".to_string())].into()),
            ..RuntimeState::default()
        };
        let (steps, changes) = plan(&vm(), &st, &work(&[("docker", "h")])).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_changed_installer_runs_and_the_snapshots_are_retaken() {
        let st = RuntimeState {
            running: true,
            snapshots: vec!["final-form".into(), "before".into()],
            markers: Some([("docker".to_string(), "old".to_string())].into()),
            ..RuntimeState::default()
        };
        let spec = RuntimeSpec {
            pre: Some("before".into()),
            ..vm()
        };
        let (steps, changes) = plan(&spec, &st, &work(&[("docker", "new")])).unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Feature("docker".into(), "new".into()),
                Step::DelSnapshot("final-form".into()),
                Step::Snapshot("final-form".into()),
            ]
        );
        assert_eq!(
            changes.last().unwrap().what,
            "retake final-form (the VM changed)"
        );
    }

    #[test]
    fn a_template_with_snapshots_is_refused_with_the_noun() {
        let spec = RuntimeSpec {
            is_template: true,
            ..vm()
        };
        let st = RuntimeState {
            running: true,
            snapshots: vec!["x".into()],
            ..RuntimeState::default()
        };
        let e = plan(&spec, &st, &Work::default()).unwrap_err();
        assert!(
            e.0.starts_with("VM 1001 should become a Proxmox template"),
            "{e}"
        );
    }

    #[test]
    fn step_names() {
        assert_eq!(
            Step::Feature("docker".into(), "h".into()).name(),
            "feature docker"
        );
        assert_eq!(Step::DelSnapshot("x".into()).name(), "delete snapshot x");
    }
}
