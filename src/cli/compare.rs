//! `aifbench compare RUN...`: results folders side by side, the baseline
//! first; a table on stdout (or JSON), an HTML page on request, and exit
//! code 1 when a `--fail-if` gate trips.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use aifbench::results::compare::{self, gate, render};

use super::console;

// No doc comment here: the `Compare` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Results folders; the first is the baseline.
    #[arg(required = true, num_args = 2.., value_name = "RUN")]
    pub runs: Vec<String>,
    /// Exit 1 when a change past this limit is beyond noise; repeatable.
    /// METRIC>+N% / METRIC<-N% (change in percent of the baseline) or
    /// METRIC>N / METRIC<-N (change in the metric's unit: ms, req/s, tok/s,
    /// percentage points for error_rate). METRIC is a row name of the table:
    /// ttft.p99, e2el.mean, request_throughput, error_rate, ...
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Exit 1 when any metric differs beyond noise, either way.
    #[arg(long)]
    pub fail_if_any_change: bool,
    /// Smallest change, in percent of the baseline, that can be beyond
    /// noise (run-to-run drift that the sampling intervals cannot see).
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    pub noise_threshold: f64,
    /// Print the comparison as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the comparison with overlaid latency CDFs to this HTML file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs `aifbench compare`: 0 no gate tripped, 1 a gate tripped, 2 a bad
/// gate expression or run.
pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let gates = match args
        .fail_if
        .iter()
        .map(|g| gate::parse_gate(g))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(g) => g,
        Err(e) => {
            console::err(&format!("error: {e}\n"));
            return Ok(ExitCode::from(2));
        }
    };
    if !(args.noise_threshold >= 0.0 && args.noise_threshold.is_finite()) {
        console::err("error: --noise-threshold must be a percentage >= 0\n");
        return Ok(ExitCode::from(2));
    }
    let mut runs = Vec::new();
    for source in &args.runs {
        match compare::load_run(source) {
            Ok(r) => runs.push(r),
            Err(e) => {
                console::err(&format!("error: {e}\n"));
                return Ok(ExitCode::from(2));
            }
        }
    }
    let cmp = compare::build(&runs, args.noise_threshold);
    if let Err(e) = gate::check_names(&gates, &cmp) {
        console::err(&format!("error: {e}\n"));
        return Ok(ExitCode::from(2));
    }
    if args.json {
        console::out(&format!("{}\n", serde_json::to_string_pretty(&cmp)?));
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        console::out(&render::table(&cmp, color));
    }
    if let Some(path) = &args.html {
        std::fs::write(path, render::html(&cmp, &runs))
            .with_context(|| format!("writing {}", path.display()))?;
        console::err(&format!("wrote {}\n", path.display()));
    }
    let mut failed = false;
    for t in gate::evaluate(&gates, &cmp) {
        failed = true;
        console::err(&format!(
            "FAIL: --fail-if {:?} tripped on {} (change {:+.2}, beyond noise)\n",
            t.gate, t.run, t.change
        ));
    }
    if args.fail_if_any_change && cmp.differing().next().is_some() {
        failed = true;
        console::err("FAIL: --fail-if-any-change: some metric differs beyond noise\n");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
