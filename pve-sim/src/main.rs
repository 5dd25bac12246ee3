//! `pve-sim`: see the library.

fn main() -> std::process::ExitCode {
    pve_sim::main(std::env::args_os())
}
