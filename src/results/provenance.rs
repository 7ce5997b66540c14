//! Provenance: what exactly a run measured, recorded in `environment.json`
//! (`provenance`), in short in the status and in the reports. Pure: the
//! types, the readers of what servers, Slurm, `nvidia-smi` and pods answer,
//! and the resolved Benchmark written so a results folder can rerun it.
//! The probes that ask for these answers are in `provenance_probe`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::api::spec::Benchmark;
use crate::api::status::{ProvenanceSummary, ServerSummary};
use crate::backend::stderr_tail::{Redactor, looks_secret};

/// The commit aifbench was built from (`build.rs`), "unknown" outside a git
/// checkout.
pub const BUILD_COMMIT: &str = env!("AIFBENCH_BUILD_COMMIT");

/// Whether tracked files differed from [`BUILD_COMMIT`] at build time.
pub fn build_dirty() -> Option<bool> {
    match env!("AIFBENCH_BUILD_DIRTY") {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The file next to `benchmark.yaml` that reruns the run:
/// `aifbench run <folder>/benchmark.resolved.yaml`.
pub const RESOLVED_BENCHMARK: &str = "benchmark.resolved.yaml";

/// Everything recorded about the software and hardware a run measured.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// aifbench's version (Cargo.toml).
    pub aifbench_version: String,
    /// The commit aifbench was built from.
    pub build_commit: String,
    /// Whether that build had uncommitted changes (absent: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_dirty: Option<bool>,
    /// Per service: what its server says it is.
    #[serde(default)]
    pub servers: Vec<ServerInfo>,
    /// The Slurm cluster and jobs, when a component ran under Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmInfo>,
    /// Apptainer images with their SHA-256 (pods, under the operator: each
    /// component's `images` in the status, with the resolved digests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageInfo>,
    /// GPUs of the driver host (absent without `nvidia-smi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<GpuInventory>,
    /// The resolved Benchmark, relative to the results folder.
    pub resolved_benchmark: String,
}

/// A service's server, as it answered `/version` and `/v1/models` once it
/// was healthy; an endpoint it lacks leaves its field absent.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The service id.
    pub id: String,
    /// The URL probed.
    pub url: String,
    /// `/version`'s `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `/v1/models`' model ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
}

/// The Slurm version and where each Slurm component ran.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlurmInfo {
    /// e.g. "23.11.4" (absent when it could not be asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One entry per Slurm component.
    pub jobs: Vec<SlurmJob>,
}

/// One component's Slurm job.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlurmJob {
    /// Component id.
    pub component: String,
    /// Job id (or `job.step` inside an allocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Node(s) it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Partition asked for in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// A container image a component ran in.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// Component id (a pod: the container's pod or component).
    pub component: String,
    /// The image as given (`.sif` path, `docker://...`, pod image).
    pub image: String,
    /// SHA-256 of a local image file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The GPUs `nvidia-smi` lists.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuInventory {
    /// How many.
    pub count: usize,
    /// Model names (one per distinct model).
    pub models: Vec<String>,
    /// NVIDIA driver version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// CUDA version the driver supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
}

impl Provenance {
    /// aifbench's own version and build; the rest is filled in by the probes.
    pub fn of_this_build() -> Self {
        Self {
            aifbench_version: env!("CARGO_PKG_VERSION").to_string(),
            build_commit: BUILD_COMMIT.to_string(),
            build_dirty: build_dirty(),
            resolved_benchmark: RESOLVED_BENCHMARK.to_string(),
            ..Self::default()
        }
    }

