//! Tests of the runner, the process boundary and the file operations.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::*;

fn failing(code: i32, stderr: &str) -> RawOutput {
    RawOutput {
        code: Some(code),
        stderr: stderr.as_bytes().to_vec(),
        ..RawOutput::default()
    }
}

/// A command whose kept output grows past MAX_OUTPUT (a guest "file" that is /dev/zero)
/// is stopped and fails; it does not fill the memory or hang.
#[test]
fn endless_output_is_stopped_and_fails() {
    let r = Runner::system(false);
    let e = r
        .run(&Cmd::read("cat").arg("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("printed more than 16 MiB"), "{e}");
    let e = r
        .run(
            &Cmd::read("sh")
                .args(["-c", "yes"])
                .timeout(Duration::from_secs(60)),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("printed more than 16 MiB"), "{e}");
}

#[test]
fn renders_shell_quoted() {
    let c = Cmd::mutate("pct").args([
        "set",
        "101",
        "--description",
        "it's a test",
        "--memory",
        "4096",
    ]);
    assert_eq!(
        c.to_string(),
        r#"pct set 101 --description "it's a test" --memory 4096"#
    );
}

#[test]
fn dry_run_records_mutations_and_runs_reads() {
    let fake = FakeExec::new();
    let r = Runner::with_exec(fake.clone(), true);
    let out = r.run(&Cmd::mutate("pct").args(["start", "101"])).unwrap();
    assert!(!out.executed);
    r.run(&Cmd::read("pct").args(["status", "101"])).unwrap();
    assert_eq!(fake.calls(), vec![vec!["pct", "status", "101"]]);
    assert_eq!(
        r.journal(),
        vec![JournalEntry::Command {
            cmd: "pct start 101".into()
        }]
    );
}

#[test]
fn failures_carry_command_status_and_stderr() {
    let fake = FakeExec::new();
    fake.reply(&["pct", "set"], failing(25, "unable to parse value\n"));
    let r = Runner::with_exec(fake, false);
    let e = r
        .run(&Cmd::mutate("pct").args(["set", "101", "--memory", "x"]))
        .unwrap_err();
    assert_eq!(e.code(), Some(25));
    assert_eq!(
        e.to_string(),
        "`pct set 101 --memory x` failed (exit status: 25)\n--- stderr\nunable to parse value"
    );
}

#[test]
fn trees_are_removed_without_following_links() {
    let d = tempfile::tempdir().unwrap();
    let keep = d.path().join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("precious"), "x").unwrap();
    let tree = d.path().join("data");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/f"), "y").unwrap();
    std::os::unix::fs::symlink(&keep, tree.join("link")).unwrap();
    let dry = Runner::system(true);
    assert_eq!(dry.remove_tree(&tree).unwrap(), WriteOutcome::JournalEntry);
    assert!(tree.join("sub/f").exists());
    let r = Runner::system(false);
    assert_eq!(r.remove_tree(&tree).unwrap(), WriteOutcome::Written);
    assert!(!tree.exists());
    assert!(keep.join("precious").exists(), "the link's target stays");
    assert_eq!(r.remove_tree(&tree).unwrap(), WriteOutcome::Unchanged);
    assert!(r.remove_tree(&keep.join("precious")).is_err());
}

#[test]
fn ok_codes_widen_success() {
    let fake = FakeExec::new();
    fake.reply(&["grep"], failing(1, ""));
    let r = Runner::with_exec(fake, false);
    assert!(r.run(&Cmd::read("grep").ok_codes(&[0, 1])).is_ok());
    assert!(r.run(&Cmd::read("grep")).is_err());
}

#[test]
fn system_exec_runs_real_processes() {
    let r = Runner::system(false);
    let out = r
        .run(
            &Cmd::read("/bin/sh")
                .args(["-c", "read x; echo \"got $x\"; echo warn >&2"])
                .stdin("secret\n"),
        )
        .unwrap();
    assert_eq!(out.stdout_str(), "got secret\n");
    assert_eq!(out.stderr_str(), "warn\n");
    let e = r
        .run(&Cmd::read("/bin/sh").args(["-c", "echo boom >&2; exit 3"]))
        .unwrap_err();
    assert_eq!(e.code(), Some(3));
    assert!(
        e.to_string()
            .ends_with("(exit status: 3)\n--- stderr\nboom"),
        "{e}"
    );
    let t = r
        .run(
            &Cmd::read("/bin/sh")
                .args(["-c", "sleep 5"])
                .timeout(Duration::from_millis(50)),
        )
        .unwrap_err();
    assert!(matches!(t, CmdError::TimedOut { .. }), "{t}");
}

#[test]
fn streaming_delivers_lines_as_they_come() {
    let r = Runner::system(false);
    let lines = Mutex::new(Vec::new());
    let sink = |s: Stream, l: &str| lines.lock().unwrap().push((s, l.to_string()));
    r.run_streaming(
        &Cmd::read("/bin/sh").args(["-c", "echo a; echo b >&2; printf c"]),
        &sink,
    )
    .unwrap();
    let mut got = lines.into_inner().unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![
            (Stream::Stdout, "a".to_string()),
            (Stream::Stdout, "c".to_string()),
            (Stream::Stderr, "b".to_string())
        ]
    );
}

#[test]
fn missing_programs_name_the_override() {
    let r = Runner::system(false);
    let e = r
        .run(&Cmd::read("definitely-not-a-phoenix-tool"))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("PHOENIX_DEFINITELY_NOT_A_PHOENIX_TOOL"),
        "{e}"
    );
}

