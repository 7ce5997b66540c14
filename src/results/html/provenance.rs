//! The "Provenance" section of `report.html`: aifbench's build, each
//! server's version and models, the Slurm version and jobs, the images
//! with their SHA-256 or digest, and the GPUs — from `environment.json`'s
//! `provenance` (every value escaped).

use super::tables::{escape, table};
use crate::results::provenance::Provenance;

/// The section; a folder without provenance says so.
pub fn provenance_section(env: Option<&serde_json::Value>) -> String {
    let mut html = String::from("<h2 id=\"provenance\">Provenance</h2>\n");
    let Some(p) = env
        .and_then(|e| e.get("provenance"))
        .and_then(|p| serde_json::from_value::<Provenance>(p.clone()).ok())
    else {
        html.push_str("<p>No provenance in <code>environment.json</code>.</p>\n");
        return html;
    };
    let dirty = if p.build_dirty == Some(true) {
        " (uncommitted changes)"
    } else {
        ""
    };
    html.push_str(&format!(
        "<p>aifbench {} built from <code>{}</code>{dirty}. Rerun: <code>aifbench run {}</code>.</p>\n",
        escape(&p.aifbench_version),
        escape(&p.build_commit),
        escape(&p.resolved_benchmark)
    ));
    let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    if !p.servers.is_empty() {
        let rows: Vec<Vec<String>> = p
            .servers
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    dash(s.version.as_deref()),
                    s.models.as_ref().map_or("-".into(), |m| m.join(", ")),
                ]
            })
            .collect();
        html.push_str(&table(&["service", "server version", "models"], &rows));
    }
    if let Some(slurm) = &p.slurm {
        html.push_str(&format!(
            "<p>Slurm {}</p>\n",
            escape(slurm.version.as_deref().unwrap_or("(version unknown)"))
        ));
        let rows: Vec<Vec<String>> = slurm
            .jobs
            .iter()
            .map(|j| {
                vec![
                    j.component.clone(),
                    dash(j.job_id.as_deref()),
                    dash(j.node.as_deref()),
                    dash(j.partition.as_deref()),
                ]
            })
            .collect();
        html.push_str(&table(&["component", "job", "node", "partition"], &rows));
    }
    if !p.images.is_empty() {
        let rows: Vec<Vec<String>> = p
            .images
            .iter()
            .map(|i| {
                vec![
                    i.component.clone(),
                    i.image.clone(),
                    dash(i.sha256.as_deref()),
                ]
            })
            .collect();
        html.push_str(&table(&["component", "image", "sha256 / digest"], &rows));
    }
    if let Some(g) = &p.gpus {
        html.push_str(&format!(
            "<p>GPUs: {} x {} (driver {}, CUDA {})</p>\n",
            g.count,
            escape(&g.models.join(" / ")),
            escape(g.driver_version.as_deref().unwrap_or("?")),
            escape(g.cuda_version.as_deref().unwrap_or("?"))
        ));
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_build_and_servers_escaped() {
        let env = serde_json::json!({"provenance": {
            "aifbenchVersion": "0.1.0", "buildCommit": "abc123",
            "resolvedBenchmark": "benchmark.resolved.yaml",
            "servers": [{"id": "sim", "url": "http://h:1", "version": "<v1>", "models": ["m"]}]
        }});
        let html = provenance_section(Some(&env));
        assert!(html.contains("<code>abc123</code>"), "{html}");
        assert!(html.contains("&lt;v1&gt;"), "{html}");
        assert!(!html.contains("<v1>"), "{html}");
        assert!(provenance_section(None).contains("No provenance"));
    }
}
