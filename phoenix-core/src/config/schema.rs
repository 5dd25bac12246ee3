//! The project's JSON Schemas (`etc/*.schema.json`), embedded at build time.
//!
//! The schemas are written for two readers: editors (through `$schema`) and this loader.
//! They close every object with `additionalProperties: false` so an editor flags typos;
//! the loader turns exactly those findings into *warnings* ("unknown key"), because the shell
//! version's files carry keys no code ever read and a drop-in must accept them. Every other
//! schema finding is an error.

use std::path::Path;
use std::sync::OnceLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::diag::{Diagnostic, Severity};
use super::json::{SpanIndex, child};

/// Which document a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaKind {
    /// `phoenix_hypervisor_config.json`.
    Hypervisor,
    /// `phoenix_lxc_configs.json`.
    Lxc,
    /// `phoenix_vm_configs.json`.
    Vm,
    /// `phoenix_stacks_config.json`.
    Stacks,
    /// `stacks/<name>/phoenix.json`.
    StackManifest,
    /// `certificate-manifest.json`.
    CertificateManifest,
}

impl SchemaKind {
    /// Every kind.
    pub const ALL: [SchemaKind; 6] = [
        SchemaKind::Hypervisor,
        SchemaKind::Lxc,
        SchemaKind::Vm,
        SchemaKind::Stacks,
        SchemaKind::StackManifest,
        SchemaKind::CertificateManifest,
    ];

    /// File name of the schema in `etc/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Hypervisor => "phoenix_hypervisor_config.schema.json",
            SchemaKind::Lxc => "phoenix_lxc_configs.schema.json",
            SchemaKind::Vm => "phoenix_vm_configs.schema.json",
            SchemaKind::Stacks => "phoenix_stacks_config.schema.json",
            SchemaKind::StackManifest => "phoenix_stack_manifest.schema.json",
            SchemaKind::CertificateManifest => "certificate-manifest.schema.json",
        }
    }

    /// The schema text as shipped.
    pub fn source(self) -> &'static str {
        match self {
            SchemaKind::Hypervisor => {
                include_str!("../../../etc/phoenix_hypervisor_config.schema.json")
            }
            SchemaKind::Lxc => include_str!("../../../etc/phoenix_lxc_configs.schema.json"),
            SchemaKind::Vm => include_str!("../../../etc/phoenix_vm_configs.schema.json"),
            SchemaKind::Stacks => include_str!("../../../etc/phoenix_stacks_config.schema.json"),
            SchemaKind::StackManifest => {
                include_str!("../../../etc/phoenix_stack_manifest.schema.json")
            }
            SchemaKind::CertificateManifest => {
                include_str!("../../../etc/certificate-manifest.schema.json")
            }
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

struct Compiled {
    validator: Validator,
    vocabulary: Vec<String>,
}

fn compiled(kind: SchemaKind) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; 6] = [const { OnceLock::new() }; 6];
    CELLS[kind.index()].get_or_init(|| {
        // The schemas are part of the binary and covered by tests; failing here is a build bug.
        let schema: Value = serde_json::from_str(kind.source())
            .unwrap_or_else(|e| panic!("embedded schema {} is not JSON: {e}", kind.file_name()));
        let validator = jsonschema::draft7::options()
            .build(&schema)
            .unwrap_or_else(|e| {
                panic!("embedded schema {} does not compile: {e}", kind.file_name())
            });
        let mut vocabulary = Vec::new();
        collect_property_names(&schema, &mut vocabulary);
        vocabulary.sort();
        vocabulary.dedup();
        Compiled {
            validator,
            vocabulary,
        }
    })
}

fn collect_property_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                out.extend(props.keys().cloned());
            }
            m.values().for_each(|v| collect_property_names(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_property_names(v, out)),
        _ => {}
    }
}

/// Validates `value` against the schema of `kind`; findings carry `file` and positions.
pub fn validate(
    kind: SchemaKind,
    value: &Value,
    file: &Path,
    spans: &SpanIndex,
) -> Vec<Diagnostic> {
    let c = compiled(kind);
    let mut out = Vec::new();
    for err in c.validator.iter_errors(value) {
        let pointer = err.instance_path().to_string();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let member = child(&pointer, key);
                    let mut d = Diagnostic::new(
                        Severity::Warning,
                        file,
                        member.clone(),
                        format!("unknown key {key:?} (ignored)"),
                    )
                    .at(spans.locate(&member));
                    if let Some(s) = suggest(key, &c.vocabulary) {
                        d = d.hint(format!("did you mean {s:?}?"));
                    }
                    out.push(d);
                }
            }
            _ => {
                let message = describe(&err.to_string());
                out.push(
                    Diagnostic::new(Severity::Error, file, pointer.clone(), message)
                        .at(spans.locate_value(&pointer)),
                );
            }
        }
    }
    out
}

/// Shortens the validator's message: long instances are elided.
fn describe(message: &str) -> String {
    const MAX: usize = 240;
    if message.chars().count() <= MAX {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX).collect();
    format!("{cut}…")
}

/// The closest known key within edit distance 2 (case-insensitive), if any.
pub fn suggest<'a>(key: &str, vocabulary: &'a [String]) -> Option<&'a str> {
    let k = key.to_ascii_lowercase();
    vocabulary
        .iter()
        .map(|v| (edit_distance(&k, &v.to_ascii_lowercase()), v))
        .filter(|(d, _)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, v)| (*d, v.len()))
        .map(|(_, v)| v.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::json;

    #[test]
    fn every_embedded_schema_compiles() {
        for k in SchemaKind::ALL {
            let c = compiled(k);
            assert!(!c.vocabulary.is_empty(), "{k:?}");
        }
    }

    #[test]
    fn unknown_keys_are_warnings_with_suggestions() {
        let doc = r#"{"vms": [{"vmid": 101, "name": "a", "memroy_mb": 4}]}"#;
        let p = json::parse(doc).unwrap();
        let d = validate(SchemaKind::Vm, &p.value, Path::new("vm.json"), &p.spans);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[0].pointer, "/vms/0/memroy_mb");
        assert_eq!(d[0].hint.as_deref(), Some("did you mean \"memory_mb\"?"));
        assert_eq!((d[0].line, d[0].column), (Some(1), Some(37)));
    }

    #[test]
    fn type_errors_are_errors_at_the_value() {
        let doc = r#"{"vms": [{"vmid": 101, "name": "a", "cores": "four"}]}"#;
        let p = json::parse(doc).unwrap();
        let d = validate(SchemaKind::Vm, &p.value, Path::new("vm.json"), &p.spans);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].pointer, "/vms/0/cores");
        assert!(d[0].message.contains("integer"), "{}", d[0].message);
    }

    #[test]
    fn suggestions_need_a_close_match() {
        let v = vec![
            "memory_mb".to_string(),
            "cores".to_string(),
            "name".to_string(),
        ];
        assert_eq!(suggest("core", &v), Some("cores"));
        assert_eq!(suggest("Cores", &v), Some("cores"));
        assert_eq!(suggest("banana", &v), None);
        assert_eq!(suggest("n", &v), None);
    }
}
