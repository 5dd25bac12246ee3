//! A container's vLLM settings of 2025-09 (flat `vllm_*` keys, `vllm_parameters`,
//! `vllm_args`, `vllm_model_type`), merged into `vllm_engine_config`.

use serde_json::{Map, Value};

use super::Ctx;
use crate::config::json::child;

/// Where each flat vLLM key of 2025-09 lives in `vllm_engine_config` (section, key).
const FLAT_VLLM: [(&str, &str, &str); 8] = [
    ("vllm_model", "ModelConfig", "model"),
    ("vllm_max_model_len", "ModelConfig", "max_model_len"),
    ("vllm_trust_remote_code", "ModelConfig", "trust_remote_code"),
    (
        "vllm_tensor_parallel_size",
        "ParallelConfig",
        "tensor_parallel_size",
    ),
    (
        "vllm_gpu_memory_utilization",
        "CacheConfig",
        "gpu_memory_utilization",
    ),
    ("vllm_quantization", "CacheConfig", "quantization"),
    ("vllm_port", "ServerConfig", "port"),
    (
        "vllm_served_model_name",
        "ServerConfig",
        "served_model_name",
    ),
];

/// Where each member of `vllm_parameters` (2025-09-21 .. 10-03) lives.
const VLLM_PARAMETERS: [(&str, &str); 6] = [
    ("dtype", "ModelConfig"),
    ("max_model_len", "ModelConfig"),
    ("max_num_batched_tokens", "ModelConfig"),
    ("max_num_seqs", "ModelConfig"),
    ("gpu_memory_utilization", "CacheConfig"),
    ("kv_cache_dtype", "CacheConfig"),
];

/// The flat `vllm_*` keys and `vllm_parameters` (2025-09-02 .. 10-03) become
/// `vllm_engine_config`, which replaced them on 2025-10-01. When two shapes give one setting
/// the newer wins (`vllm_engine_config` > `vllm_parameters` > flat keys), with a warning when
/// they disagree. `vllm_args` and `vllm_model_type` duplicated these and stay unknown keys.
pub(super) fn flat_vllm(cx: &mut Ctx<'_>, ct: &mut Map<String, Value>, base: &str) {
    let has_flat = FLAT_VLLM.iter().any(|(k, _, _)| ct.contains_key(*k));
    if !has_flat
        && !["vllm_parameters", "vllm_args", "vllm_model_type"]
            .iter()
            .any(|k| ct.contains_key(*k))
    {
        return;
    }
    if ct
        .get("vllm_engine_config")
        .is_some_and(|e| !e.is_object() && !e.is_null())
    {
        // Not an object: the schema reports it; nothing to merge into.
        return;
    }
    // (section, key) -> (value, where it came from); the engine config is the newest.
    let mut settings: Vec<(String, String, Value, String)> = Vec::new();
    let engine_ptr = child(base, "vllm_engine_config");
    if let Some(Value::Object(engine)) = ct.get("vllm_engine_config") {
        for (section, body) in engine {
            if let Value::Object(body) = body {
                for (k, v) in body {
                    settings.push((
                        section.clone(),
                        k.clone(),
                        v.clone(),
                        child(&child(&engine_ptr, section), k),
                    ));
                }
            }
        }
    }
    let mut put = |cx: &mut Ctx<'_>, section: &str, key: &str, v: Value, from: String| {
        if v.is_null() {
            cx.note(&from, "null: not set".to_string());
            return;
        }
        match settings
            .iter()
            .find(|(s, k, _, _)| s == section && k == key)
        {
            Some((_, _, existing, at)) => {
                if *existing == v
                    || existing.to_string().trim_matches('"') == v.to_string().trim_matches('"')
                {
                    cx.note(&from, format!("duplicates {at}"));
                } else {
                    cx.warn(
                        &from,
                        format!("ignored: {at} (the newer shape) says {existing}, this says {v}"),
                    );
                }
            }
            None => {
                cx.note(&from, format!("read as vllm_engine_config.{section}.{key}"));
                settings.push((section.to_string(), key.to_string(), v, from));
            }
        }
    };
    if let Some(params) = ct.remove("vllm_parameters") {
        let pbase = child(base, "vllm_parameters");
        match params {
            Value::Object(params) => {
                for (k, v) in params {
                    let from = child(&pbase, &k);
                    match VLLM_PARAMETERS.iter().find(|(name, _)| *name == k) {
                        Some((_, section)) => put(cx, section, &k, v, from),
                        None => cx.warn(&from, format!("vllm_parameters.{k} is not read")),
                    }
                }
            }
            Value::Null => {}
            other => cx.error(&pbase, format!("expected an object, found {other}")),
        }
    }
    for (flat, section, key) in FLAT_VLLM {
        if let Some(v) = ct.remove(flat) {
            put(cx, section, key, v, child(base, flat));
        }
    }
    if let Some(t) = ct.remove("vllm_model_type") {
        let from = child(base, "vllm_model_type");
        match t.as_str().map(str::to_ascii_lowercase).as_deref() {
            // vLLM serves embedding models with `--task embed`; generation is its default.
            Some("embedding" | "embed" | "embeddings") => {
                put(cx, "ModelConfig", "task", Value::from("embed"), from);
            }
            Some("chat" | "generate" | "generation" | "completion" | "instruct") => cx.note(
                &from,
                format!("{t} is vLLM's default (generation); nothing to add"),
            ),
            _ => cx.warn(&from, format!("model type {t} is not read")),
        }
    }
    if let Some(args) = ct.remove("vllm_args") {
        let abase = child(base, "vllm_args");
        match vllm_args(&args) {
            Ok(pairs) => {
                for (i, key, v) in pairs {
                    let section = section_of(&key);
                    put(cx, section, &key, v, child(&abase, &i.to_string()));
                }
            }
            Err(e) => cx.warn(&abase, format!("not read: {e}")),
        }
    }
    let mut engine = Map::new();
    for (section, key, v, _) in settings {
        let Value::Object(sec) = engine
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()))
        else {
            continue;
        };
        sec.insert(key, v);
    }
    if !engine.is_empty() {
        ct.insert("vllm_engine_config".into(), Value::Object(engine));
    }
}

