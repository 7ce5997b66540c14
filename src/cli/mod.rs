//! The `aifbench` command line behind `main.rs`: the parser (`args`), one
//! file per command group (`run`, `submit`, `status`, `cancel`,
//! `compare`, `serve`, `operator`, `files`, `components`), the
//! Slurm transport flags (`slurm_args`), signal handling (`signals`), the
//! printed summary (`summary`) and console writes that survive a terminal
//! that is gone (`console`). The binary's edge, though compiled into the
//! library (one instantiation of the library's generics instead of two):
//! anyhow is allowed here and nowhere else.

mod args;
mod cancel;
mod compare;
mod components;
mod console;
mod files;
mod operator;
mod run;
mod serve;
mod signals;
mod slurm_args;
mod status;
mod submit;
mod summary;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// The whole program behind `main.rs`: parse the command line, start the
/// async runtime the command needs, run it, and turn the outcome into the
/// exit code. Here rather than in `main.rs` so the binary crate has no code
/// of its own to compile: a `block_on` there would instantiate every
/// command's future (and all the library's generics under it) a second time.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(code) = run_before_runtime(&cli.command) {
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // The terminal may be gone (a run that survived a hang-up):
            // the error is then lost, not a panic.
            console::err(&format!("error: {e:#}\n"));
            ExitCode::from(1)
        }
    }
}

/// Runs one parsed command to its exit code.
async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Submit(args) => submit::submit(args).await,
        Command::Status(args) => status::status(args).await,
        Command::Validate { files } => Ok(files::validate_files(&files)),
        Command::Import { file } => files::import(&file),
        Command::Crd => files::crd(),
        Command::Sim(args) => components::sim(args).await,
        Command::Loadgen(args) => components::loadgen(*args).await,
        Command::Scrape(args) => components::scrape(args).await,
        Command::GpuExporter(args) => components::gpu_exporter(args).await,
        Command::Operator(args) => operator::operator(args).await,
        Command::Report { dir } => files::report(&dir),
        Command::Cancel(args) => cancel::cancel(args).await,
        Command::Compare(args) => compare::compare(args).await,
        Command::Serve(args) => serve::serve(args).await,
        // Runs before the runtime starts (main.rs): its signal mask must
        // hold in every thread.
        Command::Supervise(_) => {
            anyhow::bail!("`aifbench supervise` must run before the async runtime starts")
        }
    }
}

/// `aifbench supervise`, run on the main thread before any other thread
/// exists; None for every other command.
fn run_before_runtime(command: &Command) -> Option<ExitCode> {
    match command {
        Command::Supervise(args) => {
            let code = crate::backend::supervise::supervise(args);
            Some(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        _ => None,
    }
}
