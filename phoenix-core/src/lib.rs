//! Phoenix Hypervisor's core library: everything the binaries share.
//!
//! - [`config`]: the typed configuration, tolerant loading, schema and semantic checks;
//! - [`graph`]: one dependency graph over containers and VMs, orders, closures, the scheduler;
//! - [`cmd`]: the one runner for external commands and host file writes (dry-run aware);
//! - [`paths`]: the install and host layout (`PHOENIX_ROOT`, `PHOENIX_SYSROOT`);
//! - [`pve`]: pure parsers for Proxmox's tool output and guest config files;
//! - [`host`]: the host's own tools (packages, systemd units, accounts), thin and parsed;
//! - [`mesh`]: the service mesh (roles, Traefik routes) DNS, Traefik and Nginx share;
//! - [`log`], [`lock`], [`exit`], [`cli`]: logging, locks, exit statuses and shared flags.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod converge;
pub mod exit;
pub mod files;
pub mod graph;
pub mod host;
pub mod ids;
pub mod lock;
pub mod log;
pub mod mesh;
pub mod pve;
pub mod step;

pub use phoenix_paths as paths;
