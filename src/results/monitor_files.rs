//! Reading the monitors' parsed scrapes of a results folder
//! (`metrics/<monitor>.parsed.jsonl`), tolerant: a line that does not parse
//! is counted, not fatal. Read by the HTML report and the GPU summary.

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

/// Reads every `*.parsed.jsonl` of `metrics_dir`, sorted by monitor id; none
/// when the folder is missing.
pub fn read_monitors(metrics_dir: &Path) -> std::io::Result<Vec<MonitorFile>> {
    let entries = match std::fs::read_dir(metrics_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries.filter_map(Result::ok) {
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
