//! The dispatcher against fake managers installed next to a copy of `phoenix-cli`.

use std::path::PathBuf;

use crate::support::{Env, filter};

fn setup() -> Env {
    let env = Env::with_examples();
    env.fake_managers();
    env
}

/// Writes a hook the fake managers source between their start and end log lines.
fn hook(env: &Env, body: &str) -> PathBuf {
    let p = env.dir.path().join("hook.sh");
    std::fs::write(&p, body).unwrap();
    p
}

/// Calls without the flags every manager gets.
fn verbs(env: &Env) -> Vec<String> {
    let etc = format!(" --config {}", env.etc().display());
    env.calls().iter().map(|c| c.replace(&etc, "")).collect()
}

#[test]
fn create_routes_mixed_lists_in_dependency_order() {
    let env = setup();
    let run = env.run(["create", "101", "1002", "-j", "1"], &[]);
    run.expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager create 900",
            "lxc-manager create 103",
            "lxc-manager create 102",
            "lxc-manager create 101",
            "vm-manager create 9000",
            "vm-manager create 1001",
            "vm-manager create 1002",
        ]
    );
    insta::assert_snapshot!(filter(&env, &run.stderr));
}

#[test]
fn create_skips_existing_dependencies_but_never_a_listed_target() {
    let env = setup();
    for id in [900, 103] {
        let conf = env.sys().join(format!("etc/pve/lxc/{id}.conf"));
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(conf, "hostname: x\n").unwrap();
    }
    let run = env.run(["create", "102", "103", "-j", "1"], &[]);
    run.expect_code(0);
    assert_eq!(
        verbs(&env),
        ["lxc-manager create 103", "lxc-manager create 102"]
    );
    assert!(
        run.stderr.contains("900    lxc   create  exists, skipped"),
        "{}",
        run.stderr
    );
}

#[test]
fn converge_runs_the_whole_chain() {
    let env = setup();
    env.run(["converge", "950", "-j", "1"], &[]).expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager converge 900",
            "lxc-manager converge 103",
            "lxc-manager converge 102",
            "lxc-manager converge 901",
            "lxc-manager converge 950"
        ]
    );
}

#[test]
fn start_brings_up_runtime_dependencies_but_not_clone_sources_or_templates() {
    let env = setup();
    env.run(["start", "101", "-j", "1"], &[]).expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager start 103",
            "lxc-manager start 102",
            "lxc-manager start 101"
        ]
    );
    let env = setup();
    env.run(["start", "1001", "-j", "1"], &[]).expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager start 103",
            "lxc-manager start 102",
            "vm-manager start 1001"
        ]
    );
}

#[test]
fn stop_restart_and_status_touch_only_the_targets() {
    let env = setup();
    env.run(["stop", "103", "101", "-j", "1"], &[])
        .expect_code(0);
    assert_eq!(
        verbs(&env),
        ["lxc-manager stop 101", "lxc-manager stop 103"],
        "dependents stop first"
    );
    let env = setup();
    env.run(["restart", "101", "103", "-j", "1"], &[])
        .expect_code(0);
    assert_eq!(
        verbs(&env),
        ["lxc-manager restart 103", "lxc-manager restart 101"]
    );
    let env = setup();
    let run = env.run(["status", "1002", "101"], &[]);
    run.expect_code(0);
    let mut v = verbs(&env);
    v.sort();
    assert_eq!(v, ["lxc-manager status 101", "vm-manager status 1002"]);
    assert!(
        run.stdout.contains("[1002] vm-manager: status 1002 done"),
        "{}",
        run.stdout
    );
}

#[test]
fn delete_refuses_clone_sources_unless_forced() {
    let env = setup();
    let run = env.run(["delete", "901"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("refusing to delete 901: guests 950, 960 are cloned from it"),
        "{}",
        run.stderr
    );
    assert!(env.calls().is_empty());
    env.run(["delete", "901", "960", "950", "-j", "1"], &[])
        .expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager delete 950",
            "lxc-manager delete 960",
            "lxc-manager delete 901"
        ]
    );
    let env = setup();
    env.run(["delete", "901", "--force"], &[]).expect_code(0);
    assert_eq!(verbs(&env), ["lxc-manager delete 901 --force"]);
}

