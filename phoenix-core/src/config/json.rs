//! A strict JSON parser that remembers where every value came from.
//!
//! `serde_json` gives us values but not positions, and silently keeps the last of two
//! duplicate keys. Operators need both: an error should point at `file:line:col`, and a
//! duplicated key (which `jq` also resolves last-wins) deserves a warning. This parser
//! produces the same [`Value`] `serde_json` would (last duplicate wins, key order kept),
//! plus a [`SpanIndex`] from JSON pointer to position and the list of duplicates.
//!
//! It is pure and has no knowledge of Phoenix keys.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Maximum nesting depth accepted (protects the stack on hostile input).
const MAX_DEPTH: usize = 256;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column in characters.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a value (and, for an object member, its key) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Position of the member's key, for object members.
    pub key: Option<Pos>,
    /// Position of the first character of the value.
    pub value: Pos,
}

/// A character no configuration value may hold: the C0 and C1 controls (tab, newline and
/// carriage return among them), DEL, and the Unicode line and paragraph separators. Values
/// land in line-oriented files (firewall files, `.conf` raw lines, exports, smb.conf,
/// dnsmasq, sudoers, nginx, systemd units, YAML, cloud-init), where one would start a line.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Every string value and object key of `v` holding a [`is_forbidden_char`]: `(pointer, the
/// character, whether it is in a key)`, in document order.
pub fn forbidden_chars(v: &Value) -> Vec<(String, char, bool)> {
    fn walk(v: &Value, ptr: &str, out: &mut Vec<(String, char, bool)>) {
        match v {
            Value::String(s) => {
                if let Some(c) = s.chars().find(|c| is_forbidden_char(*c)) {
                    out.push((ptr.to_string(), c, false));
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &child(ptr, &i.to_string()), out);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    let p = child(ptr, k);
                    if let Some(c) = k.chars().find(|c| is_forbidden_char(*c)) {
                        out.push((p.clone(), c, true));
                    }
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

/// JSON pointer → position of every value in a document.
#[derive(Clone, Debug, Default)]
pub struct SpanIndex {
    spans: HashMap<String, Span>,
}

impl SpanIndex {
    /// The span recorded for `pointer`, if the document had that value.
    pub fn get(&self, pointer: &str) -> Option<Span> {
        self.spans.get(pointer).copied()
    }

    /// Position of `pointer`, or of its nearest existing ancestor: the key for a member,
    /// the value otherwise. Always returns something for a parsed document.
    pub fn locate(&self, pointer: &str) -> Option<Pos> {
        let mut p = pointer;
        loop {
            if let Some(span) = self.spans.get(p) {
                return Some(span.key.unwrap_or(span.value));
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// Position of the value at `pointer` (not its key), falling back like [`Self::locate`].
    pub fn locate_value(&self, pointer: &str) -> Option<Pos> {
        match self.spans.get(pointer) {
            Some(span) => Some(span.value),
            None => self.locate(pointer),
        }
    }
}

/// A key that appeared twice in the same object; the later value won.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// Pointer of the member.
    pub pointer: String,
    /// Where the first occurrence's key was.
    pub first: Pos,
    /// Where the winning occurrence's key is.
    pub last: Pos,
}

/// A parsed document.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The value, as `serde_json` would build it (last duplicate wins, order kept).
    pub value: Value,
    /// Positions of every value.
    pub spans: SpanIndex,
    /// Duplicate keys, in document order.
    pub duplicates: Vec<Duplicate>,
}

/// Why a document is not valid JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {}, column {}", pos.line, pos.col)]
pub struct ParseError {
    /// The pointer of the value being parsed when the error happened.
    pub pointer: String,
    /// Where the offending character is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

/// Escapes one reference token for a JSON pointer (RFC 6901).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Appends one token to a pointer.
pub fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape_token(token))
}

/// Parses `text` as one JSON document.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        i: 0,
        line_starts: line_starts(text),
        spans: HashMap::new(),
        duplicates: Vec::new(),
        depth: 0,
    };
    p.skip_ws();
    let value = p.value(String::new(), None)?;
    p.skip_ws();
    if p.i < p.bytes.len() {
        return Err(p.err("", "unexpected content after the end of the document"));
    }
    Ok(Parsed {
        value,
        spans: SpanIndex { spans: p.spans },
        duplicates: p.duplicates,
    })
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(
        text.bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1),
    );
    v
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    i: usize,
    line_starts: Vec<usize>,
    spans: HashMap<String, Span>,
    duplicates: Vec<Duplicate>,
    depth: usize,
}

impl Parser<'_> {
    fn pos_at(&self, offset: usize) -> Pos {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l - 1,
        };
        let start = self.line_starts[line];
        let end = offset.min(self.src.len());
        let col = self
            .src
            .get(start..end)
            .map_or(end - start, |s| s.chars().count());
        Pos {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    fn err(&self, pointer: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            pointer: pointer.to_string(),
            pos: self.pos_at(self.i),
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn describe_here(&self) -> String {
        match self.src[self.i..].chars().next() {
            None => "unexpected end of file".to_string(),
            Some(c) => format!("unexpected character {c:?}"),
        }
    }

    fn value(&mut self, pointer: String, key: Option<Pos>) -> Result<Value, ParseError> {
        let start = self.pos_at(self.i);
        self.spans
            .insert(pointer.clone(), Span { key, value: start });
        match self.peek() {
            Some(b'{') => self.object(pointer),
            Some(b'[') => self.array(pointer),
            Some(b'"') => Ok(Value::String(self.string(&pointer)?)),
            Some(b't') => self.literal(&pointer, "true", Value::Bool(true)),
            Some(b'f') => self.literal(&pointer, "false", Value::Bool(false)),
            Some(b'n') => self.literal(&pointer, "null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(&pointer),
            _ => Err(self.err(
                &pointer,
                format!("expected a value, found {}", self.describe_word()),
            )),
        }
    }

    fn enter(&mut self, pointer: &str) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(pointer, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn object(&mut self, pointer: String) -> Result<Value, ParseError> {
        self.enter(&pointer)?;
        self.i += 1;
        let mut map = Map::new();
        let mut key_pos: HashMap<String, Pos> = HashMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                let what = if self.peek() == Some(b'}') {
                    "trailing comma before '}'".to_string()
                } else {
                    format!(
                        "expected a key in double quotes, found {}",
                        self.describe_here()
                    )
                };
                return Err(self.err(&pointer, what));
            }
            let kpos = self.pos_at(self.i);
            let key = self.string(&pointer)?;
            let member = child(&pointer, &key);
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err(
                    &member,
                    format!(
                        "expected ':' after key {key:?}, found {}",
                        self.describe_here()
                    ),
                ));
            }
            self.i += 1;
            self.skip_ws();
            if let Some(first) = key_pos.get(&key) {
                self.duplicates.push(Duplicate {
                    pointer: member.clone(),
                    first: *first,
                    last: kpos,
                });
                // The earlier value's descendants must not keep stale spans.
                let prefix = format!("{member}/");
                self.spans.retain(|k, _| !k.starts_with(&prefix));
                // serde_json semantics: the later value replaces the earlier one in place.
            }
            key_pos.insert(key.clone(), kpos);
            let v = self.value(member, Some(kpos))?;
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => {
                    return Err(self.err(
                        &pointer,
                        format!(
                            "expected ',' or '}}' after a member, found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Object(map))
    }

    fn array(&mut self, pointer: String) -> Result<Value, ParseError> {
        self.enter(&pointer)?;
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b']') {
                return Err(self.err(&pointer, "trailing comma before ']'"));
            }
            let item = child(&pointer, &items.len().to_string());
            items.push(self.value(item, None)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    break;
                }
                _ => {
                    return Err(self.err(
                        &pointer,
                        format!(
                            "expected ',' or ']' after an array element, found {}",
                            self.describe_here()
                        ),
                    ));
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn literal(&mut self, pointer: &str, word: &str, v: Value) -> Result<Value, ParseError> {
        if self.src[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err(
                pointer,
                format!("expected a value, found {}", self.describe_word()),
            ))
        }
    }

    fn describe_word(&self) -> String {
        let word: String = self.src[self.i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(20)
            .collect();
        if word.is_empty() {
            self.describe_here()
        } else {
            format!("{word:?} (strings need double quotes)")
        }
    }

    fn number(&mut self, pointer: &str) -> Result<Value, ParseError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(self.err(pointer, "invalid number: expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err(pointer, "invalid number: expected a digit after '.'"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err(pointer, "invalid number: expected a digit in the exponent"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'0'..=b'9') = self.peek() {
            return Err(self.err(pointer, "invalid number: leading zeros are not allowed"));
        }
        let token = &self.src[start..self.i];
        token
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| ParseError {
                pointer: pointer.to_string(),
                pos: self.pos_at(start),
                message: format!("invalid number {token}: {e}"),
            })
    }

    fn string(&mut self, pointer: &str) -> Result<String, ParseError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let mut out = String::new();
        loop {
            let run_start = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.src[run_start..self.i]);
            match self.peek() {
                None => return Err(self.err(pointer, "unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.escape(pointer)?;
                    out.push(c);
                }
                Some(_) => {
                    return Err(self.err(
                        pointer,
                        "control character inside a string (escape it, e.g. \\n)",
                    ));
                }
            }
        }
    }

    fn escape(&mut self, pointer: &str) -> Result<char, ParseError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let hi = self.hex4(pointer)?;
                if (0xD800..0xDC00).contains(&hi) {
                    if self.src[self.i..].starts_with("\\u") {
                        self.i += 2;
                        let lo = self.hex4(pointer)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            return char::from_u32(code)
                                .ok_or_else(|| self.err(pointer, "invalid unicode escape"));
                        }
                    }
                    return Err(self.err(pointer, "unpaired surrogate in unicode escape"));
                }
                if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.err(pointer, "unpaired surrogate in unicode escape"));
                }
                return char::from_u32(hi)
                    .ok_or_else(|| self.err(pointer, "invalid unicode escape"));
            }
            _ => return Err(self.err(pointer, "invalid escape sequence in string")),
        };
        self.i += 1;
        Ok(c)
    }

    fn hex4(&mut self, pointer: &str) -> Result<u32, ParseError> {
        let digits = self
            .src
            .get(self.i..self.i + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err(pointer, "expected four hex digits after \\u"))?;
        let v =
            u32::from_str_radix(digits, 16).map_err(|_| self.err(pointer, "invalid \\u escape"))?;
        self.i += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_serde_json_on_ordinary_documents() {
        let docs = [
            r#"{"a": 1, "b": [true, false, null, -0.5e3, "x\ny\u00e9\ud83d\ude00"], "c": {}}"#,
            "[]",
            "  \"s\"  ",
            r#"{"n": 12345678901234567890, "f": 1.0, "neg": -0}"#,
            r#"{"dup": 1, "other": 2, "dup": {"x": 3}}"#,
        ];
        for d in docs {
            let ours = parse(d).unwrap().value;
            let theirs: Value = serde_json::from_str(d).unwrap();
            assert_eq!(ours, theirs, "{d}");
            assert_eq!(
                ours.to_string(),
                theirs.to_string(),
                "key order differs for {d}"
            );
        }
    }

    #[test]
    fn records_positions_by_pointer() {
        let d = "{\n  \"lxc_configs\": {\n    \"101\": {\"name\": \"x\", \"a/b\": [1, 2]}\n  }\n}";
        let p = parse(d).unwrap();
        let s = p.spans.get("/lxc_configs/101/name").unwrap();
        assert_eq!(s.key, Some(Pos { line: 3, col: 13 }));
        assert_eq!(s.value, Pos { line: 3, col: 21 });
        assert_eq!(
            p.spans.get("/lxc_configs/101/a~1b/1").unwrap().value,
            Pos { line: 3, col: 37 }
        );
        // Missing pointers fall back to the nearest ancestor.
        assert_eq!(
            p.spans.locate("/lxc_configs/101/missing"),
            Some(Pos { line: 3, col: 5 })
        );
        assert_eq!(p.spans.get("").unwrap().value, Pos { line: 1, col: 1 });
    }

    #[test]
    fn duplicates_keep_the_last_value_and_are_reported() {
        let p = parse("{\"a\": {\"x\": 1}, \"a\": 2}").unwrap();
        assert_eq!(p.value, serde_json::json!({"a": 2}));
        assert_eq!(p.duplicates.len(), 1);
        assert_eq!(p.duplicates[0].pointer, "/a");
        assert_eq!(p.duplicates[0].first, Pos { line: 1, col: 2 });
        assert_eq!(p.duplicates[0].last, Pos { line: 1, col: 17 });
        assert!(
            p.spans.get("/a/x").is_none(),
            "stale span of the replaced value"
        );
    }

    #[test]
    fn errors_name_the_pointer_and_position() {
        let cases = [
            ("{\"a\": [1, 2,]}", "/a", "trailing comma"),
            ("{\"a\": {\"b\": tru}}", "/a/b", "expected a value"),
            ("{\"a\": 1,}", "", "trailing comma"),
            ("{\"a\": 01}", "/a", "leading zeros"),
            ("{\"a\": \"x\ty\"}", "/a", "control character"),
            ("{\"a\" 1}", "/a", "expected ':'"),
            ("{a: 1}", "", "expected a key in double quotes"),
            ("{\"a\": 1} x", "", "unexpected content"),
            ("{\"a\": \"\\ud800\"}", "/a", "surrogate"),
            ("", "", "unexpected end of file"),
            ("{\"a\": [", "/a/0", "end of file"),
            ("{\"a\": yes}", "/a", "strings need double quotes"),
        ];
        for (doc, pointer, needle) in cases {
            let e = parse(doc).unwrap_err();
            assert_eq!(e.pointer, pointer, "{doc}: {e}");
            assert!(e.message.contains(needle), "{doc}: {e}");
            assert!(
                serde_json::from_str::<Value>(doc).is_err(),
                "serde_json accepts {doc}"
            );
        }
        let e = parse("{\n  \"a\": [1,\n   2,]\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 6 });
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let doc = "[".repeat(10_000);
        assert!(parse(&doc).unwrap_err().message.contains("nesting"));
    }

    /// A small deterministic generator of arbitrary JSON values.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn string(&mut self) -> String {
            let alphabet = [
                'a', 'Z', '0', ' ', '"', '\\', '/', '~', '\n', '\t', '\u{1}', 'é', '😀', '\u{2028}',
            ];
            (0..self.next() % 6)
                .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                .collect()
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.next() % if depth > 3 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(self.next() % 2 == 0),
                2 => Value::from(self.next() as i64 >> (self.next() % 60)),
                3 => Value::from((self.next() % 100_000) as f64 / 7.0),
                4 => Value::String(self.string()),
                5 => Value::Array(
                    (0..self.next() % 4)
                        .map(|_| self.value(depth + 1))
                        .collect(),
                ),
                _ => Value::Object(
                    (0..self.next() % 4)
                        .map(|_| (self.string(), self.value(depth + 1)))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_generated_documents() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let v = g.value(0);
            for text in [
                serde_json::to_string(&v).unwrap(),
                serde_json::to_string_pretty(&v).unwrap(),
            ] {
                let p = parse(&text).unwrap_or_else(|e| panic!("{e} in {text}"));
                assert_eq!(p.value, v, "{text}");
                assert!(p.duplicates.is_empty());
                // Every value has a span, reachable by its pointer.
                fn walk(v: &Value, ptr: String, spans: &SpanIndex) {
                    assert!(spans.get(&ptr).is_some(), "no span for {ptr:?}");
                    match v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .for_each(|(i, x)| walk(x, child(&ptr, &i.to_string()), spans)),
                        Value::Object(m) => {
                            m.iter().for_each(|(k, x)| walk(x, child(&ptr, k), spans))
                        }
                        _ => {}
                    }
                }
                walk(&p.value, String::new(), &p.spans);
            }
        }
    }

    #[test]
    fn columns_count_characters() {
        let p = parse("{\"é\": \"ü\", \"b\": 1}").unwrap();
        assert_eq!(
            p.spans.get("/b").unwrap().key,
            Some(Pos { line: 1, col: 12 })
        );
    }
}
