//! `lxc-manager`: see the library.

fn main() -> std::process::ExitCode {
    lxc_manager::main(std::env::args_os())
}
