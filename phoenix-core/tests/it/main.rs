//! Integration tests of `phoenix-core`, in one binary (a change to the crate links one test
//! executable, not one per test file).

mod eras;
mod history;
mod pve_fixtures;
mod reference;
