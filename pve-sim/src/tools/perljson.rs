//! JSON the way Proxmox's Perl tools print it: canonical (sorted keys), either compact or
//! "pretty" (`JSON::XS` pretty: 3-space indent, `"key" : value`, trailing newline).

use serde_json::Value;

/// Compact canonical JSON (sorted keys), as `pvesh --output-format json` prints.
pub fn compact(v: &Value) -> String {
    let mut s = String::new();
    write(v, None, 0, &mut s);
    s
}

/// Pretty canonical JSON with a trailing newline, as `qm guest exec` prints.
pub fn pretty(v: &Value) -> String {
    let mut s = String::new();
    write(v, Some(3), 0, &mut s);
    s.push('\n');
    s
}

fn write(v: &Value, indent: Option<usize>, depth: usize, out: &mut String) {
    let pad = |d: usize| indent.map_or(String::new(), |n| " ".repeat(n * d));
    match v {
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if indent.is_some() {
                    out.push('\n');
                    out.push_str(&pad(depth + 1));
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(if indent.is_some() { " : " } else { ":" });
                write(&m[*k], indent, depth + 1, out);
            }
            if indent.is_some() {
                out.push('\n');
                out.push_str(&pad(depth));
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if indent.is_some() {
                    out.push('\n');
                    out.push_str(&pad(depth + 1));
                }
                write(x, indent, depth + 1, out);
            }
            if indent.is_some() {
                out.push('\n');
                out.push_str(&pad(depth));
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_json_pp_pretty() {
        let v = json!({"foo": [{"a": "b"}, 0, 1, 2]});
        assert_eq!(
            pretty(&v),
            "{\n   \"foo\" : [\n      {\n         \"a\" : \"b\"\n      },\n      0,\n      1,\n      2\n   ]\n}\n"
        );
        let e = json!({"out-data": "status: done\n", "exited": 1, "exitcode": 0});
        assert_eq!(
            pretty(&e),
            "{\n   \"exitcode\" : 0,\n   \"exited\" : 1,\n   \"out-data\" : \"status: done\\n\"\n}\n"
        );
        assert_eq!(
            compact(&json!({"b": 1, "a": [true, null]})),
            "{\"a\":[true,null],\"b\":1}"
        );
    }
}
