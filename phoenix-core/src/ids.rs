//! Guest identifiers shared by containers and VMs.
//!
//! Proxmox uses one ID space for containers and VMs (`100..=999999999`), so a
//! [`GuestId`] is just the number; [`GuestKind`] says which manager owns it.

use std::fmt;
use std::str::FromStr;

/// Lowest ID Proxmox accepts for a guest.
pub const MIN_ID: u32 = 100;
/// Highest ID Proxmox accepts for a guest.
pub const MAX_ID: u32 = 999_999_999;

/// A container or VM ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct GuestId(pub u32);

impl GuestId {
    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether Proxmox would accept this ID.
    pub fn in_proxmox_range(self) -> bool {
        (MIN_ID..=MAX_ID).contains(&self.0)
    }
}

impl fmt::Display for GuestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a string is not a guest ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a plain decimal number.
    #[error("{0:?} is not a guest ID (expected a number such as 101)")]
    NotANumber(String),
    /// Outside `100..=999999999`.
    #[error("{0} is outside the Proxmox ID range {MIN_ID}..={MAX_ID}")]
    OutOfRange(u64),
}

impl FromStr for GuestId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 12 {
            return Err(IdError::NotANumber(s.to_string()));
        }
        let n: u64 = t.parse().map_err(|_| IdError::NotANumber(s.to_string()))?;
        if !(u64::from(MIN_ID)..=u64::from(MAX_ID)).contains(&n) {
            return Err(IdError::OutOfRange(n));
        }
        Ok(GuestId(
            u32::try_from(n).map_err(|_| IdError::OutOfRange(n))?,
        ))
    }
}

/// Which manager owns a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// An LXC container (`lxc-manager`, `pct`).
    Lxc,
    /// A QEMU VM (`vm-manager`, `qm`).
    Vm,
}

impl GuestKind {
    /// Short lowercase name (`lxc`, `vm`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Lxc => "lxc",
            GuestKind::Vm => "vm",
        }
    }

    /// The manager binary that handles this kind.
    pub fn manager(self) -> &'static str {
        match self {
            GuestKind::Lxc => phoenix_paths::binaries::LXC_MANAGER,
            GuestKind::Vm => phoenix_paths::binaries::VM_MANAGER,
        }
    }
}

impl fmt::Display for GuestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxmox_ids() {
        assert_eq!("101".parse::<GuestId>(), Ok(GuestId(101)));
        assert_eq!(" 9000 ".parse::<GuestId>(), Ok(GuestId(9000)));
        assert_eq!("99".parse::<GuestId>(), Err(IdError::OutOfRange(99)));
        assert_eq!(
            "1000000000".parse::<GuestId>(),
            Err(IdError::OutOfRange(1_000_000_000))
        );
        assert!(matches!(
            "abc".parse::<GuestId>(),
            Err(IdError::NotANumber(_))
        ));
        assert!(matches!(
            "-101".parse::<GuestId>(),
            Err(IdError::NotANumber(_))
        ));
        assert!(matches!("".parse::<GuestId>(), Err(IdError::NotANumber(_))));
        assert!(matches!(
            "99999999999999999999".parse::<GuestId>(),
            Err(IdError::NotANumber(_))
        ));
    }
}
