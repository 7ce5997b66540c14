//! Reading the monitors' parsed scrapes of a results folder
//! (`metrics/<monitor>.parsed.jsonl`), tolerant: a line that does not parse
//! is counted, not fatal. Read by the HTML report, the GPU summary and
//! `aifbench serve`. Only regular files are read: a symbolic link in a
//! results folder (one fetched from elsewhere, or served over HTTP) is
//! skipped, never followed.

use std::path::Path;

use crate::monitor::ParsedRecord;

/// One monitor's parsed scrapes.
#[derive(Debug, Clone, Default)]
pub struct MonitorFile {
    /// The monitor's id (the file name's stem).
    pub id: String,
    /// Its scrapes, in file order.
    pub records: Vec<ParsedRecord>,
    /// Lines that did not parse as a record.
    pub unreadable: usize,
}

/// Reads every `*.parsed.jsonl` of `metrics_dir` that is a regular file,
/// sorted by monitor id; none when the folder is missing or is itself a
/// symbolic link.
pub fn read_monitors(metrics_dir: &Path) -> std::io::Result<Vec<MonitorFile>> {
    if std::fs::symlink_metadata(metrics_dir).is_ok_and(|m| !m.file_type().is_dir()) {
        return Ok(Vec::new());
    }
    let entries = match std::fs::read_dir(metrics_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        // DirEntry::file_type does not follow a symbolic link.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".parsed.jsonl") else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path())?;
        let mut file = MonitorFile {
            id: id.to_string(),
            ..MonitorFile::default()
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<ParsedRecord>(line) {
                Ok(r) => file.records.push(r),
                Err(_) => file.unreadable += 1,
            }
        }
        files.push(file);
    }
    files.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str =
        r#"{"ts":"2026-12-04T10:00:00Z","target":"llm","families":[],"parse_errors":[]}"#;

    #[test]
    fn reads_regular_files_sorted_counts_bad_lines_and_skips_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metrics = dir.path().join("metrics");
        std::fs::create_dir(&metrics).expect("metrics");
        std::fs::write(
            metrics.join("b.parsed.jsonl"),
            format!("{RECORD}\nnot json\n\n"),
        )
        .expect("b");
        std::fs::write(
            metrics.join("a.parsed.jsonl"),
            format!("{RECORD}\n{RECORD}\n"),
        )
        .expect("a");
        std::fs::write(metrics.join("a.raw.jsonl"), "ignored\n").expect("raw");
        let outside = dir.path().join("secret.parsed.jsonl");
        std::fs::write(&outside, format!("{RECORD}\n")).expect("outside");
        std::os::unix::fs::symlink(&outside, metrics.join("link.parsed.jsonl")).expect("link");

        let files = read_monitors(&metrics).expect("read");
        let seen: Vec<(&str, usize, usize)> = files
            .iter()
            .map(|f| (f.id.as_str(), f.records.len(), f.unreadable))
            .collect();
        assert_eq!(seen, vec![("a", 2, 0), ("b", 1, 1)]);

        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&metrics, &linked).expect("dir link");
        assert!(read_monitors(&linked).expect("read").is_empty());
        assert!(
            read_monitors(&dir.path().join("missing"))
                .expect("read")
                .is_empty()
        );
    }
}
