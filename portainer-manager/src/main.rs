//! `portainer-manager`: see the library.

fn main() -> std::process::ExitCode {
    portainer_manager::main(std::env::args_os())
}
