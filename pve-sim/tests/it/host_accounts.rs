//! Users, groups, passwords, sudoers and Proxmox users on the simulated host.

use std::os::unix::fs::PermissionsExt;

use crate::support::Sim;

const HASH: &str = "$6$rounds=5000$phoenixsalt$5b1QKc9yqSxgk7mCqf2sQbXrE1o3Zl8xV2n0TnQ4uA6m1wP9dJ3hF7yB2eR5tL8cK0vZ4aN6sD1gH3jM9pQ.";

#[test]
fn useradd_getent_chpasswd() {
    let sim = Sim::new();
    sim.run(
        "useradd",
        &[
            "--create-home",
            "--shell",
            "/bin/bash",
            "--comment",
            "Phoenix Admin",
            "--groups",
            "sudo,users",
            "phoenix_admin",
        ],
    )
    .ok();
    assert_eq!(
        sim.run("getent", &["passwd", "phoenix_admin"]).ok(),
        "phoenix_admin:x:1000:1000:Phoenix Admin:/home/phoenix_admin:/bin/bash\n"
    );
    assert!(sim.path("/home/phoenix_admin").is_dir());
    assert_eq!(
        sim.run("getent", &["group", "phoenix_admin"]).ok(),
        "phoenix_admin:x:1000:\n"
    );
    assert_eq!(
        sim.run("id", &["-nG", "phoenix_admin"]).ok(),
        "phoenix_admin sudo users\n"
    );
    assert_eq!(
        sim.run("getent", &["shadow", "phoenix_admin"]).ok(),
        "phoenix_admin:!:20454:0:99999:7:::\n"
    );
    sim.run_stdin(
        "chpasswd",
        &["--encrypted"],
        format!("phoenix_admin:{HASH}\n").as_bytes(),
    )
    .ok();
    assert_eq!(
        sim.run("getent", &["shadow", "phoenix_admin"]).ok(),
        format!("phoenix_admin:{HASH}:20454:0:99999:7:::\n")
    );
    // The rendered files, in the real formats.
    assert!(
        sim.read("/etc/passwd")
            .starts_with("root:x:0:0:root:/root:/bin/bash\n")
    );
    assert!(
        sim.read("/etc/passwd")
            .contains("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    );
    assert!(sim.read("/etc/group").contains("sudo:x:27:phoenix_admin\n"));
    assert!(
        sim.read("/etc/shadow")
            .contains(&format!("phoenix_admin:{HASH}:"))
    );
    let mode = std::fs::metadata(sim.path("/etc/shadow"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // The hash never reaches the audit log.
    let audit = sim.read("/var/lib/pve-sim/audit.jsonl");
    assert!(!audit.contains("phoenixsalt"));
}

#[test]
fn chpasswd_refuses_unknown_users_and_clear_text_with_e() {
    let sim = Sim::new();
    sim.run("useradd", &["heads"]).ok();
    assert_eq!(
        sim.run_stdin("chpasswd", &["-e"], format!("ghost:{HASH}\n").as_bytes())
            .fails(1),
        "chpasswd: (line 1, user ghost) password not changed\n"
    );
    assert_eq!(
        sim.run_stdin("chpasswd", &["-e"], b"heads:hunter2\n")
            .fails(1),
        "chpasswd: (line 1, user heads) password not changed\n"
    );
    assert_eq!(
        sim.run("getent", &["shadow", "heads"]).ok(),
        "heads:!:20454:0:99999:7:::\n"
    );
    // Without -e the clear text is hashed; it is stored nowhere.
    sim.run_stdin("chpasswd", &[], b"heads:hunter2\n").ok();
    let shadow = sim.run("getent", &["shadow", "heads"]).ok().to_string();
    assert!(shadow.starts_with("heads:$y$j9T$"), "{shadow}");
    let root = sim.sysroot();
    for f in [
        "etc/shadow",
        "var/lib/pve-sim/state.json",
        "var/lib/pve-sim/audit.jsonl",
    ] {
        assert!(
            !std::fs::read_to_string(root.join(f))
                .unwrap()
                .contains("hunter2"),
            "{f}"
        );
    }
}

fn write_mode(sim: &Sim, path: &str, text: &str, mode: u32) -> String {
    let p = sim.path(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p.display().to_string()
}

#[test]
fn visudo_checks_syntax_and_modes() {
    let sim = Sim::new();
    assert_eq!(
        sim.run("visudo", &["-c"]).fails(127),
        "visudo: command not found (pve-sim: install package sudo)\n"
    );
    sim.run("apt-get", &["install", "-y", "sudo"]).ok();
    assert_eq!(
        sim.run("visudo", &["-c"]).ok(),
        "/etc/sudoers: parsed OK\n/etc/sudoers.d/README: parsed OK\n"
    );
    let good = write_mode(
        &sim,
        "/tmp/phoenix.sudoers",
        "# phoenix\nphoenix_admin ALL=(ALL:ALL) NOPASSWD: ALL\n",
        0o440,
    );
    assert_eq!(
        sim.run("visudo", &["-c", "-f", &good]).ok(),
        format!("{good}: parsed OK\n")
    );
    assert_eq!(
        sim.run("visudo", &["--check", "--quiet", &format!("--file={good}")])
            .ok(),
        ""
    );
    let bad = write_mode(
        &sim,
        "/tmp/bad.sudoers",
        "# ok\nphoenix_admin ALL=(ALL:ALL NOPASSWD: ALL\n",
        0o440,
    );
    assert_eq!(
        sim.run("visudo", &["-cqf", &bad]).fails(1),
        format!("{bad}:2:28: syntax error\nparse error in {bad} near line 2\n")
    );
    // -f checks syntax only; the installed files must be 0440 (or 0400).
    let loose = write_mode(
        &sim,
        "/etc/sudoers.d/phoenix",
        "heads ALL=(ALL) ALL\n",
        0o644,
    );
    assert_eq!(sim.run("visudo", &["-c", "-q", "-f", &loose]).ok(), "");
    assert_eq!(
        sim.run("visudo", &["-c"]).fails(1),
        "/etc/sudoers.d/phoenix: bad permissions, should be mode 0440\n"
    );
    assert_eq!(
        sim.run("visudo", &["-c", "-P", "-f", &loose]).fails(1),
        format!("{loose}: bad permissions, should be mode 0440\n")
    );
    std::fs::set_permissions(
        sim.path("/etc/sudoers.d/phoenix"),
        std::fs::Permissions::from_mode(0o440),
    )
    .unwrap();
    assert!(
        sim.run("visudo", &["-c"])
            .ok()
            .ends_with("/etc/sudoers.d/phoenix: parsed OK\n")
    );
    for e in sim.audit().iter().filter(|e| e["tool"] == "visudo") {
        assert_eq!(e["effect"], "read");
    }
}

#[test]
fn pveum_users_and_acls() {
    let sim = Sim::new();
    assert_eq!(
        sim.run("pveum", &["user", "list", "--output-format", "json"])
            .ok(),
        "[{\"email\":\"root@localhost\",\"enable\":1,\"expire\":0,\"realm-type\":\"pam\",\"userid\":\"root@pam\"}]\n"
    );
    assert_eq!(
        sim.run("pveum", &["acl", "list", "--output-format", "json"])
            .ok(),
        "[{\"path\":\"/\",\"propagate\":1,\"roleid\":\"Administrator\",\"type\":\"user\",\"ugid\":\"root@pam\"}]\n"
    );
    sim.run(
        "pveum",
        &["user", "add", "phoenix_admin@pam", "--comment", "Phoenix"],
    )
    .ok();
    assert_eq!(
        sim.run("pveum", &["user", "add", "phoenix_admin@pam"])
            .fails(255),
        "create user failed: user 'phoenix_admin@pam' already exists\n"
    );
    sim.run(
        "pveum",
        &[
            "acl",
            "modify",
            "/",
            "--users",
            "phoenix_admin@pam",
            "--roles",
            "Administrator",
        ],
    )
    .ok();
    let acls: serde_json::Value = serde_json::from_str(
        sim.run("pveum", &["acl", "list", "--output-format", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(acls.as_array().unwrap().len(), 2);
    assert_eq!(
        sim.read("/etc/pve/user.cfg"),
        "user:phoenix_admin@pam:1:0::::Phoenix::\nuser:root@pam:1:0:::root@localhost:::\n\nacl:1:/:phoenix_admin@pam,root@pam:Administrator:\n\n"
    );
    // The shell version's spelling no longer exists.
    assert!(
        sim.run(
            "pveum",
            &[
                "acl",
                "modify",
                "/",
                "-user",
                "phoenix_admin@pam",
                "-role",
                "Administrator"
            ]
        )
        .fails(255)
        .starts_with("Unknown option: user\n400 unable to parse option\n")
    );
    let err = sim
        .run(
            "pveum",
            &[
                "acl",
                "modify",
                "/",
                "--users",
                "ghost@pam",
                "--roles",
                "Nope",
            ],
        )
        .fails(255)
        .to_string();
    assert!(
        err.starts_with("400 Parameter verification failed.\n")
            && err.contains("users: user 'ghost@pam' does not exist\n")
            && err.contains("roles: role 'Nope' does not exist\n"),
        "{err}"
    );
}
