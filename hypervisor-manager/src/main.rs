//! `hypervisor-manager`: see the library.

fn main() -> std::process::ExitCode {
    hypervisor_manager::main(std::env::args_os())
}