/// The engine-config section a vLLM setting belongs to.
fn section_of(key: &str) -> &'static str {
    match key {
        "tensor_parallel_size" | "pipeline_parallel_size" => "ParallelConfig",
        "gpu_memory_utilization" | "quantization" | "kv_cache_dtype" | "swap_space" => {
            "CacheConfig"
        }
        "host" | "port" | "served_model_name" | "api_key" => "ServerConfig",
        _ => "ModelConfig",
    }
}

/// `vllm_args` (2025-09-09 .. 10-03), raw `vllm serve` arguments such as
/// `["--max-model-len", "4096", "--trust-remote-code"]`, as `(index, key, value)`: a flag
/// followed by another flag (or nothing) is `true`; numbers become numbers.
fn vllm_args(args: &Value) -> Result<Vec<(usize, String, Value)>, String> {
    let Value::Array(items) = args else {
        return Err(format!("expected a list of arguments, found {args}"));
    };
    let words: Vec<&str> = items
        .iter()
        .map(|w| {
            w.as_str()
                .ok_or_else(|| format!("argument {w} is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let Some(flag) = w.strip_prefix("--") else {
            return Err(format!("{w:?} is not an option (--name)"));
        };
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (flag, None),
        };
        let key = flag.replace('-', "_");
        let value = match inline {
            Some(v) => arg_value(v),
            None => match words.get(i + 1).filter(|n| !n.starts_with("--")) {
                Some(v) => {
                    i += 1;
                    arg_value(v)
                }
                None => Value::Bool(true),
            },
        };
        out.push((i, key, value));
        i += 1;
    }
    Ok(out)
}

fn arg_value(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return Value::from(n);
    }
    if let Some(n) = v.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        return Value::Number(n);
    }
    Value::from(v)
}
