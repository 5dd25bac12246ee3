//! Tests of `pve-sim` itself, in one binary (a change to the crate links one test executable,
//! not one per test file).

mod support;

mod admin;
mod agreement;
mod guest_docker;
mod host_accounts;
mod host_disks;
mod host_kernel;
mod host_packages;
mod host_services;
mod lifecycle;
mod pct;
mod portainer;
mod qm;
mod storage;
mod zfs;
