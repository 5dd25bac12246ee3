//! The module graph of a crate's `src/`, read from its `use` and path expressions
//! (`crate::a::b`, `super::x`, `use super::{a, b}`), and its cycles: two modules that reach
//! each other through such paths. Test modules (`#[cfg(test)]` and after) and comments are
//! left out. A reading of the text, not of rustc's resolution: good enough to keep a crate's
//! modules layered (the tidy test `no_module_import_cycle`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`tools::host::pkg`, `` for the crate root) → the modules it names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the crate whose sources are in `src`.
pub fn graph(src: &Path) -> Graph {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    collect(src, src, &mut files);
    let mut g = Graph::new();
    for (m, p) in &files {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let here: Vec<&str> = m.split("::").filter(|s| !s.is_empty()).collect();
        let mut out = BTreeSet::new();
        for path in paths(&code(&text)) {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let mut target: Vec<String> = if path[0] == "crate" {
                path[1..].to_vec()
            } else if ups > 0 && ups <= here.len() {
                let mut t: Vec<String> = here[..here.len() - ups]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                t.extend(path[ups..].iter().cloned());
                t
            } else {
                continue;
            };
            while !target.is_empty() && !files.contains_key(&target.join("::")) {
                target.pop();
            }
            let t = target.join("::");
            let related = t == *m
                || m.starts_with(&format!("{t}::"))
                || t.starts_with(&format!("{m}::"))
                || t.is_empty()
                || m.is_empty();
            if !related {
                out.insert(t);
            }
        }
        g.insert(m.clone(), out);
    }
    g
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap_or(&p).with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
                parts.clear();
            } else if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            } else if parts.first().is_some_and(|f| f == "bin") {
                continue;
            }
            out.insert(parts.join("::"), p);
        }
    }
}

/// The code of a file: up to its first `#[cfg(test)]`, without comments and string contents.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                    out.push('"');
                }
                prev = if c == '\\' && prev == '\\' { ' ' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_str = true;
                prev = ' ';
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Every `crate::…`/`super::…` path in `code`, a `{a, b}` list giving one path per item.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let starts = code.is_char_boundary(i)
            && (code[i..].starts_with("crate::") || code[i..].starts_with("super::"))
            && (i == 0 || !ident(b[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut segs: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let s = j;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            segs.push(code[s..j].to_string());
            if code[j..].starts_with("::") {
                j += 2;
                if b.get(j) == Some(&b'{') {
                    let end = code[j..].find('}').map_or(b.len(), |e| j + e);
                    for item in code[j + 1..end].split(',') {
                        let first = item.trim().split("::").next().unwrap_or("");
                        let first = first.split_whitespace().next().unwrap_or("");
                        if !first.is_empty() && first != "self" && first.bytes().all(ident) {
                            let mut p = segs.clone();
                            p.push(first.to_string());
                            out.push(p);
                        }
                    }
                    j = end;
                    segs.clear();
                    break;
                }
                continue;
            }
            break;
        }
        if !segs.is_empty() {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

/// The cycles of `g`: its strongly connected components of more than one module.
pub fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, n: &'a str) {
        let i = t.index.len();
        t.index.insert(n, i);
        t.low.insert(n, i);
        t.stack.push(n);
        t.on.insert(n);
        for w in t.g.get(n).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let ln = t.low[n];
                t.low.insert(n, ln.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let ln = t.low[n];
                t.low.insert(n, ln.min(iw));
            }
        }
        if t.low[n] == t.index[n] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == n {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for n in g.keys() {
        if !t.index.contains_key(n.as_str()) {
            visit(&mut t, n);
        }
    }
    t.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    #[test]
    fn finds_a_cycle_through_use_lists_and_paths_and_ignores_tests_and_comments() {
        let d = crate_of(&[
            ("lib.rs", "pub mod a;\npub mod host;\n"),
            ("a.rs", "use crate::host::pkg::Thing; // crate::b\n"),
            ("host/mod.rs", "pub mod pkg;\npub mod systemd;\n"),
            ("host/pkg.rs", "use super::{systemd, other};\n"),
            (
                "host/systemd.rs",
                "fn f() { let s = \"crate::a\"; super::pkg::lookup(); }\n#[cfg(test)]\nmod t { use crate::a; }\n",
            ),
        ]);
        let g = graph(d.path());
        assert_eq!(
            g["a"].iter().collect::<Vec<_>>(),
            ["host::pkg"],
            "the comment and nothing else"
        );
        assert_eq!(
            cycles(&g),
            [vec!["host::pkg".to_string(), "host::systemd".to_string()]]
        );
        std::fs::write(d.path().join("host/pkg.rs"), "use super::other;\n").unwrap();
        assert!(cycles(&graph(d.path())).is_empty());
    }
}
