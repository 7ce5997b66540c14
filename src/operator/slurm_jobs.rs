//! `executor: slurm` components under the operator — pure builders and
//! mappings, no I/O (the session in [`super::slurm`] does the talking).
//!
//! The operator usually can neither reach compute nodes nor read the
//! cluster's filesystem, so everything comes back through Slurm itself:
//!
//! - a service's job writes its port to `slurm_logs/<id>.port`, runs a
//!   readiness watcher next to the service (curl or wget on
//!   `127.0.0.1:<port><healthcheck.path>`), and reports the port, then
//!   readiness, as its own job comment (`scontrol update
//!   JobId=$SLURM_JOB_ID Comment=aifbench:{"port":N,"ready":true}`);
//! - a client instance's job writes its loadgen configuration (carried in
//!   the script), runs `aifbench loadgen` with `--summary-file`, and posts
//!   the headline numbers as its comment (`aifbench:{"summary":{...}}`)
//!   before it exits; its full result stays in `clients/<id>.json` of the
//!   results folder on the cluster;
//! - stopping a client is SIGTERM to its job without cancelling it
//!   (`scancel --signal=TERM --full`, or slurmrestd's DELETE with
//!   `signal=SIGTERM`): Slurm refuses comment updates of a cancelled job,
//!   and the client must still post its summary (SIGKILL follows after
//!   `execution.stopGracePeriod`, from the job itself); services are
//!   cancelled;
//! - the operator lists the jobs (`squeue --json` over SSH, or slurmrestd),
//!   maps their states as the local driver does
//!   ([`crate::backend::slurm::state::run_state`]), and reads the comments.
//!
//! Job names are `aifb-<uid prefix>-g<generation>-<component>` — the run
//! id [`run_id`] named by [`crate::backend::slurm::job_name`], the one
//! naming of both drivers: a restarted operator finds and adopts its jobs instead of submitting them
//! again, a new run (generation) never adopts the jobs of an earlier one,
//! and the finalizer cancels everything under `aifb-<uid prefix>-`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube::ResourceExt;

use crate::api::spec::{Benchmark, ClientSpec, ServiceSpec};
use crate::api::status::{BenchmarkStatus, ComponentKind, ComponentState, ResultsSummary};
use crate::api::template;
use crate::backend::Backends;
use crate::backend::slurm::render::{JobRequest, ReadyProbe};
use crate::backend::slurm::state::JobInfo;
use crate::backend::slurm::{job_name, job_seen, operator_run_id};
use crate::engine::{Observed, Placement, RunState};
use crate::workload::loadgen::LoadgenConfig;

use super::children;

/// Benchmark annotation: the `aifbench` binary on the cluster (a path on
/// the shared filesystem, or a name on the compute nodes' PATH; default
/// `aifbench`). Its folder is put first on the jobs' PATH.
pub const BINARY_ANNOTATION: &str = "aifbench.io/slurm-aifbench";

/// The run id of the Benchmark's run `generation` under the operator
/// (`<uid prefix>-g<generation>`): its jobs are named by
/// [`crate::backend::slurm::job_name`], the naming of `aifbench run`.
pub fn run_id(b: &Benchmark, generation: i64) -> String {
    operator_run_id(&b.uid().unwrap_or_default(), generation)
}

/// The run's results folder on the cluster: `<spec.workspace>/<folder>`,
/// where the workspace must be an absolute path on the cluster's shared
/// filesystem (it must exist: Slurm opens the jobs' output files there).
pub fn cluster_dir(b: &Benchmark, folder: &str) -> Result<(PathBuf, PathBuf), String> {
    let ws = b.spec.workspace.as_deref().unwrap_or_default();
    if !ws.starts_with('/') || ws.contains("${") {
        return Err(format!(
            "executor slurm under the operator needs spec.workspace: an absolute folder on the cluster's shared filesystem (got {ws:?})"
        ));
    }
    let ws = PathBuf::from(ws);
    Ok((ws.join(folder), ws))
}

