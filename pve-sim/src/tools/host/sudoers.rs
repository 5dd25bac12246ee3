//! `visudo -c`: a sudoers grammar small enough to read and strict enough to catch what a
//! manager could get wrong: comments, `Defaults` lines, `#include`/`@include`/`#includedir`/
//! `@includedir`, `User_Alias`/`Runas_Alias`/`Host_Alias`/`Cmnd_Alias` definitions, and user
//! specifications `<users> <hosts>=(<runas>[:<group>]) [TAG:]… <command>[, …]`.
//!
//! As sudo 1.9 does, checking the default `/etc/sudoers` (or with `-P`) also checks the
//! mode of every file parsed; a file named with `-f` is checked for its syntax only.

use std::path::Path;

use super::{fail, file_arg, getopt_long, host_view, o};
use crate::Ctx;
use crate::outcome::Outcome;

/// A token of a sudoers line with its 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Punct(char),
}

const PUNCT: &[char] = &[',', '=', ':', '(', ')', '!'];

/// Splits a logical line into tokens (`\x` escapes, `"…"` quoting, `#` comments unless a
/// `#<uid>`). `Err(col)` on an unterminated quote.
fn lex(line: &str) -> Result<Vec<(Tok, usize)>, usize> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let col = i + 1;
        if c == '#' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            break;
        }
        if PUNCT.contains(&c) {
            out.push((Tok::Punct(c), col));
            i += 1;
            continue;
        }
        let mut w = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                w.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == '"' {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    w.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(start + 1);
                }
                i += 1;
                continue;
            }
            if c.is_whitespace() || PUNCT.contains(&c) {
                break;
            }
            w.push(c);
            i += 1;
        }
        out.push((Tok::Word(w), col));
    }
    Ok(out)
}

const TAGS: &[&str] = &[
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "SETENV",
    "NOSETENV",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
    "INTERCEPT",
    "NOINTERCEPT",
];

const CMND_OPTIONS: &[&str] = &[
    "CWD",
    "CHROOT",
    "TIMEOUT",
    "NOTBEFORE",
    "NOTAFTER",
    "ROLE",
    "TYPE",
    "APPARMOR_PROFILE",
];

fn is_alias_name(w: &str) -> bool {
    let b = w.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

struct P<'a> {
    toks: &'a [(Tok, usize)],
    i: usize,
    end_col: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.i).map_or(self.end_col, |(_, c)| *c)
    }

    fn punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> Result<String, usize> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.i += 1;
                Ok(w)
            }
            _ => Err(self.col()),
        }
    }

    /// `item (, item)*` where an item is `!…word`.
    fn list(&mut self) -> Result<(), usize> {
        loop {
            while self.punct('!') {}
            let col = self.col();
            let w = self.word()?;
            if w.is_empty() {
                return Err(col);
            }
            if !self.punct(',') {
                return Ok(());
            }
        }
    }

    fn at_end(&self) -> bool {
        self.i >= self.toks.len()
    }

    /// `(<runas>[:<groups>])`.
    fn runas(&mut self) -> Result<(), usize> {
        if !self.punct('(') {
            return Ok(());
        }
        if !matches!(self.peek(), Some(Tok::Punct(':' | ')'))) {
            self.list()?;
        }
        if self.punct(':') && self.peek() != Some(&Tok::Punct(')')) {
            self.list()?;
        }
        if self.punct(')') {
            Ok(())
        } else {
            Err(self.col())
        }
    }

    /// One command with its runas, options and tags.
    fn cmnd_spec(&mut self) -> Result<(), usize> {
        self.runas()?;
        loop {
            match (self.peek(), self.toks.get(self.i + 1).map(|(t, _)| t)) {
                (Some(Tok::Word(w)), Some(Tok::Punct('=')))
                    if CMND_OPTIONS.contains(&w.as_str()) =>
                {
                    self.i += 2;
                    self.word()?;
                }
                (Some(Tok::Word(w)), Some(Tok::Punct(':'))) if TAGS.contains(&w.as_str()) => {
                    self.i += 2;
                }
                _ => break,
            }
        }
        while self.punct('!') {}
        let col = self.col();
        let w = self.word()?;
        if w.starts_with("sha") && w.contains(':') {
            return Err(col);
        }
        if w == "ALL" || is_alias_name(&w) {
            return Ok(());
        }
        if !(w.starts_with('/') || w == "sudoedit" || w == "list") {
            return Err(col);
        }
        // Arguments: words up to the next separator.
        while matches!(self.peek(), Some(Tok::Word(_))) {
            self.i += 1;
        }
        Ok(())
    }

    /// `<hosts> = <cmnd_spec>[, <cmnd_spec>…] [: <hosts> = …]`.
    fn host_specs(&mut self) -> Result<(), usize> {
        loop {
            self.list()?;
            if !self.punct('=') {
                return Err(self.col());
            }
            loop {
                self.cmnd_spec()?;
                if !self.punct(',') {
                    break;
                }
            }
            if self.at_end() {
                return Ok(());
            }
            if !self.punct(':') {
                return Err(self.col());
            }
        }
    }
}

