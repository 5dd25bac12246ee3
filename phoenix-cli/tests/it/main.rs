//! Integration tests of `phoenix-cli`, run as a process from a temporary installation.

mod support;

// Each broken configuration exits 2 naming the file and the JSON pointer; nothing runs.
mod broken_configs;
// The dispatcher with fake managers: routing, order, concurrency, failure isolation.
mod dispatch;
// `--help` output (insta snapshots).
mod help;
// `validate` on the reference and example configurations (insta snapshots).
mod validate;
