//! The `aifbench` binary. Everything it does, from parsing the command line
//! to the exit code, lives in the library's `cli` module (`src/cli/`), so
//! this crate compiles in a second.

fn main() -> std::process::ExitCode {
    aifbench::cli::main()
}
