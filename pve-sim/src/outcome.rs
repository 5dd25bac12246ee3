//! What one simulated command did: its output, exit status, and how the audit log records it.

/// Whether a command changes the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Observes only.
    Read,
    /// Changes state.
    Mutate,
}

/// The result of one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Read or mutate.
    pub effect: Effect,
    /// Real Proxmox would have refused this command (flagged in the audit log).
    pub refused: bool,
    /// Simulated duration in seconds.
    pub secs: f64,
    /// The guest the command concerned.
    pub guest: Option<u32>,
    /// Storage whose lock the operation holds while it allocates.
    pub storage: Option<String>,
    /// Guest locks it holds until it ends (seq and pid are filled in by the dispatcher).
    pub holds: Vec<crate::state::Hold>,
}

/// Proxmox's CLI dies with status 255 on errors.
pub const DIE: i32 = 255;

impl Outcome {
    /// Success without output.
    pub fn ok(effect: Effect) -> Self {
        Self {
            code: 0,
            stdout: String::new(),
            stderr: String::new(),
            effect,
            refused: false,
            secs: 0.0,
            guest: None,
            storage: None,
            holds: Vec::new(),
        }
    }

    /// A read with output.
    pub fn read(stdout: impl Into<String>) -> Self {
        Self {
            stdout: stdout.into(),
            ..Self::ok(Effect::Read)
        }
    }

    /// A refusal: what Proxmox prints when it rejects a command (exit 255).
    pub fn refuse(stderr: impl Into<String>) -> Self {
        let mut s: String = stderr.into();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        Self {
            code: DIE,
            stderr: s,
            refused: true,
            ..Self::ok(Effect::Read)
        }
    }

    /// Sets stdout.
    pub fn out(mut self, s: impl Into<String>) -> Self {
        self.stdout = s.into();
        self
    }

    /// Sets the simulated duration.
    pub fn secs(mut self, s: f64) -> Self {
        self.secs = s;
        self
    }

    /// Tags the guest.
    pub fn guest(mut self, id: u32) -> Self {
        self.guest = Some(id);
        self
    }

    /// Holds a guest lock until the command ends.
    pub fn hold(mut self, h: crate::state::Hold) -> Self {
        self.holds.push(h);
        self
    }

    /// Holds a storage lock while allocating.
    pub fn storage(mut self, id: impl Into<String>) -> Self {
        self.storage = Some(id.into());
        self
    }
}
