//! Real validators for generated files: the checkers Debian packages ship (`nginx -t`,
//! `dnsmasq --test`, `testparm`, `visudo -c`, `apparmor_parser -Q -K`, `systemd-analyze
//! verify`, `logrotate -d`) and the publishers' JSON Schemas in `../shared/schemas/`.
//!
//! A validator that is not installed skips its test with a printed note; in CI (`CI=true`),
//! where `.ci/run` installs them, it fails the test instead.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use phoenix_core::cmd::{Cmd, CmdError, Runner};
use serde_json::Value;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn missing(what: &str, how: &str) -> Option<PathBuf> {
    assert!(
        !in_ci(),
        "{what} is missing in CI; .ci/run installs it ({how})"
    );
    eprintln!("note: {what} is not installed ({how}); skipping");
    None
}

/// The validator `program` (on `PATH`, `/usr/sbin` or `/sbin`), from Debian package
/// `package`.
pub fn program(program: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(program))
        .find(|p| phoenix_core::cmd::is_executable(p))
        .or_else(|| missing(program, &format!("apt-get install {package}")))
}

/// Runs a validator: its combined output when it accepts, else the output as the error.
pub fn run<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<String, String> {
    let cmd = Cmd::read(program).args(args.iter().map(AsRef::as_ref));
    match Runner::system(false).run(&cmd) {
        Ok(o) => Ok(format!("{}{}", o.stdout_str(), o.stderr_str())),
        Err(CmdError::Failed {
            code,
            stdout,
            stderr,
            ..
        }) => Err(format!("exit {code:?}\n{stdout}{stderr}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A published JSON Schema from `../shared/schemas/` (`None` with a note when absent).
pub fn shared_schema(file: &str) -> Option<Value> {
    let p = crate::repo().join("../shared/schemas").join(file);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(serde_json::from_str(&t).expect("a published schema is JSON")),
        Err(_) => {
            eprintln!("note: {} is absent; skipping", p.display());
            None
        }
    }
}

/// Every error of `instance` against `schema` (its `$schema` draft), as `pointer: message`.
pub fn against_schema(schema: &Value, instance: &Value) -> Vec<String> {
    let v = jsonschema::validator_for(schema).expect("the schema compiles");
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}
