//! The commands that only read and write files: `validate`, `import`,
//! `report` and `crd`, and the loading (and validating) of a Benchmark
//! file that `run` and `submit` share with them (warnings and errors on
//! stderr, exit code 2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::api::load::{LoadError, Loaded, SourceFormat, load_file, process_env};
use crate::api::validate::validate;
use crate::results::ResultsDir;

use super::console;
use super::summary::summary_text;

pub fn print_load_error(e: &LoadError) {
    eprintln!("error: {e}");
}

/// Loads `file`, printing its warnings; a file that does not load is
/// reported and yields exit code 2.
pub fn load(file: &Path) -> Result<Loaded, ExitCode> {
    match load_file(file, &process_env) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("warning: {}: {w}", file.display());
            }
            Ok(l)
        }
        Err(e) => {
            print_load_error(&e);
            Err(ExitCode::from(2))
        }
    }
}

/// Loads `file` and validates it ([`load`], then every problem of
/// `validate` printed): a Benchmark ready to run, or exit code 2.
pub fn load_valid(file: &Path) -> Result<Loaded, ExitCode> {
    let loaded = load(file)?;
    let errors = validate(&loaded.benchmark);
    if errors.is_empty() {
        Ok(loaded)
    } else {
        print_load_error(&LoadError {
            source_name: file.display().to_string(),
            errors,
        });
        Err(ExitCode::from(2))
    }
}

/// `aifbench validate`: every problem of every file; 1 if any is invalid.
pub fn validate_files(files: &[PathBuf]) -> ExitCode {
    let mut bad = 0;
    for f in files {
        match load_file(f, &process_env) {
            Err(e) => {
                bad += 1;
                print_load_error(&e);
            }
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("warning: {}: {w}", f.display());
                }
                let errors = validate(&l.benchmark);
                if errors.is_empty() {
                    let kind = match l.format {
                        SourceFormat::Benchmark => "Benchmark",
                        SourceFormat::SeedRecipe => "seed recipe",
                    };
                    println!("{}: valid {kind}", f.display());
                } else {
                    bad += 1;
                    eprintln!(
                        "error: {}",
                        LoadError {
                            source_name: f.display().to_string(),
                            errors
                        }
                    );
                }
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `aifbench import`: the file as a normalized Benchmark on stdout; 1 if
/// the result does not validate, 2 if the file does not load.
pub fn import(file: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match load(file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    if loaded.format != SourceFormat::SeedRecipe {
        eprintln!(
            "note: {} is already a Benchmark; printing it normalized",
            file.display()
        );
    }
    let errors = validate(&loaded.benchmark);
    print!("{}", serde_norway::to_string(&loaded.benchmark)?);
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "warning: {}",
            LoadError {
                source_name: file.display().to_string(),
                errors
            }
        );
        Ok(ExitCode::from(1))
    }
}

/// `aifbench crd`: the CustomResourceDefinition as YAML.
pub fn crd() -> anyhow::Result<ExitCode> {
    print!("{}", crate::api::crd_yaml()?);
    Ok(ExitCode::SUCCESS)
}

/// `aifbench report`: rebuilds the summary files of a results folder from
/// its clients/*.json and prints the summary.
pub fn report(dir: &Path) -> anyhow::Result<ExitCode> {
    let results = ResultsDir::open(dir);
    let bm: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(results.benchmark_yaml())
            .with_context(|| format!("{} is not a results folder", dir.display()))?,
    )?;
    let name = bm["metadata"]["name"]
        .as_str()
        .unwrap_or("benchmark")
        .to_string();
    let instances = results
        .client_result_ids()
        .with_context(|| format!("reading {}", results.clients().display()))?;
    let percentiles: Vec<f64> = bm["spec"]["execution"]["percentiles"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let r = crate::results::report::write_report(&results, &name, &instances, &percentiles)?;
    console::out(&format!(
        "{}\nwrote {}\n",
        summary_text(&r),
        results.summary_json().display()
    ));
    Ok(ExitCode::SUCCESS)
}
