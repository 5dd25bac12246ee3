//! The stack catalogue.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Ctx, retire};
use crate::config::diag::Diagnostic;
use crate::config::json::{SpanIndex, child};

/// Normalizes the stack catalogue: an entry without `environments` (2025-10-06) deploys its
/// compose file as the `production` environment.
pub fn stacks(v: &mut Value, file: &Path, spans: &SpanIndex) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        file,
        spans,
        out: Vec::new(),
    };
    let Some(Value::Object(stacks)) = v.get_mut("docker_stacks") else {
        return cx.out;
    };
    for (name, def) in stacks.iter_mut() {
        let Some(def) = def.as_object_mut() else {
            continue;
        };
        let base = child("/docker_stacks", name);
        retire(
            &mut cx,
            def,
            &base,
            "nginx_proxy",
            "the gateway serves every host name the stacks' Traefik labels route",
        );
        if def.get("name").and_then(Value::as_str) == Some(name.as_str()) {
            def.remove("name");
        }
        if !def.contains_key("environments") {
            cx.note(
                &child("/docker_stacks", name),
                "no \"environments\": deployed as the \"production\" environment".to_string(),
            );
            let mut envs = Map::new();
            envs.insert("production".into(), Value::Object(Map::new()));
            def.insert("environments".into(), Value::Object(envs));
        }
    }
    cx.out
}
