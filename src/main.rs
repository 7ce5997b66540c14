//! The `aifbench` binary: parse the command line, start the async runtime
//! the command needs, dispatch to `cli`, and turn the outcome into the
//! exit code. Everything a command does lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = cli::run_before_runtime(&cli.command) {
        return code;
    }
    // `aifbench loadgen --threads 1` (its default) runs on one thread: a
    // load generator is cheapest without cross-thread wake-ups.
    let mut builder = match &cli.command {
        Command::Loadgen(args) if args.threads == 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Loadgen(args) if args.threads > 1 => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(args.threads);
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // The terminal may be gone (a run that survived a hang-up):
            // the error is then lost, not a panic.
            cli::console::err(&format!("error: {e:#}\n"));
            ExitCode::from(1)
        }
    }
}
