//! The probes behind the provenance (`provenance` has the types and the
//! pure readers): a service's `/version` and `/v1/models`, asked once when
//! it is healthy; the Slurm version (`sinfo --version` where the Slurm
//! commands run); the SHA-256 of a local image file (streamed); the GPUs of
//! `nvidia-smi`. Nothing here fails a run: what cannot be asked is absent.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

use super::provenance::{
    GpuInventory, ImageInfo, Provenance, ServerInfo, SlurmInfo, SlurmJob, parse_gpus, parse_models,
    parse_slurm_version,
};
use crate::api::spec::BenchmarkSpec;
use crate::api::status::{BenchmarkStatus, ComponentKind};
use crate::backend::slurm::TransportConfig;
use crate::backend::slurm::cli::{CliTransport, Runner};

/// What a driver knows at the end of a run that the provenance records.
pub struct RunFacts<'a> {
    /// The spec that ran.
    pub spec: &'a BenchmarkSpec,
    /// Its final status (components with job ids and nodes).
    pub status: &'a BenchmarkStatus,
    /// How Slurm was reached (its version is asked there).
    pub slurm: &'a TransportConfig,
}

/// Fills in everything but the servers (collected by [`ServerProbes`]):
/// Slurm (version, and per Slurm component its job id, node and the
/// partition the spec asked for), the Apptainer images with their
/// SHA-256, and the driver host's GPUs.
pub async fn gather(p: &mut Provenance, facts: &RunFacts<'_>) {
    let spec = facts.spec;
    let partition_of = |kind: ComponentKind, id: &str| -> Option<String> {
        let slurm = match kind {
            ComponentKind::Service => spec.services.iter().find(|s| s.id == id)?.slurm.as_ref(),
            ComponentKind::Client => spec
                .clients
                .iter()
                .find(|c| {
                    id == c.id
                        || id
                            .strip_prefix(c.id.as_str())
                            .is_some_and(|r| r.starts_with('-'))
                })?
                .slurm
                .as_ref(),
            _ => None,
        };
        slurm?.partition.clone()
    };
    let jobs: Vec<SlurmJob> = facts
        .status
        .components
        .iter()
        .filter(|c| c.job_id.is_some())
        .map(|c| SlurmJob {
            component: c.id.clone(),
            job_id: c.job_id.clone(),
            node: c.node.clone(),
            partition: partition_of(c.kind, &c.id),
        })
        .collect();
    if !jobs.is_empty() {
        p.slurm = Some(SlurmInfo {
            version: slurm_version(facts.slurm).await,
            jobs,
        });
    }
    let containers = spec
        .services
        .iter()
        .map(|s| (&s.id, s.apptainer.as_ref()))
        .chain(spec.clients.iter().map(|c| (&c.id, c.apptainer.as_ref())));
    let mut hashed: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (id, apptainer) in containers {
        let Some(a) = apptainer else { continue };
        let sha256 = match hashed.get(&a.image) {
            Some(h) => h.clone(),
            None => {
                let h = image_sha256(&a.image).await;
                hashed.insert(a.image.clone(), h.clone());
                h
            }
        };
        p.images.push(ImageInfo {
            component: id.clone(),
            image: a.image.clone(),
            sha256,
        });
    }
    p.gpus = gpu_inventory().await;
}

/// How long one provenance request or command may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks a server for its version and models: `GET {base}/version` and
/// `GET {base}/v1/models`. A missing endpoint, an error status or a body
/// that is not the expected JSON leaves that field absent.
pub async fn probe_server(http: &reqwest::Client, id: &str, base_url: &str) -> ServerInfo {
    let base = base_url.trim_end_matches('/');
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let resp = http.get(&url).timeout(PROBE_TIMEOUT).send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            resp.text().await.ok()
        }
    };
    let (version, models) = tokio::join!(get("/version"), get("/v1/models"));
    let info = ServerInfo {
        id: id.to_string(),
        url: base.to_string(),
        version: version
            .as_deref()
            .and_then(super::provenance::parse_version),
        models: models.as_deref().and_then(parse_models),
    };
    tracing::debug!(service = %id, version = ?info.version, models = ?info.models, "server provenance");
    info
}

/// The probes of one run's services, each started once (when the service
/// is first healthy) and collected at the end.
#[derive(Debug, Default)]
pub struct ServerProbes {
    started: BTreeSet<String>,
    found: Arc<Mutex<BTreeMap<String, ServerInfo>>>,
    pending: Vec<JoinHandle<()>>,
}

