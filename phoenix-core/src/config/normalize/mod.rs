//! Aliases and old shapes, rewritten into the current shape before typed deserialization.
//!
//! Runs after schema validation, on the raw value, and reports each rewrite as a note (or an
//! error when the old and the new key disagree). See history-v1-and-tests.md §3.5–3.6.
//!
//! One module per file ([`host()`], [`lxc()`], [`vm()`], [`stacks()`]); the flat vLLM keys of
//! an LXC file have their own (`vllm`). This module holds what they share: the collector of
//! findings and the rewrites of single keys (paths, retired keys).

mod host;
mod lxc;
mod stacks;
#[cfg(test)]
mod tests;
mod vllm;
mod vm;

use std::path::Path;

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Severity};
use super::json::{SpanIndex, child};

pub use host::host;
pub use lxc::lxc;
pub use stacks::stacks;
pub use vm::{take_vm_portainer_admin, vm};

struct Ctx<'a> {
    file: &'a Path,
    spans: &'a SpanIndex,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn note(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Note, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    fn warn(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Warning, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    fn error(&mut self, pointer: &str, message: String) {
        self.out.push(
            Diagnostic::new(Severity::Error, self.file, pointer, message)
                .at(self.spans.locate(pointer)),
        );
    }

    /// Moves `old` to `new` inside `obj`; both present and different is an error.
    fn rename(&mut self, obj: &mut Map<String, Value>, base: &str, old: &str, new: &str) {
        let Some(v) = obj.remove(old) else { return };
        let old_ptr = child(base, old);
        match obj.get(new) {
            None => {
                self.note(
                    &old_ptr,
                    format!("{old:?} is the old name of {new:?}; read as {new:?}"),
                );
                obj.insert(new.to_string(), v);
            }
            Some(existing) if *existing == v => {
                self.note(&old_ptr, format!("{old:?} duplicates {new:?}; remove it"));
            }
            Some(_) => {
                self.error(
                    &old_ptr,
                    format!("{old:?} and {new:?} are both set and disagree"),
                );
            }
        }
    }
}

/// Puts the canonical form of the path at `obj[key]` (see [`super::formats::abs_path`]), or
/// reports why the path is refused (`check` decides: a host directory, a guest directory, any
/// absolute path). Paths are normalised once, here; everything later trusts them.
fn path_at(
    cx: &mut Ctx<'_>,
    obj: &mut Map<String, Value>,
    base: &str,
    key: &str,
    check: fn(&str) -> Result<String, String>,
) {
    let Some(Value::String(p)) = obj.get(key) else {
        return;
    };
    let ptr = child(base, key);
    match check(p) {
        Ok(canon) if canon == *p || canon == p.trim_end_matches('/') => {
            obj.insert(key.to_string(), Value::from(canon));
        }
        Ok(canon) => {
            cx.note(&ptr, format!("read as {canon}"));
            obj.insert(key.to_string(), Value::from(canon));
        }
        Err(e) => cx.error(&ptr, e),
    }
}

/// A file name or path the product hands to a tool (`template`, `template_image`): no `..`
/// component, so it cannot reach outside the directory it is looked up in.
fn no_parent_dirs(cx: &mut Ctx<'_>, obj: &Map<String, Value>, base: &str, key: &str) {
    if let Some(Value::String(p)) = obj.get(key) {
        let rest = p.split_once(':').map_or(p.as_str(), |(_, r)| r);
        if rest.split('/').any(|c| c == "..") {
            cx.error(
                &child(base, key),
                format!("{p:?} has a \"..\" component; name the file itself"),
            );
        }
    }
}

/// Removes `key` from `obj` with a warning saying why it is not read: keys the shell version
/// had for a while that this version does not act on (they would otherwise be "unknown").
fn retire(cx: &mut Ctx<'_>, obj: &mut Map<String, Value>, base: &str, key: &str, why: &str) {
    if obj.remove(key).is_some() {
        cx.warn(&child(base, key), format!("not read: {why}"));
    }
}