#[test]
fn a_failure_stops_dependents_not_siblings() {
    let env = setup();
    let run = env.run(
        ["converge", "950", "960", "101", "-j", "2"],
        &[("FAIL_converge_901", "1")],
    );
    run.expect_code(1);
    let mut v = verbs(&env);
    v.sort();
    assert_eq!(
        v,
        [
            "lxc-manager converge 101",
            "lxc-manager converge 102",
            "lxc-manager converge 103",
            "lxc-manager converge 900",
            "lxc-manager converge 901"
        ]
    );
    assert!(
        run.stderr
            .contains("901    lxc   converge  FAILED (exit 1)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("950    lxc   converge  skipped (901 failed)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("960    lxc   converge  skipped (901 failed)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("4 ok, 1 failed, 2 skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("[901] lxc-manager: converge 901 failed on purpose"),
        "{}",
        run.stderr
    );
}

#[test]
fn jobs_run_independent_guests_concurrently() {
    let env = setup();
    // 950 and 960 only proceed once both are running: this completes only with parallelism.
    let h = hook(
        &env,
        &format!(
            r#"if [ "$id" = 950 ] || [ "$id" = 960 ]; then
  touch "{d}/here.$id"
  other=950; [ "$id" = 950 ] && other=960
  n=0
  while [ ! -e "{d}/here.$other" ]; do
    n=$((n+1)); [ $n -gt 600 ] && exit 3
    sleep 0.05
  done
fi
"#,
            d = env.dir.path().display()
        ),
    );
    let run = env.run(
        ["converge", "950", "960", "-j", "2"],
        &[("HOOK", h.to_str().unwrap())],
    );
    run.expect_code(0);
}

#[test]
fn jobs_never_exceed_the_limit() {
    for jobs in ["1", "3"] {
        let env = setup();
        let h = hook(
            &env,
            &format!(
                r#"mkdir "{d}/running.$id"
ls -d "{d}"/running.* | wc -l >> "{d}/concurrency"
sleep 0.2
rmdir "{d}/running.$id"
"#,
                d = env.dir.path().display()
            ),
        );
        let ids = [
            "900", "901", "902", "103", "102", "101", "950", "960", "1001", "1002",
        ];
        let mut args = vec!["status", "-j", jobs];
        args.extend(ids);
        env.run(args, &[("HOOK", h.to_str().unwrap())])
            .expect_code(0);
        let seen: Vec<usize> = std::fs::read_to_string(env.dir.path().join("concurrency"))
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert_eq!(seen.len(), ids.len());
        let max = seen.iter().max().copied().unwrap();
        assert!(
            max <= jobs.parse().unwrap(),
            "{max} concurrent with --jobs {jobs}"
        );
        if jobs == "1" {
            // Strictly one after the other: every start is followed by its end.
            let lines = env.log_lines();
            for pair in lines.chunks(2) {
                assert!(
                    pair[0].starts_with("start ") && pair[1].starts_with("end "),
                    "{lines:#?}"
                );
                assert_eq!(pair[0]["start ".len()..], pair[1]["end ".len()..]);
            }
        }
    }
}

#[test]
fn lets_go_creates_then_starts_by_boot_order_and_syncs() {
    let env = setup();
    let run = env.run(["LetsGo", "-j", "1"], &[]);
    run.expect_code(0);
    let v = verbs(&env);
    let creates: Vec<&String> = v.iter().filter(|c| c.contains(" create ")).collect();
    assert_eq!(creates.len(), 11);
    let rest: Vec<&str> = v[11..].iter().map(String::as_str).collect();
    assert_eq!(
        rest,
        [
            "lxc-manager start 103",
            "lxc-manager start 102",
            "lxc-manager start 101",
            "vm-manager start 1001",
            "vm-manager start 1002",
            "portainer-manager sync all",
            "lxc-manager start 950",
            "lxc-manager start 960",
            "portainer-manager sync all",
            "lxc-manager start 900",
            "lxc-manager start 901",
            "lxc-manager start 902",
        ],
        "templates (9000) are never started; VMs follow their boot_order"
    );
}

#[test]
fn lets_go_does_not_start_what_failed_to_build() {
    let env = setup();
    let run = env.run(["LetsGo", "-j", "1"], &[("FAIL_create_103", "1")]);
    run.expect_code(1);
    let v = verbs(&env);
    for never in [
        "create 102",
        "create 101",
        "create 1001",
        "create 1002",
        "start 103",
        "start 102",
        "start 1001",
        "sync all",
    ] {
        assert!(!v.iter().any(|c| c.ends_with(never)), "{never} ran: {v:#?}");
    }
    assert!(
        v.contains(&"lxc-manager start 900".to_string()),
        "siblings still start: {v:#?}"
    );
}

#[test]
fn dry_run_is_forwarded_and_takes_no_lock() {
    let env = setup();
    env.run(["create", "103", "--dry-run", "-j", "1"], &[])
        .expect_code(0);
    assert_eq!(
        verbs(&env),
        [
            "lxc-manager create 900 --dry-run",
            "lxc-manager create 103 --dry-run"
        ]
    );
    assert!(
        !env.sys()
            .join("run/phoenix_hypervisor/global.lock")
            .exists()
    );
}

#[test]
fn setup_and_sync_forward_their_arguments_and_exit_status() {
    let env = setup();
    env.run(
        [
            "setup",
            "--dry-run",
            "--wipe-disks",
            "/dev/sdb",
            "--step",
            "zfs",
        ],
        &[],
    )
    .expect_code(0);
    assert_eq!(
        verbs(&env),
        ["hypervisor-manager setup --wipe-disks /dev/sdb --step zfs --dry-run"]
    );
    let env = setup();
    let run = env.run(
        ["sync", "stack", "qdrant", "to", "1002"],
        &[("FAIL_sync_stack", "1")],
    );
    run.expect_code(1);
    assert_eq!(verbs(&env), ["portainer-manager sync stack qdrant to 1002"]);
    let env = setup();
    env.run(["sync", "all", "--reset-portainer", "--yes"], &[])
        .expect_code(0);
    assert_eq!(
        verbs(&env),
        ["portainer-manager sync all --reset-portainer --yes"]
    );
}

#[test]
fn unknown_or_malformed_ids_exit_2_before_anything_runs() {
    let env = setup();
    let run = env.run(["create", "101", "4242"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("unknown guest 4242"), "{}", run.stderr);
    let run = env.run(["stop", "abc"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("\"abc\" is not a guest ID"),
        "{}",
        run.stderr
    );
    assert!(env.calls().is_empty());
}

#[test]
fn a_missing_manager_is_named() {
    let env = setup();
    std::fs::remove_file(env.bin().join("vm-manager")).unwrap();
    let run = env.run(["start", "1001"], &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "manager not found: {}",
            env.bin().join("vm-manager").display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        env.calls().is_empty(),
        "nothing starts when a needed manager is missing"
    );
}

#[test]
fn a_second_mutating_run_is_refused_while_one_holds_the_lock() {
    let env = setup();
    let lock = env.sys().join("run/phoenix_hypervisor/global.lock");
    let _held = phoenix_core::lock::acquire(&lock, "test", std::time::Duration::ZERO).unwrap();
    let run = env.run(["create", "103"], &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("another phoenix run"), "{}", run.stderr);
    assert!(env.calls().is_empty());
    // Reading verbs do not need the lock.
    env.run(["status", "103"], &[]).expect_code(0);
}

#[test]
fn managers_know_the_lock_is_held() {
    let env = setup();
    let h = hook(
        &env,
        &format!(
            "echo \"held=${{PHOENIX_GLOBAL_LOCK_HELD:-}}\" >> \"{}/env\"\n",
            env.dir.path().display()
        ),
    );
    env.run(["start", "103"], &[("HOOK", h.to_str().unwrap())])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("env")).unwrap(),
        "held=1\n"
    );
}

#[test]
fn json_output_reports_every_job() {
    let env = setup();
    let run = env.run(
        ["converge", "102", "--output", "json", "-j", "1"],
        &[("FAIL_converge_102", "1")],
    );
    run.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows: Vec<(u64, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["guest"].as_u64().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [(900, "ok"), (103, "ok"), (102, "failed")]);
}

/// A host older than the floor (PVE 8.2: qemu-server 8.2.4, libpve-storage-perl 8.2.5) is
/// refused once, before any manager runs, naming each package and the version needed
/// (issue 16, item 3); a dry run, which changes nothing, is not.
#[test]
fn an_older_proxmox_is_refused_before_any_manager_runs() {
    let env = setup();
    env.pveversion("proxmox-ve: 8.2.0 (running kernel: 6.8.12-2-pve)\npve-manager: 8.2.7 (running version: 8.2.7/3e0176e6bb2ade3b)\nlibpve-storage-perl: 8.2.5\npve-container: 5.1.12\nqemu-server: 8.2.4\n");
    let run = env.run(["LetsGo"], &[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("this Proxmox VE host is too old for Phoenix; nothing was changed")
            && run
                .stderr
                .contains("qemu-server is 8.2.4; Phoenix needs qemu-server 8.2.7 or newer")
            && run.stderr.contains(
                "libpve-storage-perl is 8.2.5; Phoenix needs libpve-storage-perl 8.2.8 or newer"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(verbs(&env), Vec::<String>::new());
    env.run(["create", "900", "--dry-run"], &[]).expect_code(0);

    // Read once per run: the dispatcher reads it, the managers it runs do not.
    env.pveversion(crate::support::PVE_91);
    let _ = std::fs::remove_file(format!("{}.tools", env.log().display()));
    env.run(["create", "101", "-j", "1"], &[]).expect_code(0);
    let tools = std::fs::read_to_string(format!("{}.tools", env.log().display())).unwrap();
    assert_eq!(tools, "pveversion -v\n");
}