impl ServerProbes {
    /// Starts probing service `id` at `base_url`, unless already started.
    pub fn probe_once(&mut self, http: &reqwest::Client, id: &str, base_url: String) {
        if !self.started.insert(id.to_string()) {
            return;
        }
        let (http, id, found) = (http.clone(), id.to_string(), self.found.clone());
        self.pending.push(tokio::spawn(async move {
            let info = probe_server(&http, &id, &base_url).await;
            found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id, info);
        }));
    }

    /// Waits for the probes still running (each bounded by
    /// [`PROBE_TIMEOUT`]) and returns what every probed service answered,
    /// by id.
    pub async fn collect(&mut self) -> Vec<ServerInfo> {
        for handle in self.pending.drain(..) {
            if let Err(e) = handle.await {
                tracing::debug!(error = %e, "a provenance probe did not finish");
            }
        }
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// The Slurm version where the Slurm commands run (`sinfo --version`, here
/// or on the login node over SSH). slurmrestd: not asked (absent).
pub async fn slurm_version(transport: &TransportConfig) -> Option<String> {
    let runner = match transport {
        TransportConfig::Cli => Runner::Local,
        TransportConfig::Ssh(c) => Runner::Ssh(c.clone()),
        TransportConfig::Rest(_) => return None,
    };
    let cli = CliTransport { runner };
    let argv = ["sinfo".to_string(), "--version".to_string()];
    match tokio::time::timeout(PROBE_TIMEOUT, cli.run_command(&argv)).await {
        Ok(Ok(out)) => parse_slurm_version(&out),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot ask Slurm for its version");
            None
        }
        Err(_) => None,
    }
}

/// The SHA-256 of a file, hex, read in 1 MiB blocks (images are large).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// An Apptainer image's SHA-256, when it is a local file this host can read
/// (`docker://` and other references: None), hashed off the async threads.
pub async fn image_sha256(image: &str) -> Option<String> {
    if image.contains("://") {
        return None;
    }
    let path = std::path::PathBuf::from(image);
    if !path.is_file() {
        return None;
    }
    match tokio::task::spawn_blocking(move || sha256_file(&path)).await {
        Ok(Ok(hex)) => Some(hex),
        Ok(Err(e)) => {
            tracing::debug!(image = %image, error = %e, "cannot hash the image");
            None
        }
        Err(_) => None,
    }
}

/// The driver host's GPUs, when `nvidia-smi` exists and lists any.
pub async fn gpu_inventory() -> Option<GpuInventory> {
    let run = |args: &'static [&'static str]| async move {
        let out = tokio::time::timeout(
            PROBE_TIMEOUT,
            tokio::process::Command::new("nvidia-smi")
                .args(args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .ok()?
        .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let query = run(&["--query-gpu=name,driver_version", "--format=csv,noheader"]).await?;
    let banner = run(&[]).await;
    parse_gpus(&query, banner.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_file_like_sha256sum() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("img.sif");
        std::fs::write(&path, b"abc").expect("write");
        assert_eq!(
            sha256_file(&path).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn the_simulator_names_its_version_and_model_and_absent_endpoints_stay_absent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::sim::serve(
            listener,
            crate::sim::SimConfig::default(),
            async {
                let _ = rx.await;
            },
        ));
        let http = crate::tls::client();
        let info = probe_server(&http, "sim", &base).await;
        assert_eq!(
            info.version.as_deref(),
            Some(concat!("aifbench-sim ", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(info.models, Some(vec!["sim-model".to_string()]));
        // A path prefix where neither endpoint exists: both absent, no error.
        let none = probe_server(&http, "x", &format!("{base}/nothing")).await;
        assert_eq!((none.version, none.models), (None, None));
        let mut probes = ServerProbes::default();
        probes.probe_once(&http, "sim", base.clone());
        probes.probe_once(&http, "sim", "http://127.0.0.1:1".to_string());
        let servers = probes.collect().await;
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].url, base);
        let _ = tx.send(());
        server.await.expect("join").expect("serve");
    }

    #[tokio::test]
    async fn references_and_missing_files_have_no_hash() {
        assert_eq!(image_sha256("docker://vllm/vllm-openai:latest").await, None);
        assert_eq!(image_sha256("/nonexistent/image.sif").await, None);
    }
}
