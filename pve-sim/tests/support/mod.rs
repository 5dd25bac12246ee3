//! A simulated host in a temporary directory, driven through the real `pve-sim` binary and
//! its tool links, exactly as the managers' tests will drive it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What one command printed.
#[derive(Clone, Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success, got {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts a failure with this exit status and returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

/// A simulated host.
pub struct Sim {
    dir: tempfile::TempDir,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

impl Sim {
    /// A fresh host: `pve-sim init` plus extra init arguments.
    pub fn init(args: &[&str]) -> Sim {
        let sim = Sim {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let mut a = vec!["init"];
        a.extend_from_slice(args);
        sim.admin(&a).ok();
        sim.admin(&["install", sim.bin().to_str().expect("utf-8 path")])
            .ok();
        sim
    }

    /// The default host.
    pub fn new() -> Sim {
        Sim::init(&[])
    }

    /// The host described by the repository's example configuration (`etc/`).
    pub fn example() -> Sim {
        let etc = repo().join("etc");
        Sim::init(&["--from-config", etc.to_str().expect("utf-8 path")])
    }

    pub fn sysroot(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// A host path inside the simulated root.
    pub fn path(&self, host: &str) -> PathBuf {
        self.sysroot().join(host.trim_start_matches('/'))
    }

    pub fn read(&self, host: &str) -> String {
        std::fs::read_to_string(self.path(host)).unwrap_or_else(|e| panic!("{host}: {e}"))
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin().display()))
            .env("PHOENIX_SYSROOT", self.sysroot())
            .env("LANG", "C.UTF-8");
        c
    }

    fn output(mut c: Command) -> Out {
        let o = c.output().expect("run the simulator");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `pve-sim <args>`.
    pub fn admin(&self, args: &[&str]) -> Out {
        let mut c = self.command(Path::new(env!("CARGO_BIN_EXE_pve-sim")));
        c.args(args);
        Sim::output(c)
    }

    /// A tool through its link (`pct`, `qm`, …).
    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        let mut c = self.command(&self.bin().join(tool));
        c.args(args);
        Sim::output(c)
    }

    /// Runs with extra environment.
    pub fn run_env(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.command(&self.bin().join(tool));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Sim::output(c)
    }

    /// The audit log.
    pub fn audit(&self) -> Vec<Value> {
        self.read("/var/lib/pve-sim/audit.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// The bookkeeping state.
    pub fn state(&self) -> Value {
        serde_json::from_str(&self.read("/var/lib/pve-sim/state.json")).expect("state.json")
    }

    /// The standard container template on `local`, as a host path the tools read.
    pub fn template(&self) -> String {
        self.path("/var/lib/vz/template/cache/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
            .display()
            .to_string()
    }

    /// Creates a container on `local-zfs` with a fixed MAC.
    pub fn container(&self, id: u32, extra: &[&str]) -> Out {
        let tpl = self.template();
        let id = id.to_string();
        let mut a = vec![
            "create",
            &id,
            &tpl,
            "--hostname",
            "web",
            "--memory",
            "1024",
            "--rootfs",
            "local-zfs:8",
            "--net0",
            "name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=dhcp",
        ];
        a.extend_from_slice(extra);
        self.run("pct", &a)
    }
}
