//! `report.html` end to end: `aifbench run` on the quickstart and sweep
//! recipes, `aifbench report DIR`, then the page loaded in Debian's headless
//! Chromium (installed by scripts/setup-chromium.sh; these tests fail
//! without it): no console message, every plot drawn by uPlot, and a
//! screenshot kept under the target directory
//! (`$CARGO_TARGET_TMPDIR/report_html/<recipe>.png`, printed).

mod common;

use common::results_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn output_text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `recipe` in a fresh workspace, then `aifbench report` on its folder
/// (after removing the report.html the run wrote, so the command's own is
/// tested); returns the workspace and the folder.
fn run_and_report(recipe: &str) -> (tempfile::TempDir, PathBuf) {
    let ws = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .args(["run", recipe, "--progress", "plain", "--workspace"])
        .arg(ws.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let dir = results_dir(ws.path());
    let html = dir.join("report.html");
    assert!(html.is_file(), "the run wrote no report.html");
    std::fs::remove_file(&html).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aifbench"))
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let bytes = std::fs::metadata(&html).map(|m| m.len()).unwrap_or(0);
    println!(
        "{recipe}: aifbench report took {} ms, report.html is {bytes} bytes",
        started.elapsed().as_millis()
    );
    assert!(bytes > 0, "aifbench report wrote no report.html");
    (ws, dir)
}

/// Runs headless Chromium with `args` on `page` (a fresh profile each time);
/// fails the test when chromium is missing.
fn chromium(page: &Path, args: &[&str], profile: &Path) -> Output {
    let url = format!("file://{}", page.display());
    let out = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.code() != Some(127),
        "chromium is not installed: run scripts/setup-chromium.sh"
    );
    assert!(
        out.status.success(),
        "chromium failed: {}",
        output_text(&out)
    );
    out
}

/// The page's console messages, as Chromium logs them with
/// `--enable-logging=stderr --v=0`.
fn console_messages(page: &Path, profile: &Path) -> Vec<String> {
    let out = chromium(
        page,
        &["--enable-logging=stderr", "--v=0", "--dump-dom"],
        profile,
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// Loads `dir/report.html` in Chromium: no console message, every plot in
/// `expected` (and every plot of the page) drawn, a screenshot kept.
fn check_in_chromium(dir: &Path, name: &str, expected: &[&str]) {
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let plots: Vec<&str> = html
        .match_indices("<div class=\"plot\" id=\"")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    for id in expected {
        assert!(plots.contains(id), "{id} is not in the page: {plots:?}");
    }
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "not self-contained"
    );

    let profile = tempfile::tempdir().unwrap();
    // The console check itself: a page that logs an error is caught.
    let control = profile.path().join("control.html");
    std::fs::write(
        &control,
        "<script>console.error('control message')</script>",
    )
    .unwrap();
    let seen = console_messages(&control, &profile.path().join("p0"));
    assert!(
        seen.iter().any(|l| l.contains("control message")),
        "console messages are not visible: {seen:?}"
    );
    let messages = console_messages(&page, &profile.path().join("p1"));
    assert!(messages.is_empty(), "console messages: {messages:#?}");

    // The rendered DOM: each plot's element marked drawn, with uPlot's canvas.
    let out = chromium(&page, &["--dump-dom"], &profile.path().join("p2"));
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in &plots {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} is not in the rendered DOM"));
        let tag_start = dom[..at].rfind('<').unwrap();
        let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').unwrap()];
        assert!(tag.contains("data-rendered"), "{id} was not drawn: {tag}");
    }
    let canvases = dom.matches("<canvas").count();
    assert!(
        canvases >= plots.len(),
        "{canvases} canvases for {} plots",
        plots.len()
    );

    // A screenshot for people to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_html");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let started = Instant::now();
    chromium(
        &page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
        ],
        &profile.path().join("p3"),
    );
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot {} is {size} bytes",
        png.display()
    );
    println!(
        "{name}: {} plots drawn, no console message; screenshot {} ({size} bytes, {} ms)",
        plots.len(),
        png.display(),
        started.elapsed().as_millis()
    );
}

#[test]
fn quickstart_report_html_loads_in_chromium_with_every_plot() {
    let (_ws, dir) = run_and_report("recipes/quickstart.yaml");
    check_in_chromium(
        &dir,
        "quickstart",
        &[
            "plot-latency-ttft",
            "plot-latency-itl",
            "plot-latency-tpot",
            "plot-latency-e2el",
            "plot-timeline-throughput",
            "plot-timeline-in-flight",
            "plot-timeline-tokens",
            "plot-monitor-sim-metrics-vllm-requests-running-waiting",
            "plot-monitor-sim-metrics-vllm-kv-cache-usage",
            "plot-monitor-sim-metrics-vllm-token-throughput",
        ],
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for section in [
        "SLO verdict",
        "Errors by class",
        "Per client instance",
        "Environment and provenance",
    ] {
        assert!(html.contains(section), "no {section}");
    }
    // Both instances in the table, and their timelines in their results.
    assert!(html.contains("<td>chat-1</td>") && html.contains("<td>chat-2</td>"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("clients/chat-1.json")).unwrap())
            .unwrap();
    let completed = r["timeline"]["completed"].as_array().unwrap();
    let sum: u64 = completed.iter().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sum, r["requests"].as_u64().unwrap());
    assert!(
        (10..=12).contains(&completed.len()),
        "{} seconds",
        completed.len()
    );
}

#[test]
fn sweep_report_html_shows_the_stages_side_by_side() {
    let (_ws, dir) = run_and_report("recipes/sweep.yaml");
    check_in_chromium(
        &dir,
        "sweep",
        &[
            "plot-latency-ttft",
            "plot-stages-throughput",
            "plot-stages-latency",
            "plot-stages-ttft-distribution",
            "plot-timeline-throughput",
        ],
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("stage 4 (concurrency 32)"));
}