/// The port of a service's job: the first declared one, or for port 0 one
/// derived from the Benchmark's uid and the service (20000-39999: the
/// operator cannot ask a compute node for a free port).
pub fn service_port(b: &Benchmark, s: &ServiceSpec) -> Option<u16> {
    let p = s.ports.first()?;
    if p.port != 0 {
        return Some(p.port);
    }
    let mut h: u32 = 0x811c_9dc5;
    for byte in b.uid().unwrap_or_default().bytes().chain(s.id.bytes()) {
        h ^= u32::from(byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    Some(20000 + u16::try_from(h % 20000).unwrap_or(0))
}

fn binary(b: &Benchmark) -> String {
    b.annotations()
        .get(BINARY_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| "aifbench".to_string())
}

/// Template values: the in-cluster ones of pod services, the endpoints of
/// services learned at run time (Slurm jobs) as known from the status, the
/// results folder on the cluster.
fn values(
    b: &Benchmark,
    generation: i64,
    dir: &Path,
    endpoints: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut v = children::template_values(b, generation, &dir.display().to_string());
    for s in b
        .spec
        .services
        .iter()
        .filter(|s| Backends::learns_endpoint_at_run_time(s.executor))
    {
        match endpoints.get(&s.id) {
            Some(url) => v.set_service(&s.id, url),
            None => v.forget_service(&s.id),
        }
    }
    v.into_map()
}

fn env(
    b: &Benchmark,
    extra: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
    dir: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    let bin = binary(b);
    if let Some(parent) = Path::new(&bin).parent().filter(|p| p.is_absolute()) {
        env.insert(
            "PATH".to_string(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                parent.display()
            ),
        );
    }
    env.insert("AIFB_RESULTS_DIR".to_string(), dir.display().to_string());
    for (k, v) in extra {
        let r = template::render(v, values).map_err(|e| format!("env {k}: {e}"))?;
        env.insert(k.clone(), r);
    }
    Ok(env)
}

/// The batch job of a service.
pub fn service_job(
    b: &Benchmark,
    generation: i64,
    s: &ServiceSpec,
    folder: &str,
    endpoints: &BTreeMap<String, String>,
) -> Result<JobRequest, String> {
    let (dir, ws) = cluster_dir(b, folder)?;
    let mut vals = values(b, generation, &dir, endpoints);
    vals.insert("id".to_string(), s.id.clone());
    let port = service_port(b, s);
    if let Some(p) = port {
        vals.insert("port".to_string(), p.to_string());
    }
    for (i, p) in s.ports.iter().enumerate() {
        let n = if i == 0 {
            port.unwrap_or(p.port)
        } else {
            p.port
        };
        vals.insert(format!("ports.{}", p.name), n.to_string());
    }
    let render = |t: &str| template::render(t, &vals).map_err(|e| format!("{}: {e}", s.id));
    let argv: Vec<String> = match &s.shell {
        Some(sh) => vec!["sh".to_string(), "-c".to_string(), render(sh)?],
        None => s
            .command
            .iter()
            .map(|a| render(a))
            .collect::<Result<_, _>>()?,
    };
    let logs = dir.join("slurm_logs");
    let port_file = port.map(|p| (logs.join(format!("{}.port", s.id)), p));
    let ready_probe = s.healthcheck.as_ref().map(|h| ReadyProbe {
        path: match &h.url {
            Some(u) => url_path(u),
            None => h.path.clone(),
        },
        ready_file: logs.join(format!("{}.ready", s.id)),
        interval_s: h.interval.get().as_secs().max(1),
    });
    Ok(JobRequest {
        name: job_name(&run_id(b, generation), &s.id),
        // Slurm opens the output files before the script can create the
        // results folder: they go to the workspace itself.
        component: format!("{folder}-{}", s.id),
        slurm: s.slurm.clone().unwrap_or_default(),
        apptainer: s.apptainer.clone(),
        argv,
        env: env(b, &s.env, &vals, &dir)?,
        working_dir: s.working_dir.as_ref().map_or(dir.clone(), PathBuf::from),
        log_dir: ws,
        port_file,
        ready_probe,
        make_dirs: vec![logs, dir.join("clients")],
        files: Vec::new(),
        report_comment: true,
        summary_file: None,
        stop_grace_s: 0,
    })
}

fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// The batch job of client instance `instance` (`<id>-<n>`).
pub fn client_job(
    b: &Benchmark,
    generation: i64,
    c: &ClientSpec,
    instance: &str,
    folder: &str,
    endpoints: &BTreeMap<String, String>,
) -> Result<JobRequest, String> {
    let (dir, ws) = cluster_dir(b, folder)?;
    let base_url = match (&c.endpoint, &c.target) {
        (Some(e), _) => e.trim_end_matches('/').to_string(),
        (None, Some(t)) => {
            let s = b
                .spec
                .services
                .iter()
                .find(|s| &s.id == t)
                .ok_or_else(|| format!("client {}: unknown target service {t}", c.id))?;
            if Backends::learns_endpoint_at_run_time(s.executor) {
                endpoints
                    .get(t)
                    .cloned()
                    .ok_or_else(|| format!("client {}: service {t} has no endpoint yet", c.id))?
            } else {
                children::client_base_url(b, generation, c).map_err(|e| e.to_string())?
            }
        }
        (None, None) => {
            return Err(format!("client {} has neither target nor endpoint", c.id));
        }
    };
    // Slurm clients post their summary in the job's comment; their full
    // results stay in the workspace (no S3 credentials go into jobs).
    let config = LoadgenConfig::for_client(&b.spec, c, instance, base_url);
    let config_json = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    let clients = dir.join("clients");
    let config_path = clients.join(format!("{instance}.config.json"));
    let summary = clients.join(format!("{instance}.summary.json"));
    let mut argv = vec![
        binary(b),
        "loadgen".to_string(),
        "--config".to_string(),
        config_path.display().to_string(),
        "--output".to_string(),
        clients
            .join(format!("{instance}.json"))
            .display()
            .to_string(),
        "--summary-file".to_string(),
        summary.display().to_string(),
        "--progress-interval".to_string(),
        "10s".to_string(),
    ];
    if c.record_requests {
        argv.push("--requests".to_string());
        argv.push(
            clients
                .join(format!("{instance}.requests.jsonl"))
                .display()
                .to_string(),
        );
    }
    let mut vals = values(b, generation, &dir, endpoints);
    vals.insert("id".to_string(), instance.to_string());
    Ok(JobRequest {
        name: job_name(&run_id(b, generation), instance),
        component: format!("{folder}-{instance}"),
        slurm: c.slurm.clone().unwrap_or_default(),
        apptainer: c.apptainer.clone(),
        argv,
        env: env(b, &c.env, &vals, &dir)?,
        working_dir: dir.clone(),
        log_dir: ws,
        port_file: None,
        ready_probe: None,
        make_dirs: vec![dir.join("slurm_logs"), clients],
        files: vec![(config_path, config_json)],
        report_comment: true,
        summary_file: Some(summary),
        stop_grace_s: b.spec.execution.stop_grace_period.get().as_secs().max(1),
    })
}

/// The endpoints of the services in a status (`id` → base URL).
pub fn endpoints(status: &BenchmarkStatus) -> BTreeMap<String, String> {
    status
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Service)
        .filter_map(|c| c.endpoint.clone().map(|e| (c.id.clone(), e)))
        .collect()
}

/// The newest job of a name (the adoption key of both drivers).
pub use crate::backend::slurm::find_job;

/// What the engine observes of a Slurm component from its job (None: not
/// in the list), and a client's summary when its job posted one. A service
/// with ports (`expects_port`) counts as running only once its job has
/// reported the port: until then nobody could reach it.
pub fn observe_job(
    kind: ComponentKind,
    state: ComponentState,
    job: Option<&JobInfo>,
    expects_port: bool,
) -> (Observed, Option<ResultsSummary>) {
    let mut o = Observed::default();
    let Some(j) = job else {
        o.run = match state {
            // Not submitted yet, or the submit of this reconcile.
            ComponentState::Pending | ComponentState::Launching => RunState::Unknown,
            s if s.is_finished() => RunState::Unknown,
            _ => RunState::Exited {
                code: None,
                reason: Some("the Slurm job is no longer known to the controller".to_string()),
            },
        };
        return (o, None);
    };
    let seen = job_seen(j, true);
    o.run = seen.run;
    o.placement = Placement {
        job_id: Some(j.job_id.clone()),
        node: seen.node.clone(),
        ..Default::default()
    };
    if kind == ComponentKind::Service
        && expects_port
        && o.run == RunState::Running
        && seen.port.is_none()
    {
        o.run = RunState::Queued(format!(
            "slurm job {} is running; waiting for it to report its port (scontrol update Comment=...)",
            j.job_id
        ));
    }
    let mut summary = None;
    match kind {
        ComponentKind::Service => {
            if let (Some(n), Some(p)) = (&seen.node, seen.port) {
                o.placement.endpoint = Some(format!("http://{n}:{p}"));
            }
            o.healthy = seen.ready == Some(true) && o.run == RunState::Running;
        }
        _ => {
            summary = seen
                .summary
                .and_then(|v| serde_json::from_value::<ResultsSummary>(v).ok());
            o.progress = seen.progress;
        }
    }
    (o, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::render::render_script;
    use crate::backend::slurm::state::SlurmState;
    use crate::operator::slurm::job_prefix;

    fn bm() -> Benchmark {
        serde_norway::from_str(
            r#"
apiVersion: aifbench.io/v1alpha1
kind: Benchmark
metadata:
  name: bm
  namespace: team
  uid: 1234abcd-0000-0000-0000-000000000000
  annotations: {aifbench.io/slurm-aifbench: /opt/aif bench/aifbench}
spec:
  workspace: /shared/bench
  services:
    - id: sim
      executor: slurm
      command: [aifbench, sim, --port, "{{port}}"]
      ports: [{name: http, port: 0}]
      healthcheck: {path: /health}
      slurm: {partition: debug}
  clients:
    - id: chat
      executor: slurm
      instances: 2
      target: sim
      workload: {type: openai}
      load: {concurrency: 2, maxRequests: 10}
"#,
        )
        .unwrap()
    }

    #[test]
    fn names_and_ports_are_deterministic() {
        let b = bm();
        let uid = b.uid().unwrap();
        assert_eq!(
            job_name(&run_id(&b, 3), "Chat_1"),
            "aifb-1234abcd-g3-chat-1"
        );
        assert!(job_name(&run_id(&b, 3), "x").starts_with(&job_prefix(&uid)));
        let p = service_port(&b, &b.spec.services[0]).unwrap();
        assert!((20000..40000).contains(&p));
        assert_eq!(service_port(&b, &b.spec.services[0]), Some(p));
    }

    #[test]
    fn service_job_reports_through_its_comment() {
        let b = bm();
        let req = service_job(&b, 1, &b.spec.services[0], "bm-1", &BTreeMap::new()).unwrap();
        assert_eq!(req.name, "aifb-1234abcd-g1-sim");
        assert_eq!(req.log_dir, PathBuf::from("/shared/bench"));
        let port = service_port(&b, &b.spec.services[0]).unwrap();
        assert_eq!(req.argv[3], port.to_string());
        let script = render_script(&req).unwrap();
        assert!(
            script.contains("mkdir -p /shared/bench/bm-1/slurm_logs /shared/bench/bm-1/clients"),
            "{script}"
        );
        assert!(
            script.contains("scontrol update JobId=\"$SLURM_JOB_ID\""),
            "{script}"
        );
        assert!(script.contains("\\\"ready\\\":true"), "{script}");
        assert!(
            script.contains("export PATH='/opt/aif bench':\"$PATH\""),
            "{script}"
        );
        assert!(script.contains("exec aifbench sim --port"), "{script}");
    }

    #[test]
    fn client_job_carries_its_config_and_posts_its_summary() {
        let b = bm();
        let c = &b.spec.clients[0];
        assert!(client_job(&b, 1, c, "chat-1", "bm-1", &BTreeMap::new()).is_err());
        let eps = BTreeMap::from([("sim".to_string(), "http://node1:20001".to_string())]);
        let req = client_job(&b, 1, c, "chat-1", "bm-1", &eps).unwrap();
        assert_eq!(req.name, "aifb-1234abcd-g1-chat-1");
        let (path, json) = &req.files[0];
        assert_eq!(
            path,
            Path::new("/shared/bench/bm-1/clients/chat-1.config.json")
        );
        let cfg: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            cfg["base_url"].as_str().or(cfg["baseUrl"].as_str()),
            Some("http://node1:20001"),
            "{cfg}"
        );
        let script = render_script(&req).unwrap();
        assert!(
            script.contains("'/opt/aif bench/aifbench' loadgen"),
            "{script}"
        );
        assert!(
            script
                .contains("\\\"summary\\\":$(cat /shared/bench/bm-1/clients/chat-1.summary.json)"),
            "{script}"
        );
        let mut relative = b.clone();
        relative.spec.workspace = Some("./results".into());
        assert!(
            client_job(&relative, 1, c, "chat-1", "bm-1", &eps)
                .unwrap_err()
                .contains("absolute")
        );
    }

    fn job(state: SlurmState, comment: Option<&str>) -> JobInfo {
        JobInfo {
            job_id: "42".into(),
            name: "aifb-1234abcd-g1-sim".into(),
            state,
            reason: None,
            node: Some("n1,n2".into()),
            exit_code: Some(0),
            signal: None,
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn jobs_map_to_observations() {
        let running = job(
            SlurmState::Running,
            Some("aifbench:{\"port\":8123,\"ready\":true}"),
        );
        let (o, _) = observe_job(
            ComponentKind::Service,
            ComponentState::Starting,
            Some(&running),
            true,
        );
        assert_eq!(o.run, RunState::Running);
        assert!(o.healthy);
        assert_eq!(o.placement.endpoint.as_deref(), Some("http://n1:8123"));
        assert_eq!(o.placement.job_id.as_deref(), Some("42"));
        let starting = job(SlurmState::Running, Some("aifbench:{\"port\":8123}"));
        let (o, _) = observe_job(
            ComponentKind::Service,
            ComponentState::Starting,
            Some(&starting),
            true,
        );
        assert!(!o.healthy);
        let done = job(
            SlurmState::Completed,
            Some(
                "aifbench:{\"summary\":{\"requests\":7,\"errors\":1,\"durationSeconds\":2.0,\"requestThroughput\":3.5}}",
            ),
        );
        let (o, s) = observe_job(
            ComponentKind::Client,
            ComponentState::Running,
            Some(&done),
            false,
        );
        assert_eq!(
            o.run,
            RunState::Exited {
                code: Some(0),
                reason: None
            }
        );
        assert_eq!(s.unwrap().requests, 7);
        assert_eq!(o.progress.unwrap().errors, 1);
        let silent = job(SlurmState::Running, None);
        let (o, _) = observe_job(
            ComponentKind::Service,
            ComponentState::Launching,
            Some(&silent),
            true,
        );
        assert!(
            matches!(o.run, RunState::Queued(ref m) if m.contains("port")),
            "{o:?}"
        );
        let (o, _) = observe_job(
            ComponentKind::Client,
            ComponentState::Launching,
            None,
            false,
        );
        assert_eq!(o.run, RunState::Unknown);
        let (o, _) = observe_job(ComponentKind::Client, ComponentState::Running, None, false);
        assert!(matches!(o.run, RunState::Exited { code: None, .. }));
    }
}
