//! What `aifbench run` hands its backends: each component's command line,
//! environment, files and settings as a [`LaunchRequest`], with templates
//! (`{{port}}`, `{{services.ID.url}}`) filled in from the ports planned at
//! start and the endpoints discovered since. Pure apart from reading the
//! driver's own environment (PATH, bearer token variables).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::spec::{ClientSpec, MonitorSpec, ServiceSpec, SlurmSpec};
use crate::api::status::{ClientProgress, ComponentKind};
use crate::api::template::{self, RunValues};
use crate::backend::{LaunchRequest, LineHook, ReadyCheck};
use crate::monitor::scrape::ScrapeTarget;
use crate::results::ResultsDir;
use crate::workload::loadgen::{LoadgenConfig, ProgressEvent};

/// Where every service can be reached: ports planned at start (port 0
/// picked free), hosts learned once a backend placed the service.
#[derive(Clone, Debug, Default)]
pub(super) struct Endpoints {
    /// service id -> port name -> port, in declaration order.
    pub ports: BTreeMap<String, Vec<(String, u16)>>,
    /// service id -> host others reach it at (a Slurm service: its node).
    pub hosts: BTreeMap<String, String>,
}

impl Endpoints {
    /// The host others reach a service at: its node once known, loopback
    /// otherwise.
    pub fn host_of(&self, service: &str) -> String {
        self.hosts
            .get(service)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".to_string())
    }

    /// A service's port `name` (or its first port).
    pub fn port(&self, service: &str, name: Option<&str>) -> Option<u16> {
        let ports = self.ports.get(service)?;
        match name {
            Some(n) => ports.iter().find(|(p, _)| p == n),
            None => ports.first(),
        }
        .map(|(_, p)| *p)
    }

    /// Records where a backend placed a service (and the port it reported).
    pub fn place(&mut self, service: &str, host: String, port: Option<u16>) {
        if let (Some(port), Some(list)) = (port, self.ports.get_mut(service))
            && let Some(first) = list.first_mut()
        {
            first.1 = port;
        }
        self.hosts.insert(service.to_string(), host);
    }

    /// A service's base URL (`http://host:port`), when it has a port.
    pub fn url(&self, service: &str) -> Option<String> {
        self.port(service, None)
            .map(|p| format!("http://{}:{p}", self.host_of(service)))
    }
}

/// Builds the launch requests of one run.
pub(super) struct Requests<'a> {
    pub dir: &'a ResultsDir,
    pub exe: &'a Path,
    pub endpoints: &'a Endpoints,
    pub grace: std::time::Duration,
}

