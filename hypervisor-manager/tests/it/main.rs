//! Integration tests of `hypervisor-manager`, in one binary (a change to the crate links one test
//! executable, not one per test file).

mod support;

mod cli;
mod setup;
