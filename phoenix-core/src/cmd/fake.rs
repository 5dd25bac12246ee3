//! [`FakeExec`]: a recording fake of the process boundary, for tests.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;

/// A scripted, recording [`Exec`] for tests: each call is recorded as its argv; replies come
/// from the first matching rule (default: success with empty output).
#[derive(Default)]
pub struct FakeExec {
    calls: Mutex<Vec<Vec<String>>>,
    rules: Mutex<Vec<(Vec<String>, RawOutput)>>,
}

impl FakeExec {
    /// A fake that answers every command with success.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Answers commands whose argv starts with `prefix` with `out`.
    pub fn reply(&self, prefix: &[&str], out: RawOutput) {
        if let Ok(mut r) = self.rules.lock() {
            r.push((prefix.iter().map(|s| (*s).to_string()).collect(), out));
        }
    }

    /// Every argv run so far.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for FakeExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeExec")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl Exec for FakeExec {
    fn exec(
        &self,
        _program: &Path,
        cmd: &Cmd,
        sink: Option<LineSink<'_>>,
    ) -> std::io::Result<RawOutput> {
        let argv: Vec<String> = cmd
            .argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Ok(mut c) = self.calls.lock() {
            c.push(argv.clone());
        }
        let rules = self.rules.lock().map(|r| r.clone()).unwrap_or_default();
        let out = rules
            .into_iter()
            .find(|(p, _)| argv.starts_with(p))
            .map(|(_, o)| o)
            .unwrap_or(RawOutput {
                code: Some(0),
                ..RawOutput::default()
            });
        if let Some(sink) = sink {
            for l in String::from_utf8_lossy(&out.stdout).lines() {
                sink(Stream::Stdout, l);
            }
            for l in String::from_utf8_lossy(&out.stderr).lines() {
                sink(Stream::Stderr, l);
            }
        }
        Ok(out)
    }

    fn resolve(&self, program: &OsStr) -> Option<PathBuf> {
        Some(PathBuf::from(program))
    }
}
