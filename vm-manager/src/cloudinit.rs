//! Cloud-init user-data (pure): the project's template (`etc/cloud-init/vm-user-data.yml`)
//! with the VM's values. NFS volumes become `mounts` entries (cloud-init writes fstab and
//! mounts them), the guest agent and `nfs-common` are `packages`, the agent is enabled by
//! `runcmd`. Values are inserted as JSON, which YAML reads as flow style, so nothing from
//! the configuration can break the document's structure.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::spec::VmSpec;

/// The built-in template (used when neither the configuration directory nor the install
/// root has `cloud-init/vm-user-data.yml`).
pub const BUILTIN_TEMPLATE: &str = include_str!("../../etc/cloud-init/vm-user-data.yml");

/// Template file name under `cloud-init/`.
pub const TEMPLATE_NAME: &str = "vm-user-data.yml";

/// The snippet's file name for VM `id`.
pub fn snippet_name(id: u32) -> String {
    format!("phoenix-vm-{id}-user.yml")
}

/// Where the template comes from: `<config dir>/cloud-init/`, then `<root>/etc/cloud-init/`,
/// then the built-in one. Returns the text and where it was found.
pub fn template(config_dir: &Path, etc_dir: &Path) -> anyhow::Result<(String, Option<PathBuf>)> {
    for dir in [config_dir, etc_dir] {
        let p = dir.join("cloud-init").join(TEMPLATE_NAME);
        if p.is_file() {
            let t = phoenix_core::files::read_to_string(&p)
                .with_context(|| format!("cannot read the cloud-init template {}", p.display()))?;
            return Ok((t, Some(p)));
        }
    }
    Ok((BUILTIN_TEMPLATE.to_string(), None))
}

/// The values the template's placeholders take.
pub fn values(spec: &VmSpec) -> Vec<(&'static str, Value)> {
    let host = spec
        .name
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let fqdn = match &spec.searchdomain {
        Some(d) => format!("{host}.{}", d.split_whitespace().next().unwrap_or(d)),
        None => host.clone(),
    };
    let mut packages = vec!["qemu-guest-agent"];
    if spec.is_template || !spec.volumes.is_empty() {
        packages.push("nfs-common");
    }
    let mounts: Vec<Value> = spec
        .volumes
        .iter()
        .map(|v| {
            json!([
                v.spec,
                v.mount_point,
                "nfs",
                "defaults,_netdev,nofail",
                "0",
                "0"
            ])
        })
        .collect();
    vec![
        ("vmid", json!(spec.id.get())),
        ("hostname", json!(host)),
        ("fqdn", json!(fqdn)),
        ("user", json!(spec.user)),
        ("packages", json!(packages)),
        ("mounts", json!(mounts)),
        (
            "runcmd",
            json!([["systemctl", "enable", "--now", "qemu-guest-agent"]]),
        ),
    ]
}

/// Replaces every `{{name}}` in `template` with the JSON of its value. An unknown or
/// unterminated placeholder is an error naming it. A line that is only `key: {{name}}` whose
/// value is an empty list is left out: cloud-init's schema refuses empty lists for keys such
/// as `mounts` ("[] is too short": cloudinit/config/schemas/schema-cloud-config-v1.json,
/// `minItems: 1`), and an absent key means the same as an empty one.
pub fn render(template: &str, values: &[(&str, Value)]) -> anyhow::Result<String> {
    let empty_list_line = |line: &str| {
        let Some((key, rest)) = line.split_once(": ") else {
            return false;
        };
        let name = rest
            .trim_end()
            .strip_prefix("{{")
            .and_then(|r| r.strip_suffix("}}"))
            .map(str::trim);
        !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && name.is_some_and(|n| {
                values
                    .iter()
                    .any(|(k, v)| *k == n && v.as_array().is_some_and(Vec::is_empty))
            })
    };
    let kept: String = template
        .split_inclusive('\n')
        .filter(|l| !empty_list_line(l))
        .collect();
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = kept.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            bail!(
                "unterminated placeholder at {:?}",
                &rest[i..rest.len().min(i + 20)]
            );
        };
        let name = after[..j].trim();
        let Some((_, v)) = values.iter().find(|(k, _)| *k == name) else {
            bail!("unknown placeholder {{{{{name}}}}}");
        };
        out.push_str(&serde_json::to_string(v)?);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    if !out.starts_with("#cloud-config\n") {
        bail!("the user-data must start with a #cloud-config line");
    }
    Ok(out)
}

/// The rendered user-data of `spec`.
pub fn user_data(template: &str, spec: &VmSpec) -> anyhow::Result<String> {
    render(template, &values(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_json_values() {
        let t = "#cloud-config\nhostname: {{ h }}\nlist: {{l}}\n";
        let out = render(t, &[("h", json!("a\"b")), ("l", json!([1, "x"]))]).unwrap();
        assert_eq!(
            out,
            "#cloud-config\nhostname: \"a\\\"b\"\nlist: [1,\"x\"]\n"
        );
    }

    /// cloud-init's schema: `mounts` has `minItems: 1`.
    #[test]
    fn a_key_whose_list_is_empty_is_left_out() {
        let t = "#cloud-config\nmounts: {{m}}\npackages: {{p}}\nrun: [{{m}}]\n";
        let out = render(t, &[("m", json!([])), ("p", json!(["x"]))]).unwrap();
        assert_eq!(out, "#cloud-config\npackages: [\"x\"]\nrun: [[]]\n");
    }

    #[test]
    fn unknown_and_unterminated_placeholders_are_errors() {
        let e = render("#cloud-config\n{{nope}}\n", &[]).unwrap_err();
        assert_eq!(e.to_string(), "unknown placeholder {{nope}}");
        assert!(render("#cloud-config\n{{x\n", &[("x", json!(1))]).is_err());
        assert!(
            render("hostname: 1\n", &[]).is_err(),
            "needs #cloud-config first"
        );
    }
}
