//! `portainer-sim`: see `pve_sim::portainer`.

fn main() -> std::process::ExitCode {
    pve_sim::portainer::main(std::env::args_os())
}
