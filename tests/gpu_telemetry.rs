//! GPU telemetry end to end without a GPU: `aifbench run recipes/gpu-sim.yaml`
//! (the simulator with one simulated GPU, a monitor scraping its DCGM-named
//! series, one client) must report, in summary.json, an energy per output
//! token within 1 % of the one computed by hand from the simulator's power
//! model (idle + per running request) over the clients' measured window; the
//! status must carry it and report.html must show the GPU panel.

mod common;

use common::{read_json, results_dir};
use std::process::Command;

/// The power model of recipes/gpu-sim.yaml.
const IDLE_W: f64 = 70.0;
const PER_REQUEST_W: f64 = 30.0;
const CONCURRENCY: f64 = 2.0;

#[test]
fn simulated_gpu_energy_per_token_matches_the_power_model() {
    let ws = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args([
            "run",
            "recipes/gpu-sim.yaml",
            "--progress",
            "plain",
            "--workspace",
        ])
        .arg(ws.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = results_dir(ws.path());
    let status: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("status.yaml")).unwrap()).unwrap();
    assert_eq!(status["phase"], "Succeeded", "{status:#}");

    // The simulator's settings, as run.
    let bench = std::fs::read_to_string(dir.join("benchmark.yaml")).unwrap();
    for flag in ["--gpu-idle-watts", "--gpu-watts-per-active-request"] {
        assert!(bench.contains(flag), "{flag} not in the benchmark as run");
    }

    // The measured window and the token count, from the client's result.
    let client = read_json(&dir.join("clients/chat-1.json"));
    let window_s = client["durationS"].as_f64().unwrap();
    let summary = read_json(&dir.join("summary.json"));
    let tokens = summary["total"]["outputTokens"].as_u64().unwrap();
    let requests = summary["total"]["requests"].as_u64().unwrap();
    assert!(tokens > 1000 && requests > 30, "{summary:#}");
    assert_eq!(summary["total"]["errors"], 0);

    // Two requests run the whole window (the warm-up fills it): 130 W.
    let expected_j = (IDLE_W + PER_REQUEST_W * CONCURRENCY) * window_s;
    let expected_per_token = expected_j / tokens as f64;
    let gpu = &summary["gpu"]["total"];
    assert_eq!(gpu["gpus"], 1, "{gpu:#}");
    assert_eq!(gpu["energySource"], "energyCounter", "{gpu:#}");
    assert_eq!(gpu["outputTokens"].as_u64(), Some(tokens));
    let per_token = gpu["energyPerOutputTokenJoules"].as_f64().unwrap();
    let err = (per_token - expected_per_token).abs() / expected_per_token;
    println!(
        "window {window_s:.3} s, {tokens} tokens, {requests} requests: {per_token:.6} J/token, expected {expected_per_token:.6} (error {:.3} %)",
        err * 100.0
    );
    assert!(
        err < 0.01,
        "energy per token off by {:.3} %: {gpu:#}",
        err * 100.0
    );
    let per_request = gpu["energyPerRequestJoules"].as_f64().unwrap();
    let expected_per_request = expected_j / requests as f64;
    assert!((per_request - expected_per_request).abs() / expected_per_request < 0.01);
    // Utilisation is power's place between idle and the cap: 60/630.
    let util = gpu["meanUtilizationPercent"].as_f64().unwrap();
    assert!((8.0..11.0).contains(&util), "utilisation {util}");
    assert!(gpu["maxMemoryUsedMib"].as_f64().unwrap() > 70_000.0);
    assert_eq!(
        gpu["perGpu"][0]["modelName"],
        "NVIDIA H100 80GB HBM3 (simulated)"
    );

    // The status carries the figure.
    let headline = &status["summary"]["gpu"];
    let status_per_token = headline["energyPerOutputTokenJoules"]
        .as_f64()
        .unwrap_or_else(|| panic!("no energy per token in the status: {status:#}"));
    assert!((status_per_token - per_token).abs() < 1e-5);

    // report.md and report.html show it.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## GPU") && md.contains("J per output token"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for needle in [
        "<h2 id=\"gpu\">GPU</h2>",
        "plot-gpu-power",
        "plot-gpu-util",
        "J / output token",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
}

/// `aifbench gpu-exporter` with a fake `nvidia-smi` (no GPU here): it runs
/// the query, serves the lines under dcgm-exporter's names with the energy
/// integrated from power, and stops on SIGTERM.
#[test]
fn gpu_exporter_serves_nvidia_smi_lines_as_dcgm_series() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let fake = dir.path().join("nvidia-smi");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\nwhile true; do\n  echo '0, GPU-5e6f1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b, NVIDIA H200, 42, 1000, 143771, 250.5'\n  sleep 0.1\ndone\n",
            args_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["gpu-exporter", "--host", "127.0.0.1", "--interval", "100ms"])
        .args(["--port", &port.to_string()])
        .arg("--nvidia-smi")
        .arg(&fake)
        .spawn()
        .unwrap();
    let get = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        match get() {
            // Two readings at least, so energy has grown.
            Some(t)
                if t.contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{") && !t.contains("} 0\n") =>
            {
                break t;
            }
            _ if std::time::Instant::now() > deadline => panic!("no readings served: {:?}", get()),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    let labels = "{gpu=\"0\",UUID=\"GPU-5e6f1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b\",device=\"nvidia0\",modelName=\"NVIDIA H200\",Hostname=\"";
    for (name, value) in [
        ("DCGM_FI_DEV_POWER_USAGE", "250.5"),
        ("DCGM_FI_DEV_GPU_UTIL", "42"),
        ("DCGM_FI_DEV_FB_USED", "1000"),
        ("DCGM_FI_DEV_FB_FREE", "142771"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{labels}")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(line.ends_with(&format!("}} {value}")), "{line}");
    }
    assert!(text.contains("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter"));
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(
        args.trim(),
        "--query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw --format=csv,noheader,nounits -lms 100"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_sweep_reports_each_stages_gpu_power_over_its_own_window() {
    let ws = tempfile::tempdir().unwrap();
    let recipe = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/gpu-sim.yaml"),
    )
    .unwrap();
    let old = "        concurrency: 2\n";
    assert!(
        recipe.contains(old),
        "recipes/gpu-sim.yaml changed its load"
    );
    let sweep = recipe
        .replace(
            old,
            "        stages: [{concurrency: 1}, {concurrency: 4}]\n",
        )
        .replace("        duration: 10s\n", "        duration: 4s\n");
    let file = ws.path().join("gpu-sweep.yaml");
    std::fs::write(&file, sweep).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("run")
        .arg(&file)
        .args(["--progress", "plain", "--workspace"])
        .arg(ws.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = read_json(&results_dir(ws.path()).join("summary.json"));
    let stages = summary["gpu"]["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(stages.len(), 2, "{:#}", summary["gpu"]);
    // Each stage's mean power is the model's at its concurrency: 100 W, 190 W.
    for (stage, concurrency) in stages.iter().zip([1.0, 4.0]) {
        let watts = stage["meanPowerWatts"].as_f64().unwrap();
        let want = IDLE_W + PER_REQUEST_W * concurrency;
        eprintln!("stage at concurrency {concurrency}: {watts:.1} W (model {want} W)");
        assert!(
            (watts - want).abs() / want < 0.05,
            "stage at concurrency {concurrency}: {watts} W, model {want} W: {stage:#}"
        );
        assert!(stage["energyPerOutputTokenJoules"].as_f64().unwrap() > 0.0);
    }
}