/// One logical line (continuations joined) with its first physical line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        if let Some(body) = line.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        out.push((start, std::mem::take(&mut cur)));
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

/// An include directive found while parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Include {
    /// `@include <file>`.
    File(String),
    /// `@includedir <dir>`.
    Dir(String),
}

/// Checks one `Defaults` parameter list (`name`, `!name`, `name[+-]=value`, comma
/// separated; an unquoted value runs to the next comma). `Err(0)`: the line ended early.
fn defaults_params(toks: &[(Tok, usize)]) -> Result<(), usize> {
    if toks.is_empty() {
        return Err(0);
    }
    let name_ok = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    };
    let mut groups: Vec<&[(Tok, usize)]> = Vec::new();
    let mut start = 0;
    for (i, (t, _)) in toks.iter().enumerate() {
        if *t == Tok::Punct(',') {
            groups.push(&toks[start..i]);
            start = i + 1;
        }
    }
    groups.push(&toks[start..]);
    let mut after_comma = toks[0].1;
    for g in groups {
        let Some(first) = g.first() else {
            return Err(after_comma);
        };
        let mut i = 0;
        while g.get(i).is_some_and(|(t, _)| *t == Tok::Punct('!')) {
            i += 1;
        }
        let name = match g.get(i) {
            Some((Tok::Word(w), c)) => {
                if !name_ok(w.trim_end_matches(['+', '-'])) {
                    return Err(*c);
                }
                w
            }
            Some((_, c)) => return Err(*c),
            None => return Err(first.1),
        };
        i += 1;
        if !name.ends_with(['+', '-'])
            && matches!(g.get(i), Some((Tok::Word(w), _)) if w == "+" || w == "-")
        {
            i += 1;
        }
        match g.get(i) {
            None => {}
            Some((Tok::Punct('='), c)) if g.len() == i + 1 => return Err(c + 1),
            Some((Tok::Punct('='), _)) => {}
            Some((_, c)) => return Err(*c),
        }
        after_comma = g.last().map_or(after_comma, |(_, c)| c + 1);
    }
    Ok(())
}

