//! The slurmrestd transport: JWT over HTTP(S), or a unix socket with local
//! authentication. The OpenAPI version is decided by what the server
//! answers (newest first: v0.0.43 .. v0.0.40, then v0.0.38); the request
//! bodies for each are built by pure functions, tested without a server.
//!
//! slurmrestd does not read `#SBATCH` lines: the settings travel as fields
//! of the job description, the script is sent along unchanged. A
//! heterogeneous job is a list of descriptions (`jobs`), one per het group.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::SlurmError;
use super::accounting::parse_slurmdb_job;
use super::render::{JobRequest, slurm_minutes};
use super::state::{JobInfo, parse_jobs, rest_errors, submitted_job_id};

/// A supported slurmrestd OpenAPI version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// Slurm 22.05 (`job_state` a string, plain numbers).
    V0038,
    /// Slurm 23.11 (`{set, infinite, number}` numbers, state lists).
    V0040,
    /// Slurm 24.05.
    V0041,
    /// Slurm 24.11.
    V0042,
    /// Slurm 25.05.
    V0043,
}

impl ApiVersion {
    /// Tried in this order.
    pub const PREFERENCE: [ApiVersion; 5] = [
        ApiVersion::V0043,
        ApiVersion::V0042,
        ApiVersion::V0041,
        ApiVersion::V0040,
        ApiVersion::V0038,
    ];

    /// Path segment (`v0.0.38`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0038 => "v0.0.38",
            Self::V0040 => "v0.0.40",
            Self::V0041 => "v0.0.41",
            Self::V0042 => "v0.0.42",
            Self::V0043 => "v0.0.43",
        }
    }

    /// Parses `v0.0.41` / `0.0.41`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim_start_matches('v');
        Self::PREFERENCE
            .into_iter()
            .find(|v| v.as_str().trim_start_matches('v') == s)
    }
}

/// A token that never shows in logs or debug output.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to reach slurmrestd.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RestConfig {
    /// Base URL (`http://127.0.0.1:6820`), used with `token`; takes
    /// precedence over `socket`.
    pub url: Option<String>,
    /// Unix socket (local authentication; no token needed).
    pub socket: Option<PathBuf>,
    /// JWT (`X-SLURM-USER-TOKEN`).
    pub token: Option<Secret>,
    /// User name (`X-SLURM-USER-NAME`), when the token is not user-bound.
    pub user: Option<String>,
    /// Force an API version instead of asking the server.
    pub version: Option<ApiVersion>,
}

/// Parses a memory size (`64G`, `512M`, `1T`, plain = MB) into megabytes.
pub fn memory_mb(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let mult = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" | "M" => 1,
        "K" => return Some(n.div_ceil(1024)),
        "G" => 1024,
        "T" => 1024 * 1024,
        _ => return None,
    };
    Some(n * mult)
}

fn set_number(n: u64) -> Value {
    json!({"set": true, "infinite": false, "number": n})
}

