//! `aifbench compare RUN...`: results folders (or `s3://` URLs of uploaded
//! ones) side by side, the baseline first; a table on stdout (or JSON), an
//! HTML page on request, and exit code 1 when a `--fail-if` gate trips.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::results::compare::{self, gate, render};

use super::console;

// No doc comment here: the `Compare` variant's text is the subcommand's help.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Results folders, or `s3://bucket/prefix` URLs of results folders
    /// uploaded by `results.s3` (read with AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, or --s3-credentials-file); the first is the
    /// baseline.
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
    /// Endpoint of the S3-compatible server of s3:// runs [default:
    /// AWS_ENDPOINT_URL, else AWS S3].
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Signing region of s3:// runs [default: AWS_REGION, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Path-style addressing for s3:// runs [default: true with an endpoint].
    #[arg(long, value_name = "BOOL")]
    pub s3_path_style: Option<bool>,
    /// A file of AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines
    /// for s3:// runs (instead of those environment variables).
    #[arg(long, value_name = "FILE")]
    pub s3_credentials_file: Option<String>,
}

/// Runs `aifbench compare`: 0 no gate tripped, 1 a gate tripped, 2 a bad
/// gate expression or run.
pub async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
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
    let copies = Copies::new();
    let mut runs = Vec::new();
    for (n, source) in args.runs.iter().enumerate() {
        let loaded = if source.starts_with("s3://") {
            load_s3(&args, source, &copies.folder(n)).await
        } else {
            compare::load_run(source).map_err(anyhow::Error::from)
        };
        match loaded {
            Ok(r) => runs.push(r),
            Err(e) => {
                console::err(&format!("error: {e:#}\n"));
                return Ok(ExitCode::from(2));
            }
        }
    }
    drop(copies);
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

/// Copies the result files of the run at `url` (`s3://bucket/prefix`) into
/// `into` and loads them; the run keeps the URL as its source.
async fn load_s3(
    args: &CompareArgs,
    url: &str,
    into: &std::path::Path,
) -> anyhow::Result<crate::results::compare::RunData> {
    use crate::api::spec::S3CredentialsSource;
    use crate::results::s3::{
        ResultsStore, StoreConfig, credentials_from_source, download_for_compare, parse_s3_url,
    };
    let (bucket, prefix) = parse_s3_url(url)?;
    let env = |name: &str| std::env::var(name).ok();
    let source = S3CredentialsSource {
        file: args.s3_credentials_file.clone(),
        ..S3CredentialsSource::default()
    };
    let creds = credentials_from_source(&source, &env)?;
    let config = StoreConfig::for_bucket(
        bucket,
        args.s3_endpoint.clone(),
        args.s3_region.clone(),
        args.s3_path_style,
        &env,
    );
    let store = ResultsStore::new(&config, &creds);
    let copied = download_for_compare(&store, &prefix, into).await?;
    if copied == 0 {
        anyhow::bail!(
            "{url}: no results there (no summary.json and no clients/*.json under that prefix)"
        );
    }
    Ok(compare::load_folder(into, compare::run_label(url), url)?)
}

/// Local copies of the s3:// runs, in one temporary folder removed when
/// the comparison is read.
struct Copies {
    root: PathBuf,
}

impl Copies {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            root: std::env::temp_dir()
                .join(format!("aifbench-compare-{}-{nanos}", std::process::id())),
        }
    }

    fn folder(&self, n: usize) -> PathBuf {
        self.root.join(n.to_string())
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
