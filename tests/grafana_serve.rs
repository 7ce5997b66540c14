//! `aifbench serve` as Grafana's JSON datasource sees it: two real runs
//! (recipes/quickstart.yaml, and tests/fixtures/grafana/gpu-stages.yaml with
//! a simulated GPU and two stages) made by the real binary into one results
//! root, the real binary serving that root on loopback, and the requests
//! the plugin (simpod-json-datasource 0.6.x) sends, kept as bodies under
//! tests/fixtures/grafana/. Also: the dashboards load only series the
//! datasource lists, and the chart carries the same dashboards.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aifbench"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo("tests/fixtures/grafana").join(name)).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Stops the server when the test ends, also when it fails.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(root: &Path) -> Self {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .rsplit("http://")
            .next()
            .map(|a| a.trim().to_string())
            .unwrap_or_default();
        assert!(addr.starts_with("127.0.0.1:"), "first line: {line:?}");
        Server { child, addr }
    }

    /// One HTTP/1.1 request; (status, body).
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{head}"
        );
        (status, body.to_string())
    }

    fn post(&self, path: &str, body: &str) -> Value {
        let (status, text) = self.request("POST", path, body);
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Runs both benchmarks at once into `root`; their results folders.
fn make_runs(root: &Path) -> (PathBuf, PathBuf) {
    let run = |file: PathBuf| {
        bin()
            .args(["run", "--progress", "quiet", "--workspace"])
            .arg(root)
            .arg(file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let quick = run(repo("recipes/quickstart.yaml"));
    let gpu = run(repo("tests/fixtures/grafana/gpu-stages.yaml"));
    for (name, child) in [("quickstart", quick), ("gpu-stages", gpu)] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let find = |prefix: &str| {
        std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap()
    };
    (find("quickstart-"), find("gpu-stages-"))
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// A fixture body with the run and a range around every run filled in.
fn body(file: &str, run: &str) -> String {
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_hours(24);
    fixture(file)
        .replace("__RUN__", run)
        .replace("__FROM__", &from.to_string())
        .replace("__TO__", &now.to_string())
}

/// Every `target` a dashboard's panels and annotations query.
fn dashboard_targets(dashboard: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut queries: Vec<&Value> = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        queries.extend(p["targets"].as_array().into_iter().flatten());
    }
    for a in dashboard["annotations"]["list"].as_array().unwrap() {
        if a.get("target").is_some() {
            queries.push(&a["target"]);
        }
    }
    for q in queries {
        let t = q["target"].as_str().unwrap_or_else(|| panic!("{q}"));
        out.insert(t.to_string());
    }
    out
}

fn sum_values(series: &Value) -> f64 {
    series["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .sum()
}

#[test]
fn grafana_requests_on_two_real_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    let (quick, gpu) = make_runs(&root);
    let (quick_name, gpu_name) = (name(&quick), name(&gpu));
    let server = Server::start(&root);

    // Health: what "Save & test" calls.
    let (status, text) = server.request("GET", "/", "");
    assert_eq!(status, 200, "{text}");

    // The $run variable lists both runs, newest first.
    let runs = server.post("/variable", &body("variable.json", ""));
    let listed: BTreeSet<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["__text"], r["__value"]);
            r["__value"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([quick_name.as_str(), gpu_name.as_str()])
    );

    // /metrics lists the series of the chosen run with the run selector.
    let metrics = server.post("/metrics", &body("metrics.json", &quick_name));
    let values: BTreeSet<&str> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    for want in [
        "requests_per_second",
        "errors_per_second",
        "output_tokens_per_second",
        "in_flight",
        "latency:ttft:p50",
        "latency:e2el:p99",
        "server:vllm:num_requests_running",
        "server:vllm:generation_tokens:rate",
        "annotations",
        "runs",
    ] {
        assert!(values.contains(want), "{want} not in {values:?}");
    }
    assert!(
        !values.iter().any(|m| m.contains("DCGM")),
        "the quickstart has no GPU: {values:?}"
    );
    assert_eq!(metrics[0]["payloads"][0]["name"], "run");
    let options = server.post(
        "/metric-payload-options",
        &body("metric-payload-options.json", &quick_name),
    );
    assert_eq!(options.as_array().unwrap().len(), 2, "{options}");

    // /query: the quickstart's series, within the range, matching its summary.
    let summary = read_json(&quick.join("summary.json"));
    let answer = server.post("/query", &body("query.json", &quick_name));
    let series = answer.as_array().unwrap();
    let labels: Vec<&str> = series
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(series.len(), 4, "the hidden query is skipped: {labels:?}");
    let requests = &series[0];
    assert_eq!(requests["target"], "requests/s");
    let instances: Vec<String> = std::fs::read_dir(quick.join("clients"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("config.json"))
        .filter(|p| !p.to_string_lossy().ends_with("summary.json"))
        .map(|p| {
            let r = read_json(&p);
            let t: u64 = r["timeline"]["completed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum();
            format!("{}: requests {} timeline {t}", p.display(), r["requests"])
        })
        .collect();
    assert_eq!(
        sum_values(requests),
        summary["total"]["requests"].as_f64().unwrap(),
        "requests per second sum to the summary's count; {instances:?}; {requests}"
    );
    assert_eq!(
        sum_values(&series[1]),
        summary["total"]["errors"].as_f64().unwrap()
    );
    let p50 = series[2]["datapoints"][0][0].as_f64().unwrap();
    let want = summary["total"]["latency"]["ttft"]["p50Ms"]
        .as_f64()
        .unwrap();
    assert!(
        (p50 - want).abs() < 0.01,
        "ttft p50 {p50} vs summary {want}"
    );
    assert!(
        series[3]["target"]
            .as_str()
            .unwrap()
            .contains("vllm:num_requests_running"),
        "{labels:?}"
    );
    let request: Value = serde_json::from_str(&body("query.json", &quick_name)).unwrap();
    let from = jiff::Timestamp::from_millisecond(0).unwrap();
    let parse = |k: &str| {
        request["range"][k]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    let (lo, hi) = (parse("from"), parse("to"));
    assert!(lo > from.as_millisecond());
    for s in series {
        let points = s["datapoints"].as_array().unwrap();
        assert!(!points.is_empty(), "{s}");
        for p in points {
            let ms = p[1].as_i64().unwrap();
            assert!(lo <= ms && ms <= hi, "{ms} outside {lo}..{hi}");
        }
    }

    // A narrow range clips, and maxDataPoints thins.
    let first_ms = requests["datapoints"][0][1].as_i64().unwrap();
    let narrow = body("query.json", &quick_name)
        .replace(
            &request["range"]["from"].as_str().unwrap().to_string(),
            &jiff::Timestamp::from_millisecond(first_ms + 2000)
                .unwrap()
                .to_string(),
        )
        .replace("\"maxDataPoints\": 1000", "\"maxDataPoints\": 3");
    let clipped = server.post("/query", &narrow);
    let points = clipped[0]["datapoints"].as_array().unwrap();
    assert!(points.len() <= 3, "{points:?}");
    assert!(
        points
            .iter()
            .all(|p| p[1].as_i64().unwrap() >= first_ms + 2000)
    );

    // Annotations: phase changes through /query (the plugin's way) and
    // SimpleJSON's /annotations; stage boundaries of the staged run.
    let table = server.post("/query", &body("query-annotations.json", &quick_name));
    let columns: Vec<&str> = table[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["time", "timeEnd", "title", "text", "tags"]);
    let titles: Vec<&str> = table[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[2].as_str().unwrap())
        .collect();
    for want in ["run started", "ServicesReady", "Running", "Succeeded"] {
        assert!(titles.contains(&want), "{want} not in {titles:?}");
    }
    let legacy = server.post("/annotations", &body("annotations.json", &gpu_name));
    let stages: Vec<&Value> = legacy
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["tags"].as_array().unwrap().iter().any(|t| t == "stage"))
        .collect();
    assert_eq!(stages.len(), 2, "{legacy}");
    assert_eq!(stages[0]["isRegion"], true);
    assert!(stages[0]["timeEnd"].as_i64() <= stages[1]["time"].as_i64());
    assert!(
        legacy
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["text"] == "phase Succeeded: Completed"),
        "{legacy}"
    );

    // Ad hoc filters: one key, the runs as values.
    assert_eq!(
        server.post("/tag-keys", &fixture("tag-keys.json"))[0]["text"],
        "run"
    );
    assert_eq!(
        server
            .post("/tag-values", &fixture("tag-values.json"))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A run name that leaves the root is refused, and nothing is read.
    let (status, text) = server.request("POST", "/query", &body("query-traversal.json", ""));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("no run named"), "{text}");
    let (status, _) = server.request("POST", "/query", "{not json");
    assert_eq!(status, 400);

    // The dashboards load their series by name: every target the runs
    // dashboard queries is a metric /metrics lists for the GPU run.
    let dashboard = read_json(&repo("deploy/grafana/aifbench-runs.json"));
    let targets = dashboard_targets(&dashboard);
    assert!(targets.len() >= 15, "{targets:?}");
    let gpu_metrics = server.post("/metrics", &body("metrics.json", &gpu_name));
    let listed: BTreeSet<String> = gpu_metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = targets.difference(&listed).collect();
    assert!(missing.is_empty(), "queried but not listed: {missing:?}");
    // ...and each of them answers with data for that run.
    for t in &targets {
        let q = serde_json::json!({
            "targets": [{"refId": "A", "target": t, "payload": {"run": gpu_name}}],
            "maxDataPoints": 500,
        });
        let answer = server.post("/query", &q.to_string());
        let first = &answer[0];
        let has_data = first["datapoints"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
            || first["rows"].as_array().is_some_and(|r| !r.is_empty());
        assert!(has_data, "{t}: {answer}");
    }
}

#[test]
fn dashboards_are_valid_and_the_chart_carries_them() {
    for name in ["aifbench-runs.json", "aifbench-operator.json"] {
        let deployed = std::fs::read_to_string(repo("deploy/grafana").join(name)).unwrap();
        let charted = std::fs::read_to_string(repo("charts/aifbench/dashboards").join(name))
            .unwrap_or_else(|e| panic!("charts/aifbench/dashboards/{name}: {e}"));
        assert_eq!(deployed, charted, "{name}: the chart's copy differs");
        let d: Value = serde_json::from_str(&deployed).unwrap();
        assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "{name}");
        let ids: Vec<u64> = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect();
        let unique: BTreeSet<&u64> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{name}: panel ids repeat");
    }
    // The operator dashboard queries only metrics the operator exports.
    let d = read_json(&repo("deploy/grafana/aifbench-operator.json"));
    let source = std::fs::read_to_string(repo("src/operator/metrics.rs")).unwrap();
    let mut exprs = 0;
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            exprs += 1;
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("aifbench_"))
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                let family = n
                    .strip_suffix("_bucket")
                    .or_else(|| n.strip_suffix("_sum"))
                    .or_else(|| n.strip_suffix("_count"))
                    .unwrap_or(n);
                assert!(
                    source.contains(&format!("# TYPE {family} ")),
                    "{expr}: the operator exports no {family}"
                );
            }
        }
    }
    assert!(exprs >= 6, "{exprs}");
}

#[test]
fn help_teaches_the_datasource() {
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "simpod-json-datasource",
        "requests_per_second",
        "$run",
        "aifbench serve results/",
        "<RESULTS_ROOT>",
        "--listen",
        "deploy/grafana/aifbench-runs.json",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}