/// The environment a REST job gets (it inherits nothing): the request's
/// variables plus PATH/HOME/USER/LANG of the driver when not given.
pub fn job_environment(req: &JobRequest) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for k in ["PATH", "HOME", "USER", "LANG"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.to_string(), v);
        }
    }
    env.entry("PATH".to_string())
        .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    for (k, v) in &req.env {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// One job description for `version` (without the script), and the
/// settings slurmrestd cannot take (extra directives, a memory size it
/// cannot read).
fn job_description(
    req: &JobRequest,
    env: &BTreeMap<String, String>,
    version: ApiVersion,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let s = &req.slurm;
    let mut ignored = Vec::new();
    let mut job = serde_json::Map::new();
    let new = version != ApiVersion::V0038;
    job.insert("name".into(), json!(req.name));
    job.insert(
        "current_working_directory".into(),
        json!(req.working_dir.display().to_string()),
    );
    job.insert(
        "standard_output".into(),
        json!(req.stdout_path().display().to_string()),
    );
    job.insert(
        "standard_error".into(),
        json!(req.stderr_path().display().to_string()),
    );
    for (k, v) in [
        ("partition", &s.partition),
        ("account", &s.account),
        ("qos", &s.qos),
        ("reservation", &s.reservation),
        ("constraints", &s.constraint),
    ] {
        if let Some(v) = v {
            job.insert(k.into(), json!(v));
        }
    }
    if let Some(n) = s.nodes {
        if new {
            job.insert("minimum_nodes".into(), json!(n));
            job.insert("maximum_nodes".into(), json!(n));
        } else {
            job.insert("nodes".into(), json!(n));
        }
    }
    if let Some(n) = s.ntasks {
        job.insert("tasks".into(), json!(n));
    }
    if let Some(n) = s.cpus_per_task {
        job.insert("cpus_per_task".into(), json!(n));
    }
    if let Some(m) = &s.mem {
        match memory_mb(m) {
            Some(mb) if new => {
                job.insert("memory_per_node".into(), set_number(mb));
            }
            Some(mb) => {
                job.insert("memory_per_node".into(), json!(mb));
            }
            None => ignored.push(format!("mem={m} (not a size)")),
        }
    }
    if let Some(t) = s.time {
        let minutes = slurm_minutes(t.get());
        job.insert(
            "time_limit".into(),
            if new {
                set_number(minutes)
            } else {
                json!(minutes)
            },
        );
    }
    if let Some(g) = &s.gpus {
        job.insert("tres_per_job".into(), json!(format!("gres/gpu:{g}")));
    }
    if let Some(g) = &s.gres {
        if new {
            job.insert("tres_per_node".into(), json!(format!("gres/{g}")));
        } else {
            // slurmrestd 22.05 refuses "tres_per_node" (`Unknown key`) and
            // takes sbatch's own `--gres` value.
            job.insert("gres".into(), json!(g));
        }
    }
    if s.exclusive {
        if new {
            job.insert("shared".into(), json!(["none"]));
        } else {
            // slurmrestd 22.05 parses it as `--exclusive=<value>`: "true"
            // is refused ("Invalid exclusive specification"); "exclusive"
            // is plain `--exclusive` (OverSubscribe=NO, whole nodes).
            job.insert("exclusive".into(), json!("exclusive"));
        }
    }
    for d in &s.extra_directives {
        ignored.push(d.clone());
    }
    if new {
        let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        job.insert("environment".into(), json!(list));
    } else {
        job.insert("environment".into(), json!(env));
    }
    (job, ignored)
}

/// The submit body for `version`. Unsupported settings (extra directives)
/// are reported back so the caller can warn.
pub fn submit_body(
    req: &JobRequest,
    script: &str,
    env: &BTreeMap<String, String>,
    version: ApiVersion,
) -> (Value, Vec<String>) {
    let (mut job, ignored) = job_description(req, env, version);
    if version != ApiVersion::V0038 {
        job.insert("script".into(), json!(script));
        (json!({ "job": Value::Object(job) }), ignored)
    } else {
        (
            json!({ "script": script, "job": Value::Object(job) }),
            ignored,
        )
    }
}

/// The submit body of a HETEROGENEOUS job for `version`: one job
/// description per het group in `jobs` (slurmrestd's list form), the
/// script with the first; output files only on the first (Slurm takes
/// them from there). Settings slurmrestd cannot take are reported back.
pub fn het_submit_body(
    parts: &[JobRequest],
    script: &str,
    env: &BTreeMap<String, String>,
    version: ApiVersion,
) -> (Value, Vec<String>) {
    let mut ignored = Vec::new();
    let mut jobs = Vec::new();
    for (i, req) in parts.iter().enumerate() {
        let (mut job, mut skipped) = job_description(req, env, version);
        ignored.append(&mut skipped);
        if i > 0 {
            job.remove("standard_output");
            job.remove("standard_error");
        } else if version != ApiVersion::V0038 {
            job.insert("script".into(), json!(script));
        }
        jobs.push(Value::Object(job));
    }
    if version != ApiVersion::V0038 {
        (json!({ "jobs": jobs }), ignored)
    } else {
        (json!({ "script": script, "jobs": jobs }), ignored)
    }
}

/// The REST transport.
#[derive(Debug)]
pub struct RestTransport {
    config: RestConfig,
    http: reqwest::Client,
    base: String,
    version: OnceCell<ApiVersion>,
}

impl RestTransport {
    /// A client for `config` (nothing is contacted yet).
    pub fn new(config: RestConfig) -> Result<Self, SlurmError> {
        let mut builder = crate::tls::client_builder().timeout(std::time::Duration::from_secs(30));
        let base = match (&config.url, &config.socket) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, Some(sock)) => {
                builder = builder.unix_socket(sock.clone());
                "http://slurmrestd".to_string()
            }
            (None, None) => {
                return Err(SlurmError::Config(
                    "the REST transport needs a URL or a unix socket".into(),
                ));
            }
        };
        let http = builder
            .build()
            .map_err(|e| SlurmError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            http,
            base,
            version: OnceCell::new(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.config.token {
            r = r.header("X-SLURM-USER-TOKEN", t.expose());
        }
        // Local authentication (unix socket) identifies the peer itself and
        // refuses user headers.
        if let (Some(u), Some(_)) = (&self.config.user, &self.config.token) {
            r = r.header("X-SLURM-USER-NAME", u);
        }
        r
    }

    async fn send(
        &self,
        r: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(u16, Value), SlurmError> {
        let resp = r
            .send()
            .await
            .map_err(|e| SlurmError::Rest(format!("{what}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| SlurmError::Rest(format!("{what}: {e}")))?;
        let doc = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
        Ok((status, doc))
    }

    /// The API version, asked once (ping with each version, newest first).
    pub async fn version(&self) -> Result<ApiVersion, SlurmError> {
        self.version
            .get_or_try_init(|| async {
                if let Some(v) = self.config.version {
                    return Ok(v);
                }
                let mut last = String::new();
                for v in ApiVersion::PREFERENCE {
                    let path = format!("/slurm/{}/ping", v.as_str());
                    match self
                        .send(self.request(reqwest::Method::GET, &path), "ping")
                        .await
                    {
                        Ok((200, _)) => {
                            tracing::info!(version = v.as_str(), "slurmrestd API version");
                            return Ok(v);
                        }
                        Ok((401 | 403, doc)) => {
                            return Err(SlurmError::Unauthorized(
                                rest_errors(&doc)
                                    .unwrap_or_else(|| "check the JWT and user".into()),
                            ));
                        }
                        // Slurm 22.05 answers a ping with an invalid or
                        // expired JWT with 500 ("slurmctld config is unable
                        // to load"): the server speaks this version but
                        // refused the caller.
                        Ok((500, doc)) if rest_errors(&doc).is_some() => {
                            return Err(SlurmError::Unauthorized(format!(
                                "{} answered 500: {} (an invalid or expired JWT, or slurmctld down)",
                                v.as_str(),
                                rest_errors(&doc).unwrap_or_default()
                            )));
                        }
                        Ok((code, _)) => last = format!("{} answered {code}", v.as_str()),
                        Err(e) => return Err(e),
                    }
                }
                Err(SlurmError::Rest(format!(
                    "slurmrestd speaks none of v0.0.38, v0.0.40..v0.0.43 (last: {last})"
                )))
            })
            .await
            .copied()
    }

    /// Submits a job.
    pub async fn submit(&self, req: &JobRequest, script: &str) -> Result<String, SlurmError> {
        let v = self.version().await?;
        let env = job_environment(req);
        let (body, ignored) = submit_body(req, script, &env, v);
        self.post_submit(&req.name, &body, &ignored, v).await
    }

    /// Submits a heterogeneous job: `parts` are its het groups (the first
    /// names the job and its output files), `script` runs in the first.
    /// The environment is `parts[0]`'s ([`job_environment`]) for every
    /// group.
    pub async fn submit_het(
        &self,
        parts: &[JobRequest],
        script: &str,
    ) -> Result<String, SlurmError> {
        let Some(first) = parts.first() else {
            return Err(SlurmError::Config(
                "a heterogeneous job without parts".into(),
            ));
        };
        let v = self.version().await?;
        let env = job_environment(first);
        let (body, ignored) = het_submit_body(parts, script, &env, v);
        self.post_submit(&first.name, &body, &ignored, v).await
    }

    /// Posts a submit `body` for job `name` (warning about the settings
    /// slurmrestd could not take); the job id, or slurmrestd's errors.
    async fn post_submit(
        &self,
        name: &str,
        body: &Value,
        ignored: &[String],
        v: ApiVersion,
    ) -> Result<String, SlurmError> {
        if !ignored.is_empty() {
            tracing::warn!(job = %name, ignored = ?ignored, "settings slurmrestd cannot take were ignored");
        }
        let path = format!("/slurm/{}/job/submit", v.as_str());
        let (status, doc) = self
            .send(
                self.request(reqwest::Method::POST, &path).json(body),
                "submit",
            )
            .await?;
        if let Some(id) = submitted_job_id(&doc).filter(|_| status < 300) {
            return Ok(id);
        }
        Err(SlurmError::Submit(
            rest_errors(&doc).unwrap_or_else(|| format!("slurmrestd answered {status}")),
        ))
    }

    /// All jobs the controller still knows.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, SlurmError> {
        let v = self.version().await?;
        let path = format!("/slurm/{}/jobs", v.as_str());
        let (status, doc) = self
            .send(self.request(reqwest::Method::GET, &path), "jobs")
            .await?;
        if status == 401 || status == 403 {
            return Err(SlurmError::Unauthorized(format!(
                "listing jobs: {}",
                rest_errors(&doc).unwrap_or_else(|| format!("status {status}"))
            )));
        }
        if status >= 300 {
            return Err(SlurmError::Rest(format!(
                "listing jobs: {}",
                rest_errors(&doc).unwrap_or_else(|| format!("status {status}"))
            )));
        }
        parse_jobs(&doc).map_err(|e| SlurmError::Parse(e.to_string()))
    }

    /// A job's final state from accounting (slurmrestd's slurmdb endpoint,
    /// `/slurmdb/<version>/job/<id>`, served when slurmrestd runs the
    /// `openapi/dbv0.0.38` or `openapi/slurmdbd` plugin), for a job the
    /// controller no longer lists; None when accounting has no record of
    /// it.
    pub async fn accounted(&self, job_id: &str) -> Result<Option<JobInfo>, SlurmError> {
        let v = self.version().await?;
        let path = format!("/slurmdb/{}/job/{job_id}", v.as_str());
        let (status, doc) = self
            .send(self.request(reqwest::Method::GET, &path), "accounting")
            .await?;
        if let Some(j) = parse_slurmdb_job(&doc, job_id) {
            return Ok(Some(j));
        }
        match status {
            401 | 403 => Err(SlurmError::Unauthorized(format!(
                "reading accounting: {}",
                rest_errors(&doc).unwrap_or_else(|| format!("status {status}"))
            ))),
            // slurmrestd without a slurmdb plugin: no such path.
            404 => Err(SlurmError::Rest(format!(
                "{path} answered 404 (is slurmrestd serving the slurmdb plugin?)"
            ))),
            _ => Ok(None),
        }
    }

    /// Cancels jobs (DELETE per job).
    pub async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        self.delete(ids, "").await
    }

    /// Sends SIGTERM to the jobs without cancelling them (DELETE with
    /// `?signal=SIGTERM`; the batch script gets it too).
    pub async fn terminate(&self, ids: &[String]) -> Result<(), SlurmError> {
        self.delete(ids, "?signal=SIGTERM").await
    }

    async fn delete(&self, ids: &[String], query: &str) -> Result<(), SlurmError> {
        let v = self.version().await?;
        let mut errors = Vec::new();
        for id in ids {
            let path = format!("/slurm/{}/job/{id}{query}", v.as_str());
            let (status, doc) = self
                .send(self.request(reqwest::Method::DELETE, &path), "cancel")
                .await?;
            if status >= 300 {
                errors.push(format!(
                    "{id}: {}",
                    rest_errors(&doc).unwrap_or_else(|| format!("status {status}"))
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SlurmError::Rest(format!("cancel: {}", errors.join("; "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::duration::Duration;
    use crate::api::spec::SlurmSpec;

    fn req() -> JobRequest {
        JobRequest {
            name: "aifb-b-r-svc".into(),
            component: "svc".into(),
            slurm: SlurmSpec {
                partition: Some("gpu".into()),
                nodes: Some(1),
                cpus_per_task: Some(4),
                mem: Some("2G".into()),
                time: Some(Duration::from_secs(90)),
                gres: Some("gpu:a100:1".into()),
                extra_directives: vec!["--mail-type=END".into()],
                ..Default::default()
            },
            argv: vec!["x".into()],
            working_dir: "/w".into(),
            log_dir: "/w/slurm_logs".into(),
            ..Default::default()
        }
    }

    #[test]
    fn v38_body() {
        let env = BTreeMap::from([("PATH".to_string(), "/bin".to_string())]);
        let (b, ignored) = submit_body(&req(), "#!/bin/bash\nx\n", &env, ApiVersion::V0038);
        assert_eq!(
            b,
            json!({"script": "#!/bin/bash\nx\n", "job": {
                "name": "aifb-b-r-svc", "current_working_directory": "/w",
                "standard_output": "/w/slurm_logs/svc-%j.out", "standard_error": "/w/slurm_logs/svc-%j.err",
                "partition": "gpu", "nodes": 1, "cpus_per_task": 4, "memory_per_node": 2048,
                "time_limit": 2, "gres": "gpu:a100:1", "environment": {"PATH": "/bin"}}})
        );
        assert_eq!(ignored, ["--mail-type=END"]);
        let whole = JobRequest {
            slurm: SlurmSpec {
                exclusive: true,
                ..Default::default()
            },
            ..req()
        };
        let (b, _) = submit_body(&whole, "S", &env, ApiVersion::V0038);
        assert_eq!(b["job"]["exclusive"], "exclusive");
        let (b, _) = submit_body(&whole, "S", &env, ApiVersion::V0043);
        assert_eq!(b["job"]["shared"], json!(["none"]));
    }

    #[test]
    fn v43_body() {
        let env = BTreeMap::from([("A".to_string(), "b c".to_string())]);
        let (b, _) = submit_body(&req(), "S", &env, ApiVersion::V0043);
        let job = &b["job"];
        assert_eq!(job["script"], "S");
        assert_eq!(job["environment"], json!(["A=b c"]));
        assert_eq!(
            job["time_limit"],
            json!({"set": true, "infinite": false, "number": 2})
        );
        assert_eq!(job["memory_per_node"]["number"], 2048);
        assert_eq!(job["minimum_nodes"], 1);
        assert!(b.get("script").is_none());
    }

    #[test]
    fn a_het_job_is_a_list_of_descriptions_the_first_with_the_outputs() {
        let env = BTreeMap::from([("PATH".to_string(), "/bin".to_string())]);
        let second = JobRequest {
            slurm: SlurmSpec {
                partition: Some("cpu".into()),
                cpus_per_task: Some(2),
                ..Default::default()
            },
            ..req()
        };
        let (b, ignored) = het_submit_body(&[req(), second.clone()], "S", &env, ApiVersion::V0038);
        assert_eq!(b["script"], "S");
        let jobs = b["jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0]["partition"], "gpu");
        assert_eq!(jobs[0]["standard_output"], "/w/slurm_logs/svc-%j.out");
        assert_eq!(jobs[1]["partition"], "cpu");
        assert_eq!(jobs[1]["cpus_per_task"], 2);
        assert_eq!(jobs[1]["name"], "aifb-b-r-svc");
        assert!(jobs[1].get("standard_output").is_none());
        assert_eq!(jobs[1]["environment"], json!({"PATH": "/bin"}));
        assert_eq!(ignored, ["--mail-type=END"]);
        let (b, _) = het_submit_body(&[req(), second], "S", &env, ApiVersion::V0043);
        assert!(b.get("script").is_none());
        assert_eq!(b["jobs"][0]["script"], "S");
        assert!(b["jobs"][1].get("script").is_none());
    }

    #[test]
    fn versions_and_memory() {
        assert_eq!(ApiVersion::parse("v0.0.41"), Some(ApiVersion::V0041));
        assert_eq!(ApiVersion::parse("0.0.38"), Some(ApiVersion::V0038));
        assert_eq!(ApiVersion::parse("v0.0.39"), None);
        assert_eq!(memory_mb("64G"), Some(65536));
        assert_eq!(memory_mb("512M"), Some(512));
        assert_eq!(memory_mb("100"), Some(100));
        assert_eq!(memory_mb("1TB"), Some(1_048_576));
        assert_eq!(memory_mb("lots"), None);
    }

    #[test]
    fn secrets_do_not_leak_into_debug() {
        let c = RestConfig {
            token: Some(Secret::new("eyJhbGciOi.secret")),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