    /// The short form the status carries.
    pub fn summary(&self) -> ProvenanceSummary {
        ProvenanceSummary {
            aifbench_version: self.aifbench_version.clone(),
            build_commit: self.build_commit.clone(),
            servers: self
                .servers
                .iter()
                .map(|s| ServerSummary {
                    id: s.id.clone(),
                    version: s.version.clone(),
                    models: s.models.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// `/version`'s answer: vLLM and the simulator send `{"version": "..."}`.
pub fn parse_version(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match v.get("version")? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `/v1/models`' model ids (`{"data": [{"id": ...}]}`).
pub fn parse_models(body: &str) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let data = v.get("data")?.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
            .collect(),
    )
}

/// `sinfo --version` / `scontrol version`: "slurm 23.11.4" -> "23.11.4".
pub fn parse_slurm_version(out: &str) -> Option<String> {
    let line = out.lines().find(|l| !l.trim().is_empty())?.trim();
    let v = line
        .strip_prefix("slurm-wlm ")
        .or_else(|| line.strip_prefix("slurm "))
        .unwrap_or(line)
        .trim();
    (!v.is_empty() && v.chars().next().is_some_and(|c| c.is_ascii_digit())).then(|| v.to_string())
}

/// `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`
/// lines, and the CUDA version from `nvidia-smi`'s banner when given. No
/// GPU listed: None.
pub fn parse_gpus(query_csv: &str, banner: Option<&str>) -> Option<GpuInventory> {
    let mut count = 0;
    let mut models: Vec<String> = Vec::new();
    let mut driver = None;
    for line in query_csv.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split(',').map(str::trim);
        let name = fields.next().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        count += 1;
        if !models.iter().any(|m| m == name) {
            models.push(name.to_string());
        }
        if driver.is_none() {
            driver = fields.next().filter(|d| !d.is_empty()).map(str::to_string);
        }
    }
    (count > 0).then(|| GpuInventory {
        count,
        models,
        driver_version: driver,
        cuda_version: banner.and_then(cuda_from_banner),
    })
}

/// "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |"
fn cuda_from_banner(banner: &str) -> Option<String> {
    let rest = &banner[banner.find("CUDA Version:")? + "CUDA Version:".len()..];
    let v: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The Benchmark as run, in a form that reruns it and carries no secret:
/// every `$` is written `$$` (the file is expanded again when loaded), the
/// value of an `env` entry whose name looks secret (token, key, password,
/// ...) becomes a `${NAME}` reference, taken from the environment again on
/// rerun, and any value of a secret-named variable of `driver_env` left
/// elsewhere (an argument) is replaced by `***`.
pub fn resolved_benchmark(
    b: &Benchmark,
    driver_env: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut b = b.clone();
    b.status = None;
    let mut v = serde_json::to_value(&b).map_err(|e| e.to_string())?;
    let redactor = Redactor::from_vars(driver_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    escape_and_reference(&mut v, None, &redactor);
    let yaml = serde_norway::to_string(&v).map_err(|e| e.to_string())?;
    let mut out = String::from(
        "# The Benchmark as this run resolved it (${VAR} expanded; secret-named env values are\n\
         # ${NAME} references again). Rerun: aifbench run benchmark.resolved.yaml\n",
    );
    out.push_str(&yaml);
    Ok(out)
}

fn escape_and_reference(v: &mut serde_json::Value, key: Option<&str>, redactor: &Redactor) {
    match v {
        serde_json::Value::String(s) => *s = redactor.redact(s).replace('$', "$$"),
        serde_json::Value::Array(a) => a
            .iter_mut()
            .for_each(|x| escape_and_reference(x, None, redactor)),
        serde_json::Value::Object(m) => {
            let is_env = key == Some("env");
            for (k, x) in m.iter_mut() {
                if is_env && x.is_string() && looks_secret(k) {
                    *x = serde_json::Value::String(format!("${{{k}}}"));
                } else {
                    escape_and_reference(x, Some(k), redactor);
                }
            }
        }
        _ => {}
    }
}

/// The provenance recorded in a results folder's `environment.json`, if any.
pub fn read_provenance(dir: &super::ResultsDir) -> Option<Provenance> {
    let text = std::fs::read_to_string(dir.environment_json()).ok()?;
    let env: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(env.get("provenance")?.clone()).ok()
}

/// The "Provenance" section of `report.md`.
pub fn markdown(p: &Provenance) -> String {
    let mut md = String::from("\n## Provenance\n\n");
    let dirty = match p.build_dirty {
        Some(true) => " (uncommitted changes)",
        _ => "",
    };
    let _ = writeln!(
        md,
        "aifbench {} built from `{}`{dirty}. Rerun: `aifbench run {}`.\n",
        p.aifbench_version, p.build_commit, p.resolved_benchmark
    );
    if !p.servers.is_empty() {
        md.push_str("| service | server version | models |\n|---|---|---|\n");
        for s in &p.servers {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                s.id,
                s.version.as_deref().unwrap_or("-"),
                s.models.as_ref().map_or("-".into(), |m| m.join(", "))
            );
        }
    }
    if let Some(slurm) = &p.slurm {
        let _ = writeln!(
            md,
            "\nSlurm {}.\n\n| component | job | node | partition |\n|---|---|---|---|",
            slurm.version.as_deref().unwrap_or("(version unknown)")
        );
        for j in &slurm.jobs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                j.component,
                j.job_id.as_deref().unwrap_or("-"),
                j.node.as_deref().unwrap_or("-"),
                j.partition.as_deref().unwrap_or("-")
            );
        }
    }
    if !p.images.is_empty() {
        md.push_str("\n| component | image | sha256 / digest |\n|---|---|---|\n");
        for i in &p.images {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                i.component,
                i.image,
                i.sha256.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(g) = &p.gpus {
        let _ = writeln!(
            md,
            "\nGPUs: {} x {} (driver {}, CUDA {}).",
            g.count,
            g.models.join(" / "),
            g.driver_version.as_deref().unwrap_or("?"),
            g.cuda_version.as_deref().unwrap_or("?")
        );
    }
    md
}

#[cfg(test)]
#[path = "provenance_tests.rs"]
mod tests;
