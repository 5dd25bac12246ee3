//! `phoenix-cli` (installed also as `phoenix`): see the library for everything.

fn main() -> std::process::ExitCode {
    phoenix_cli::main(std::env::args_os())
}