#[test]
fn resolution_prefers_the_override_then_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("pct");
    std::fs::write(&bin, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = Some(dir.path().as_os_str().to_os_string());
    assert_eq!(
        resolve_program(OsStr::new("pct"), |_| None, path.clone()),
        Some(bin.clone())
    );
    let over = |k: &str| (k == "PHOENIX_PCT").then(|| OsString::from("/opt/pct"));
    assert_eq!(
        resolve_program(OsStr::new("pct"), over, path.clone()),
        Some(PathBuf::from("/opt/pct"))
    );
    assert_eq!(resolve_program(OsStr::new("qm"), |_| None, path), None);
}

#[test]
fn writes_are_atomic_idempotent_and_dry_run_aware() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("101.fw");
    let dry = Runner::with_exec(FakeExec::new(), true);
    assert_eq!(
        dry.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
            .unwrap(),
        WriteOutcome::JournalEntry
    );
    assert!(!p.exists());
    let r = Runner::with_exec(FakeExec::new(), false);
    assert_eq!(
        r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(
        r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
            .unwrap(),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        dry.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o640))
            .unwrap(),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        r.write_file(&p, b"[OPTIONS]\n", FileSpec::mode(0o600))
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp files left"
    );
    let sub = dir.path().join("a/b");
    assert_eq!(
        dry.ensure_dir(&sub, 0o755).unwrap(),
        WriteOutcome::JournalEntry
    );
    assert!(!sub.exists());
    assert_eq!(r.ensure_dir(&sub, 0o755).unwrap(), WriteOutcome::Written);
    assert_eq!(r.ensure_dir(&sub, 0o755).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(dry.remove_file(&p).unwrap(), WriteOutcome::JournalEntry);
    assert!(p.exists());
    assert!(matches!(dry.journal().last(), Some(JournalEntry::Remove { path }) if *path == p));
    assert_eq!(r.remove_file(&p).unwrap(), WriteOutcome::Written);
    assert!(!p.exists());
    assert_eq!(r.remove_file(&p).unwrap(), WriteOutcome::Unchanged);
}

#[test]
fn debug_never_shows_stdin() {
    let c = Cmd::mutate("chpasswd")
        .arg("-e")
        .stdin("admin:$6$secret$hash\n");
    let d = format!("{c:?}");
    assert!(!d.contains("secret") && d.contains("<21 bytes>"), "{d}");
}

#[test]
fn checked_writes_replace_only_what_the_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("phoenix");
    std::fs::write(&p, "old\n").unwrap();
    let r = Runner::with_exec(FakeExec::new(), false);
    let reject = |tmp: &Path| -> anyhow::Result<()> {
        assert_eq!(std::fs::read_to_string(tmp).unwrap(), "bad\n");
        anyhow::bail!("syntax error near line 1")
    };
    let e = r
        .write_checked(&p, b"bad\n", FileSpec::mode(0o440), &reject)
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("was rejected") && msg.contains("syntax error"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "old\n");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temp removed"
    );
    let accept = |_: &Path| -> anyhow::Result<()> { Ok(()) };
    assert_eq!(
        r.write_checked(&p, b"good\n", FileSpec::mode(0o440), &accept)
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "good\n");
    let never = |_: &Path| -> anyhow::Result<()> { panic!("a dry run checks nothing") };
    let dry = Runner::with_exec(FakeExec::new(), true);
    assert_eq!(
        dry.write_checked(&p, b"other\n", FileSpec::mode(0o440), &never)
            .unwrap(),
        WriteOutcome::JournalEntry
    );
}

#[test]
fn links_are_made_repointed_and_never_replace_files() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("phoenix");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let r = Runner::with_exec(FakeExec::new(), false);
    let dry = Runner::with_exec(FakeExec::new(), true);
    assert_eq!(dry.symlink(&a, &link).unwrap(), WriteOutcome::JournalEntry);
    assert!(std::fs::symlink_metadata(&link).is_err());
    assert_eq!(r.symlink(&a, &link).unwrap(), WriteOutcome::Written);
    assert_eq!(r.symlink(&a, &link).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(r.symlink(&b, &link).unwrap(), WriteOutcome::Written);
    assert_eq!(std::fs::read_link(&link).unwrap(), b);
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = r.symlink(&a, &file).unwrap_err().to_string();
    assert!(e.contains("is not a symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn modes_change_only_when_different() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("share");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = Runner::with_exec(FakeExec::new(), false);
    let dry = Runner::with_exec(FakeExec::new(), true);
    assert_eq!(dry.set_mode(&d, 0o770).unwrap(), WriteOutcome::JournalEntry);
    assert_eq!(r.set_mode(&d, 0o770).unwrap(), WriteOutcome::Written);
    assert_eq!(r.set_mode(&d, 0o770).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(
        std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777,
        0o770
    );
}

#[test]
fn kernel_parameters_are_written_in_place_and_planned_in_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("zfs_arc_max");
    std::fs::write(&p, "0\n").unwrap();
    let dry = Runner::system(true);
    assert_eq!(
        dry.write_kernel_param(&p, "1024").unwrap(),
        WriteOutcome::JournalEntry
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "0\n");
    let r = Runner::system(false);
    assert_eq!(
        r.write_kernel_param(&p, "1024").unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "1024");
    assert_eq!(
        r.write_kernel_param(&p, "1024").unwrap(),
        WriteOutcome::Unchanged
    );
    assert!(
        r.write_kernel_param(&dir.path().join("absent"), "1")
            .is_err()
    );
}