impl Requests<'_> {
    /// Template values every component can use.
    fn shared_values(&self) -> BTreeMap<String, String> {
        let mut v = RunValues::new(&self.dir.root.display().to_string());
        for id in self.endpoints.ports.keys() {
            if let Some(url) = self.endpoints.url(id) {
                v.set_service(id, &url);
            }
        }
        v.into_map()
    }

    fn component_env(
        &self,
        extra: &BTreeMap<String, String>,
        values: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut env = BTreeMap::new();
        if let Some(bin_dir) = self.exe.parent() {
            let path = std::env::var("PATH").unwrap_or_default();
            env.insert("PATH".to_string(), format!("{}:{path}", bin_dir.display()));
        }
        env.insert(
            "AIFB_RESULTS_DIR".to_string(),
            self.dir.root.display().to_string(),
        );
        for (k, val) in extra {
            let rendered = template::render(val, values).map_err(|e| format!("env {k}: {e}"))?;
            env.insert(k.clone(), rendered);
        }
        Ok(env)
    }

    /// A service: its command (templates filled in with its ports), its
    /// environment, working directory, port and health check.
    pub fn service(&self, s: &ServiceSpec) -> Result<LaunchRequest, String> {
        let mut values = self.shared_values();
        values.insert("id".to_string(), s.id.clone());
        let ports = self.endpoints.ports.get(&s.id).cloned().unwrap_or_default();
        if let Some((_, port)) = ports.first() {
            values.insert("port".to_string(), port.to_string());
        }
        for (name, port) in &ports {
            values.insert(format!("ports.{name}"), port.to_string());
        }
        let argv: Vec<String> = match &s.shell {
            Some(sh) => vec![
                "sh".to_string(),
                "-c".to_string(),
                template::render(sh, &values).map_err(|e| e.to_string())?,
            ],
            None => s
                .command
                .iter()
                .map(|a| template::render(a, &values))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        };
        let port = ports.first().map(|(_, p)| *p);
        Ok(LaunchRequest {
            id: s.id.clone(),
            kind: ComponentKind::Service,
            argv,
            env: self.component_env(&s.env, &values)?,
            working_dir: s
                .working_dir
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_else(|| self.dir.root.clone()),
            log_path: self.dir.component_log(&s.id),
            endpoint: port.map(|p| format!("http://127.0.0.1:{p}")),
            slurm: s.slurm.clone(),
            apptainer: s.apptainer.clone(),
            port,
            ready_check: s.healthcheck.as_ref().map(|h| ReadyCheck {
                path: h.path.clone(),
                interval: h.interval.get(),
            }),
            stop_grace: self.grace,
            ..Default::default()
        })
    }

    /// The base URL a client sends to: its `endpoint`, or its target
    /// service's.
    pub fn client_base_url(&self, c: &ClientSpec) -> Result<String, String> {
        if let Some(e) = &c.endpoint {
            return Ok(e.trim_end_matches('/').to_string());
        }
        let target = c
            .target
            .as_deref()
            .ok_or("client has neither target nor endpoint")?;
        if !self.endpoints.ports.contains_key(target) {
            return Err(format!("unknown target service {target}"));
        }
        let port = self
            .endpoints
            .port(target, c.target_port.as_deref())
            .ok_or_else(|| format!("service {target} has no such port"))?;
        Ok(format!("http://{}:{port}", self.endpoints.host_of(target)))
    }

    /// Client instance `id`: `aifbench loadgen` with its configuration
    /// carried as a file of the request (so a backend whose jobs cannot see
    /// the results folder writes it where the job runs), its summary
    /// reported back.
    pub fn client(
        &self,
        spec: &crate::api::spec::BenchmarkSpec,
        c: &ClientSpec,
        id: &str,
    ) -> Result<LaunchRequest, String> {
        let base_url = self.client_base_url(c)?;
        let config = LoadgenConfig::for_client(spec, c, id, base_url.clone());
        let config_json = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
        let config_path = self.dir.client_config(id);
        let summary = self.dir.clients().join(format!("{id}.summary.json"));
        let mut argv = vec![
            self.exe.display().to_string(),
            "loadgen".to_string(),
            "--config".to_string(),
            config_path.display().to_string(),
            "--output".to_string(),
            self.dir.client_result(id).display().to_string(),
            "--summary-file".to_string(),
            summary.display().to_string(),
        ];
        if c.record_requests {
            argv.push("--requests".to_string());
            let path = self.dir.clients().join(format!("{id}.requests.jsonl"));
            argv.push(path.display().to_string());
        }
        let mut values = self.shared_values();
        values.insert("id".to_string(), id.to_string());
        Ok(LaunchRequest {
            id: id.to_string(),
            kind: ComponentKind::Client,
            argv,
            env: self.component_env(&c.env, &values)?,
            working_dir: self.dir.root.clone(),
            log_path: self.dir.component_log(id),
            endpoint: Some(base_url),
            progress_hook: Some(progress_hook()),
            files: vec![(config_path, config_json)],
            slurm: c.slurm.clone(),
            apptainer: c.apptainer.clone(),
            summary_file: Some(summary),
            stop_grace: self.grace,
            ..Default::default()
        })
    }

    /// Where monitor `m` scrapes each target (see
    /// [`crate::monitor::targets`]), at the services' planned or reported
    /// endpoints.
    pub fn monitor_targets(
        &self,
        m: &MonitorSpec,
        services: &[ServiceSpec],
    ) -> Result<Vec<ScrapeTarget>, String> {
        crate::monitor::targets::scrape_targets(m, services, |s, port| {
            let p = self.endpoints.port(&s.id, port)?;
            Some(format!("http://{}:{p}", self.endpoints.host_of(&s.id)))
        })
    }

    /// A monitor run next to the services it scrapes (where the driver
    /// cannot reach them): `aifbench scrape` appending to
    /// `metrics/<id>.*.jsonl` until stopped, with a small share of the
    /// scraped service's Slurm settings.
    pub fn monitor_job(
        &self,
        m: &MonitorSpec,
        services: &[ServiceSpec],
        service_slurm: Option<&SlurmSpec>,
    ) -> Result<LaunchRequest, String> {
        if m.bearer_token_env.is_some() {
            return Err(format!(
                "monitor {}: bearerTokenEnv cannot be passed into a Slurm job without writing the token into its script; use bearerTokenFile on the shared filesystem",
                m.id
            ));
        }
        let mut argv = vec![
            self.exe.display().to_string(),
            "scrape".to_string(),
            "--count".to_string(),
            "0".to_string(),
            "--interval".to_string(),
            m.interval.to_string(),
            "--timeout".to_string(),
            m.timeout.to_string(),
            "--out-dir".to_string(),
            self.dir.metrics().display().to_string(),
            "--id".to_string(),
            m.id.clone(),
        ];
        if let Some(f) = &m.bearer_token_file {
            argv.push("--bearer-token-file".to_string());
            argv.push(f.clone());
        }
        argv.extend(
            self.monitor_targets(m, services)?
                .into_iter()
                .map(|t| t.url),
        );
        let values = self.shared_values();
        Ok(LaunchRequest {
            id: m.id.clone(),
            kind: ComponentKind::Monitor,
            argv,
            env: self.component_env(&BTreeMap::new(), &values)?,
            working_dir: self.dir.root.clone(),
            log_path: self.dir.component_log(&m.id),
            slurm: service_slurm.map(|s| SlurmSpec {
                partition: s.partition.clone(),
                account: s.account.clone(),
                qos: s.qos.clone(),
                reservation: s.reservation.clone(),
                time: s.time,
                ntasks: Some(1),
                cpus_per_task: Some(1),
                ..Default::default()
            }),
            stop_grace: self.grace,
            ..Default::default()
        })
    }
}

/// Reads `aifbench loadgen`'s progress lines.
fn progress_hook() -> LineHook {
    Arc::new(
        |line: &str| match serde_json::from_str::<ProgressEvent>(line) {
            Ok(ProgressEvent::Progress {
                requests,
                errors,
                elapsed_s,
                ..
            }) => Some(ClientProgress {
                requests,
                errors,
                elapsed_seconds: elapsed_s,
            }),
            _ => None,
        },
    )
}

/// A monitor's bearer token, from the environment or a file.
pub(super) fn bearer_token(m: &MonitorSpec) -> Result<Option<String>, String> {
    if let Some(var) = &m.bearer_token_env {
        return std::env::var(var).map(Some).map_err(|_| {
            format!(
                "monitor {}: environment variable {var} (bearerTokenEnv) is not set",
                m.id
            )
        });
    }
    if let Some(file) = &m.bearer_token_file {
        return std::fs::read_to_string(file)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| format!("monitor {}: cannot read bearerTokenFile {file}: {e}", m.id));
    }
    Ok(None)
}

/// Reserves a free loopback port by binding port 0 and releasing it.
pub(super) fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
