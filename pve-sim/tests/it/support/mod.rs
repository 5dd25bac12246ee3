//! A simulated host in a temporary directory, driven through the real `pve-sim` binary and
//! its tool links, exactly as the managers' tests will drive it.

use std::path::{Path, PathBuf};

use phoenix_core::cmd::{Cmd, CmdError, Runner};

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

    /// Runs `program` with the simulator's environment (and `env` on top) through the
    /// product's runner.
    fn exec(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.exec_stdin(program, args, env, None)
    }

    /// [`Sim::exec`] with data on the program's stdin (otherwise stdin is `/dev/null`).
    fn exec_stdin(
        &self,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Out {
        let mut c = Cmd::mutate(program)
            .args(args)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin().display()))
            .env("PHOENIX_SYSROOT", self.sysroot())
            .env("PVE_SIM_STRICT", "1")
            .env("PVE_SIM_TIME_SCALE", "0")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8");
        for (k, v) in env {
            c = c.env(k, v);
        }
        if let Some(data) = stdin {
            c = c.stdin(data.to_vec());
        }
        match Runner::system(false).run(&c) {
            Ok(o) => Out {
                code: 0,
                stdout: o.stdout_str(),
                stderr: o.stderr_str(),
            },
            Err(CmdError::Failed {
                code,
                stdout,
                stderr,
                ..
            }) => Out {
                code: code.unwrap_or(-1),
                stdout,
                stderr,
            },
            Err(e) => panic!("cannot run the simulator: {e}"),
        }
    }

    /// `pve-sim <args>`.
    pub fn admin(&self, args: &[&str]) -> Out {
        self.exec(Path::new(env!("CARGO_BIN_EXE_pve-sim")), args, &[])
    }

    /// A tool through its link (`pct`, `qm`, …).
    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        self.exec(&self.bin().join(tool), args, &[])
    }

    /// A tool with data on its stdin.
    pub fn run_stdin(&self, tool: &str, args: &[&str], stdin: &[u8]) -> Out {
        self.exec_stdin(&self.bin().join(tool), args, &[], Some(stdin))
    }

    /// Any program (a script in the simulated host, such as a downloaded runfile) with the
    /// simulator's environment: its `PATH` finds the tools first.
    pub fn run_path(&self, program: &str, args: &[&str]) -> Out {
        self.exec(Path::new(program), args, &[])
    }

    /// A tool with extra environment.
    pub fn run_env(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.exec(&self.bin().join(tool), args, env)
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
