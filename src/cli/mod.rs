//! The `aifbench` command line behind `main.rs`: the parser (`args`), one
//! file per command group (`run`, `submit`, `status`, `cancel`,
//! `compare`, `serve`, `operator`, `files`, `components`), the
//! Slurm transport flags (`slurm_args`), signal handling (`signals`), the
//! printed summary (`summary`) and console writes that survive a terminal
//! that is gone (`console`). Part of the binary crate: anyhow is allowed
//! here and nowhere in the library.

mod args;
mod cancel;
mod compare;
mod components;
pub mod console;
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

pub use args::{Cli, Command};

/// Runs one parsed command to its exit code.
pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
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
pub fn run_before_runtime(command: &Command) -> Option<ExitCode> {
    match command {
        Command::Supervise(args) => {
            let code = aifbench::backend::supervise::supervise(args);
            Some(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        _ => None,
    }
}
