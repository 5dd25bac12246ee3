//! The setup steps only `hypervisor-manager` runs, on the step framework
//! ([`phoenix_core::step`], which also holds the steps `sync` shares: `dns`, `firewall`).

pub mod apparmor;
pub mod disks;
pub mod nvidia;
pub mod samba;
pub mod shares;
pub mod storage;
pub mod system;
pub mod users;
pub mod zfs;
