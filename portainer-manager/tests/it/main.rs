//! Integration tests of `portainer-manager`, in one binary (a change to the crate links one test
//! executable, not one per test file).

mod support;

// The binary as a process: targets, configuration and confirmation checked first.
mod cli;
// Golden Traefik and Nginx files of both configurations; the YAML read back.
mod generate;
// The generated files against the real validators (nginx -t, published JSON Schemas).
mod validators;
// `sync` on a simulated host against portainer-sim over TLS: convergence, idempotence,
// dry runs, failures, LetsGo.
mod sync;

// Failures injected at every mutating call and kills at random moments of a LetsGo.
mod faults;
