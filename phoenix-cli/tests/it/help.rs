//! `--help` output, as operators see it.

use crate::support::Env;

#[test]
fn top_level_help() {
    let env = Env::new();
    let run = env.run(["--help"], &[]);
    run.expect_code(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn verb_help() {
    let env = Env::new();
    for verb in ["create", "delete", "sync", "LetsGo", "setup"] {
        let run = env.run([verb, "--help"], &[]);
        run.expect_code(0);
        insta::assert_snapshot!(format!("help_{verb}"), run.stdout);
    }
}

#[test]
fn no_arguments_prints_help_and_fails() {
    let env = Env::new();
    let run = env.run(Vec::<&str>::new(), &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("Usage: phoenix"), "{}", run.stderr);
}

#[test]
fn unknown_verbs_exit_2() {
    let env = Env::with_examples();
    let run = env.run(["frobnicate", "101"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        run.stderr
    );
}