/// Checks a sudoers file's syntax. `Ok`: the includes it names; `Err((line, col))`.
pub fn check(text: &str) -> Result<Vec<Include>, (usize, usize)> {
    let mut includes = Vec::new();
    for (n, line) in logical_lines(text) {
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        if trimmed.is_empty() {
            continue;
        }
        // Include directives (a `#include` is a directive, not a comment).
        let directive = ["#includedir", "@includedir", "#include", "@include"]
            .iter()
            .find(|d| {
                trimmed.starts_with(**d)
                    && trimmed[d.len()..]
                        .chars()
                        .next()
                        .is_none_or(char::is_whitespace)
            });
        if let Some(d) = directive {
            let rest = trimmed[d.len()..].trim();
            let toks = lex(rest).map_err(|c| (n, lead + d.len() + c))?;
            match toks.as_slice() {
                [(Tok::Word(p), _)] if !p.is_empty() => includes.push(if d.ends_with("dir") {
                    Include::Dir(p.clone())
                } else {
                    Include::File(p.clone())
                }),
                _ => return Err((n, lead + d.len() + 1)),
            }
            continue;
        }
        if trimmed.starts_with('#') && !trimmed[1..].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let toks = lex(&line).map_err(|c| (n, c))?;
        if toks.is_empty() {
            continue;
        }
        let end_col = line.chars().count() + 1;
        let first = match &toks[0].0 {
            Tok::Word(w) => w.clone(),
            Tok::Punct(_) => String::new(),
        };
        if first == "Defaults" || first.starts_with("Defaults@") || first.starts_with("Defaults>") {
            // `Defaults[:@!>]binding param,…`
            let mut rest = &toks[1..];
            // A binding is attached to the word (`Defaults:%sudo`, `Defaults!/bin/x`).
            let attached = toks[0].1 + "Defaults".len();
            if first == "Defaults"
                && matches!(rest.first(), Some((Tok::Punct(':' | '!'), c)) if *c == attached)
                && rest.len() >= 2
            {
                rest = &rest[2..];
            }
            return_err(defaults_params(rest), n, end_col)?;
            continue;
        }
        if matches!(
            first.as_str(),
            "User_Alias" | "Runas_Alias" | "Host_Alias" | "Cmnd_Alias" | "Cmd_Alias"
        ) {
            let mut p = P {
                toks: &toks[1..],
                i: 0,
                end_col,
            };
            loop {
                let col = p.col();
                let name = p.word().map_err(|c| (n, c))?;
                if !is_alias_name(&name) {
                    return Err((n, col));
                }
                if !p.punct('=') {
                    return Err((n, p.col()));
                }
                if first.starts_with("Cmnd") || first.starts_with("Cmd") {
                    loop {
                        p.cmnd_spec().map_err(|c| (n, c))?;
                        if !p.punct(',') {
                            break;
                        }
                    }
                } else {
                    p.list().map_err(|c| (n, c))?;
                }
                if p.at_end() {
                    break;
                }
                if !p.punct(':') {
                    return Err((n, p.col()));
                }
            }
            continue;
        }
        let mut p = P {
            toks: &toks,
            i: 0,
            end_col,
        };
        p.list().map_err(|c| (n, c))?;
        p.host_specs().map_err(|c| (n, c))?;
    }
    Ok(includes)
}

fn return_err(r: Result<(), usize>, line: usize, end: usize) -> Result<(), (usize, usize)> {
    r.map_err(|c| (line, if c == 0 { end } else { c }))
}

/// A file visudo rejects: what it printed so far, the error (stderr), exit 1.
fn rejected(stdout: String, err: String) -> Outcome {
    Outcome {
        stdout,
        ..fail(1, err)
    }
}

