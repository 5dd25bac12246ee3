//! Integration tests of `lxc-manager`, in one binary (a change to the crate links one test
//! executable, not one per test file).

mod support;

mod changes;
mod cli;
mod estate;
mod host_side;
mod real_guests;
mod sources;
mod verbs;
