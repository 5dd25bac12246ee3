//! `vm-manager`: see the library.

fn main() -> std::process::ExitCode {
    vm_manager::main(std::env::args_os())
}