/// `visudo -c [-q] [-s] [-P] [-O] [-f FILE]`.
pub fn visudo(ctx: &mut Ctx, args: &[String]) -> Outcome {
    const USAGE: &str = "usage: visudo [-chqsV] [[-f] sudoers ]\n";
    let specs = [
        o("check", Some('c'), false),
        o("quiet", Some('q'), false),
        o("file", Some('f'), true),
        o("strict", Some('s'), false),
        o("perms", Some('P'), false),
        o("owner", Some('O'), false),
    ];
    let p = match getopt_long(args, &specs) {
        Ok(p) => p,
        Err(e) => return fail(1, format!("visudo: {e}\n{USAGE}")),
    };
    let secs = ctx.knobs.cost("host.read");
    let given = p
        .value("file")
        .map(str::to_string)
        .or_else(|| p.operands.first().cloned());
    if p.operands.len() > 1 || (p.operands.len() == 1 && p.has("file")) {
        return fail(1, USAGE);
    }
    if !p.has("check") {
        return fail(1, "visudo: no editor found (editor path = /usr/bin/editor)");
    }
    let perms = given.is_none() || p.has("perms");
    let shown = given.clone().unwrap_or_else(|| "/etc/sudoers".into());
    let path = file_arg(&ctx.root, &shown);
    let mut out = String::new();
    let mut queue = vec![(shown.clone(), path)];
    let mut seen = 0;
    while let Some((name, path)) = queue.pop() {
        seen += 1;
        if seen > 128 {
            break;
        }
        let text = match std::fs::read(&path) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(_) => {
                return rejected(
                    out,
                    format!("visudo: unable to open {name}: No such file or directory\n"),
                )
                .secs(secs);
            }
        };
        if perms {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o7777);
            if mode != 0o440 && mode != 0o400 {
                return rejected(
                    out,
                    format!("{name}: bad permissions, should be mode 0440\n"),
                )
                .secs(secs);
            }
        }
        match check(&text) {
            Ok(includes) => {
                if !p.has("quiet") {
                    out.push_str(&format!("{name}: parsed OK\n"));
                }
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut next = Vec::new();
                for inc in includes {
                    match inc {
                        Include::File(f) => {
                            let real = if f.starts_with('/') {
                                ctx.root.host(&f)
                            } else {
                                base.join(&f)
                            };
                            next.push((host_view(&ctx.root, &real), real));
                        }
                        Include::Dir(d) => {
                            let dir = if d.starts_with('/') {
                                ctx.root.host(&d)
                            } else {
                                base.join(&d)
                            };
                            let mut files: Vec<_> = std::fs::read_dir(&dir)
                                .map(|rd| {
                                    rd.filter_map(Result::ok)
                                        .map(|e| e.path())
                                        .filter(|p| p.is_file())
                                        .filter(|p| {
                                            let n = p
                                                .file_name()
                                                .map(|n| n.to_string_lossy().into_owned())
                                                .unwrap_or_default();
                                            !n.contains('.') && !n.ends_with('~')
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            files.sort();
                            for f in files {
                                next.push((host_view(&ctx.root, &f), f));
                            }
                        }
                    }
                }
                next.reverse();
                queue.extend(next);
            }
            Err((line, col)) => {
                return rejected(out, format!(
                        "{name}:{line}:{col}: syntax error\nparse error in {name} near line {line}\n"
                    )).secs(secs);
            }
        }
    }
    Outcome::read(out).secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debians_sudoers_parses() {
        let inc = check(super::super::catalogue::SUDOERS).unwrap();
        assert_eq!(inc, [Include::Dir("/etc/sudoers.d".into())]);
    }

    #[test]
    fn user_specifications() {
        for ok in [
            "phoenix_admin ALL=(ALL:ALL) NOPASSWD: ALL",
            "%sudo\tALL=(ALL:ALL) ALL",
            "heads, %wheel ALL = (root) NOPASSWD: /usr/bin/systemctl restart smbd, /usr/sbin/exportfs -ra",
            "ADMINS ALL=(ALL) ALL : web01 = (www-data) /usr/bin/id",
            "bob ALL=!/bin/su, /usr/bin/apt-get update",
            "alice ALL=(ALL) NOPASSWD:SETENV: /opt/x \"\"",
            "User_Alias ADMINS = alice, bob",
            "Cmnd_Alias SERVICES = /usr/bin/systemctl restart *, /usr/bin/systemctl status *",
            "Host_Alias LAN = 10.0.0.0/255.255.255.0",
            "Defaults:%sudo env_keep += \"GIT_AUTHOR_* GIT_COMMITTER_*\"",
            "Defaults\tsecure_path=\"/usr/sbin:/usr/bin\"",
            "Defaults !lecture, timestamp_timeout=5",
            "Defaults@web01 log_year",
            "#includedir /etc/sudoers.d",
            "@include /etc/sudoers.local",
            "# a comment",
            "root ALL=(ALL:ALL) ALL # trailing comment",
            "#1000 ALL=(ALL) ALL",
            "carol ALL=(ALL) \\\n    /usr/bin/true",
        ] {
            assert!(check(ok).is_ok(), "{ok:?}: {:?}", check(ok));
        }
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        assert_eq!(check("this is garbage"), Err((1, 9)));
        assert_eq!(check("# ok\nalice ALL=(ALL ALL"), Err((2, 16)));
        assert_eq!(check("alice ALL=(ALL) bogus"), Err((1, 17)));
        assert_eq!(check("alice ALL"), Err((1, 10)));
        assert_eq!(check("User_Alias admins = alice"), Err((1, 12)));
        assert_eq!(check("Defaults"), Err((1, 9)));
        assert_eq!(check("@includedir"), Err((1, 12)));
        assert_eq!(check("alice ALL=(ALL) \"unterminated"), Err((1, 17)));
    }
}
