//! Recognising files from before the dispatcher era (history-v1-and-tests.md §3).
//!
//! The shell version's files changed meaning over time: in the v1 era (L0/L1, Aug 2025)
//! `features` was a Proxmox feature string, `is_template` meant "snapshot template" and clones
//! named `clone_from_template_ctid`; the first host files (H0) carried `$schema` and version
//! `0.01.01` and none of the host-provisioning keys. Such a file is refused with a "legacy
//! format" error naming it (exit 2); with `--allow-legacy` it loads with the old meanings and a
//! warning per marker. Everything from the dispatcher era on (L2+, V1+, H1+) is current: its
//! old shapes are the normaliser's business, not a reason to refuse.

use serde::Serialize;
use serde_json::Value;

use super::json::child;

/// One reason a file is considered legacy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacyMarker {
    /// Where the marker is.
    pub pointer: String,
    /// What it shows.
    pub reason: String,
}

/// The era a file belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "era", rename_all = "lowercase")]
pub enum Era {
    /// Dispatcher era (L2+/H1+/V1+): loaded and acted on natively.
    #[default]
    Current,
    /// Before the dispatcher era: loaded for inspection only.
    Legacy {
        /// Why.
        markers: Vec<LegacyMarker>,
    },
}

impl Era {
    /// Whether the file is legacy.
    pub fn is_legacy(&self) -> bool {
        matches!(self, Era::Legacy { .. })
    }

    fn from_markers(markers: Vec<LegacyMarker>) -> Self {
        if markers.is_empty() {
            Era::Current
        } else {
            Era::Legacy { markers }
        }
    }
}

fn marker(pointer: String, reason: &str) -> LegacyMarker {
    LegacyMarker {
        pointer,
        reason: reason.to_string(),
    }
}

/// Era of an LXC file: v1 markers (L0/L1, before 2025-09-01) are `clone_from_template_ctid`
/// and a string `features` (a Proxmox feature string; from L2 on `features` lists Phoenix
/// features). `static_ip` and the flat `vllm_*` keys outlived v1 and are read by the
/// normaliser, not taken as markers.
pub fn lxc_era(v: &Value) -> Era {
    let mut m = Vec::new();
    if let Some(Value::Object(cts)) = v.get("lxc_configs") {
        for (id, ct) in cts {
            let base = child("/lxc_configs", id);
            let Some(ct) = ct.as_object() else { continue };
            if ct.contains_key("clone_from_template_ctid") {
                m.push(marker(
                    child(&base, "clone_from_template_ctid"),
                    "clone_from_template_ctid (renamed clone_from_ctid on 2025-09-01, when is_template stopped meaning a snapshot template)",
                ));
            }
            if ct.get("features").is_some_and(Value::is_string) {
                m.push(marker(
                    child(&base, "features"),
                    "features as a Proxmox feature string (a list of Phoenix features since 2025-09-01)",
                ));
            }
        }
    }
    Era::from_markers(m)
}

/// Era of a host file: H0 (before the file moved on 2025-09-07) is version `0.01.01` without
/// any host-provisioning key; H1 files said `0.01.02` but already had today's shape.
pub fn host_era(v: &Value) -> Era {
    let mut m = Vec::new();
    // The file that moved on 2025-09-07 may still say 0.01.01; what H1 brought is the
    // host-provisioning keys, so a file with any of them is read natively.
    let provisions = ["zfs", "nfs", "samba", "users", "nvidia_driver", "timezone"]
        .iter()
        .any(|k| v.get(k).is_some())
        || v.pointer("/network/interfaces").is_some();
    if v.get("version").and_then(Value::as_str) == Some("0.01.01") && !provisions {
        m.push(marker(
            "/version".to_string(),
            "version 0.01.01 (the v1 host file, before the host-provisioning keys of 2025-09-07)",
        ));
    }
    Era::from_markers(m)
}

/// Era of a VM file: every shape since the file appeared is current.
pub fn vm_era(_v: &Value) -> Era {
    Era::Current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_lxc_files_are_legacy() {
        let v1 = json!({"lxc_configs": {"901": {"clone_from_template_ctid": "900", "features": "nesting=1", "is_template": true}}});
        let Era::Legacy { markers } = lxc_era(&v1) else {
            panic!("not legacy")
        };
        assert_eq!(markers.len(), 2);
        assert_eq!(
            markers[0].pointer,
            "/lxc_configs/901/clone_from_template_ctid"
        );
        let now = json!({"lxc_configs": {"901": {"clone_from_ctid": "900", "features": ["nvidia"], "is_template": true}}});
        assert_eq!(lxc_era(&now), Era::Current);
    }

    #[test]
    fn flat_vllm_keys_and_static_ip_do_not_make_a_file_legacy() {
        // L2 (2025-09) files had them beside clone_from_ctid and a features list.
        let l2 = json!({"lxc_configs": {"950": {"clone_from_ctid": "900", "features": ["vllm"],
            "vllm_model": "Qwen/Qwen2.5-7B", "vllm_tensor_parallel_size": 2, "static_ip": "10.0.0.150/24"}}});
        assert_eq!(lxc_era(&l2), Era::Current);
    }

    #[test]
    fn h0_host_files_are_legacy() {
        assert!(host_era(&json!({"$schema": "x", "version": "0.01.01"})).is_legacy());
        assert!(!host_era(&json!({"$schema": "x", "version": "1.0.0"})).is_legacy());
        assert!(
            !host_era(&json!({"version": "0.01.01", "zfs": {}})).is_legacy(),
            "the moved file with provisioning keys is H1"
        );
    }
}
