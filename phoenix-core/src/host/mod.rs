//! The host's own tools, beyond Proxmox's: thin command builders over pure parsers for what
//! `dpkg-query`, `systemctl` and `getent` print. Observers run read-only commands through
//! the one runner (so they also run in dry runs); mutating commands are returned as
//! [`Cmd`](crate::cmd::Cmd)s for the caller to run and to show in its plan.

pub mod accounts;
pub mod apt;
pub mod systemd;
