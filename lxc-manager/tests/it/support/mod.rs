//! The shared test host ([`phoenix_testkit`]).

pub use phoenix_testkit::*;
