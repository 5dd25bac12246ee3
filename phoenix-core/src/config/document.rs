//! One file of the configuration: read, parsed, normalised, schema-checked and deserialised,
//! each step's findings in the report.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diag::{Diagnostic, Report, Severity};
use super::json::{self, SpanIndex};
use super::schema::{self, SchemaKind};

/// A parsed file: its value, and where each JSON pointer of it is in the text.
pub(super) struct Source {
    pub(super) value: Value,
    pub(super) spans: SpanIndex,
}

/// Reads and parses one file; pushes findings for read/parse failures and duplicates.
pub(super) fn read_json(path: &Path, report: &mut Report, required: bool) -> Option<Source> {
    let text = match crate::files::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.is_not_found() && !required => return None,
        Err(e) => {
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    "",
                    format!("cannot read the file: {e}"),
                )
                .hint("check the path, or pass --config DIR / set PHOENIX_CONFIG_DIR"),
            );
            return None;
        }
    };
    // A UTF-8 byte-order mark (Windows editors write one) is not JSON, but it is not content
    // either: skip it, as jq and Python's utf-8-sig do.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            report.push(Diagnostic::new(
                Severity::Note,
                path,
                "",
                "the file starts with a UTF-8 byte-order mark; ignored",
            ));
            rest
        }
        None => text.as_str(),
    };
    match json::parse(text) {
        Ok(p) => {
            for d in &p.duplicates {
                report.push(
                    Diagnostic::new(
                        Severity::Warning,
                        path,
                        d.pointer.clone(),
                        format!(
                            "duplicate key; the value at line {} replaces the one at line {}",
                            d.last.line, d.first.line
                        ),
                    )
                    .at(Some(d.last)),
                );
            }
            // One rule for every value of every file, not each writer remembering it: a
            // control character would start a new line in the file the value lands in.
            let forbidden = json::forbidden_chars(&p.value);
            for (pointer, c, in_key) in &forbidden {
                let pos = if *in_key {
                    p.spans.locate(pointer)
                } else {
                    p.spans.locate_value(pointer)
                };
                report.push(
                    Diagnostic::new(
                        Severity::Error,
                        path,
                        pointer.clone(),
                        format!(
                            "the {} holds a control character (U+{:04X}); configuration values are single-line text",
                            if *in_key { "key" } else { "value" },
                            u32::from(*c)
                        ),
                    )
                    .at(pos)
                    .hint("values are written into line-oriented files (firewall rules, container .conf lines, exports, …), where the character would start a new line; remove it"),
                );
            }
            if !forbidden.is_empty() {
                return None;
            }
            Some(Source {
                value: p.value,
                spans: p.spans,
            })
        }
        Err(e) => {
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    e.pointer.clone(),
                    format!("malformed JSON: {}", e.message),
                )
                .at(Some(e.pos)),
            );
            None
        }
    }
}

/// Normalizes, schema-validates and deserializes one document. Returns `None` after errors.
pub(super) fn typed<T: DeserializeOwned>(
    kind: SchemaKind,
    path: &Path,
    src: &mut Source,
    report: &mut Report,
    normalize: impl FnOnce(&mut Value, &SpanIndex) -> Vec<Diagnostic>,
) -> Option<T> {
    // Old shapes first become the current shape, then the schema (which describes only the
    // current shape) checks the result: it never refuses a shape the normaliser understands.
    // Positions still come from the file as written (a renamed key points at its parent).
    let notes = normalize(&mut src.value, &src.spans);
    let norm_errors = notes.iter().any(|d| d.severity == Severity::Error);
    notes.into_iter().for_each(|d| report.push(d));
    if norm_errors {
        return None;
    }
    let findings = schema::validate(kind, &src.value, path, &src.spans);
    let schema_errors = findings.iter().any(|d| d.severity == Severity::Error);
    findings.into_iter().for_each(|d| report.push(d));
    if schema_errors {
        return None;
    }
    match serde_path_to_error::deserialize::<_, T>(&src.value) {
        Ok(v) => Some(v),
        Err(e) => {
            let pointer = serde_path_to_pointer(&e.path().to_string());
            report.push(
                Diagnostic::new(
                    Severity::Error,
                    path,
                    pointer.clone(),
                    e.inner().to_string(),
                )
                .at(src.spans.locate_value(&pointer)),
            );
            None
        }
    }
}

/// `lxc_configs.101.dependencies[0]` → `/lxc_configs/101/dependencies/0`.
fn serde_path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for seg in path.split('.') {
        let (name, rest) = seg.split_once('[').unwrap_or((seg, ""));
        if !name.is_empty() {
            out.push('/');
            out.push_str(&json::escape_token(name));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(
            serde_path_to_pointer("lxc_configs.101.dependencies[0]"),
            "/lxc_configs/101/dependencies/0"
        );
        assert_eq!(
            serde_path_to_pointer("vms[2].firewall.rules[10].port"),
            "/vms/2/firewall/rules/10/port"
        );
        assert_eq!(serde_path_to_pointer("."), "");
    }
}
