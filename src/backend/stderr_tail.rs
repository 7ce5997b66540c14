//! What a failed component said last: the tail of its stderr (or of a
//! Slurm job's `.err` file), bounded and with secrets redacted, appended to
//! the reason of its exit so the engine carries it into the component's
//! message, the `Succeeded` condition and the terminal summary. Pure but
//! for [`file_tail`], which reads the end of a file.
//!
//! Bounds: the last [`MAX_LINES`] non-empty lines, at most [`MAX_BYTES`]
//! bytes in all (the end is kept: the last line is usually the error).
//! Redaction: every value of an environment variable whose name looks
//! secret ([`looks_secret`]: `KEY`, `TOKEN`, `SECRET`, `PASSWORD`, …) —
//! of the component's own environment and of the driver's, which the
//! component inherits — is replaced by `***` before anything is kept.
//! Control characters (terminal escapes) are dropped.

use std::collections::{BTreeMap, VecDeque};

/// Lines kept of a component's stderr.
pub const MAX_LINES: usize = 5;
/// Bytes kept of those lines in all.
pub const MAX_BYTES: usize = 500;
/// Values shorter than this are not treated as secrets (replacing `1` or
/// `on` everywhere would make every message unreadable).
pub const MIN_SECRET_LEN: usize = 4;
/// What a secret value is replaced by.
pub const REDACTED: &str = "***";

/// Whether an environment variable's name says it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| n.contains(w))
}

/// Replaces the secret values of an environment in text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// The secret-named values among `vars`.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut secrets: Vec<String> = vars
            .into_iter()
            .filter(|(k, v)| looks_secret(k) && v.len() >= MIN_SECRET_LEN)
            .map(|(_, v)| v.to_string())
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// The secrets a component can print: those of its own environment and
    /// of the driver's (inherited by a child process).
    pub fn for_component(env: &BTreeMap<String, String>) -> Self {
        let inherited: Vec<(String, String)> = std::env::vars().collect();
        Self::from_vars(
            env.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(inherited.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

/// A ring of the last non-empty lines a component wrote, each already
/// redacted and cleaned.
#[derive(Clone, Debug, Default)]
pub struct StderrTail {
    lines: VecDeque<String>,
}

impl StderrTail {
    /// Keeps `line` (redacted, control characters dropped, cut to
    /// [`MAX_BYTES`]); blank lines are skipped.
    pub fn push(&mut self, line: &str, redactor: &Redactor) {
        let line = clean(&redactor.redact(line));
        if line.trim().is_empty() {
            return;
        }
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(cut_start(&line, MAX_BYTES));
    }

    /// The kept lines, newline-joined and bounded to [`MAX_BYTES`] (the
    /// oldest dropped first); None when nothing was written.
    pub fn text(&self) -> Option<String> {
        let mut kept: Vec<&str> = Vec::new();
        let mut bytes = 0;
        for l in self.lines.iter().rev() {
            let add = l.len() + usize::from(!kept.is_empty());
            if !kept.is_empty() && bytes + add > MAX_BYTES {
                break;
            }
            bytes += add;
            kept.push(l);
        }
        if kept.is_empty() {
            return None;
        }
        kept.reverse();
        Some(kept.join("\n"))
    }
}

/// The tail of a whole text (a Slurm job's `.err` file), as a
/// [`StderrTail`] would have kept it.
pub fn tail_of(content: &str, redactor: &Redactor) -> Option<String> {
    let mut tail = StderrTail::default();
    // Only the last lines can be kept; skip the rest unread.
    let lines: Vec<&str> = content.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map(|last| {
            let mut n = 0;
            let mut i = last + 1;
            while i > 0 && n < MAX_LINES {
                i -= 1;
                if !lines[i].trim().is_empty() {
                    n += 1;
                }
            }
            i
        })
        .unwrap_or(lines.len());
    for l in &lines[start..] {
        tail.push(l, redactor);
    }
    tail.text()
}

/// Bytes read from the end of a file for its tail.
const FILE_TAIL_READ: u64 = 16 * 1024;

/// The tail of a file (a Slurm job's `.err`) as [`tail_of`] keeps it,
/// reading only its last [`FILE_TAIL_READ`] bytes; None when it cannot be
/// read or holds nothing.
pub fn file_tail(path: &std::path::Path, redactor: &Redactor) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(FILE_TAIL_READ);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    // A cut first line is only part of a line: leave it out.
    let text = match (start > 0, text.split_once('\n')) {
        (true, Some((_, rest))) => rest,
        _ => &text,
    };
    tail_of(text, redactor)
}

/// An exit's reason with the stderr tail after it, one per line.
pub fn with_tail(reason: Option<String>, tail: Option<String>) -> Option<String> {
    match (reason, tail) {
        (Some(r), Some(t)) => Some(format!("{r}\n{t}")),
        (r, t) => r.or(t),
    }
}

/// `s` without control characters (tabs become spaces).
fn clean(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// The start of `s`, at most `max` bytes (on a character boundary), with
/// `…` when cut.
fn cut_start(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::from_vars([
            ("HF_TOKEN", "hf_abcdef123456"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("API_KEY", "on"),
            ("GREETING", "hello-world"),
        ])
    }

    #[test]
    fn secret_names() {
        for n in [
            "HF_TOKEN",
            "aws_secret_access_key",
            "DB_PASSWORD",
            "OPENAI_API_KEY",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["PATH", "HOME", "GREETING", "MODEL"] {
            assert!(!looks_secret(n), "{n}");
        }
    }

    #[test]
    fn secrets_are_redacted_and_short_values_left_alone() {
        let r = redactor();
        assert_eq!(
            r.redact("token hf_abcdef123456 and wJalrXUtnFEMI, on hello-world"),
            "token *** and ***, on hello-world"
        );
        let mut t = StderrTail::default();
        t.push("auth failed for hf_abcdef123456", &r);
        assert_eq!(t.text().as_deref(), Some("auth failed for ***"));
    }

    #[test]
    fn only_the_last_lines_are_kept_and_blank_ones_skipped() {
        let r = Redactor::default();
        let mut t = StderrTail::default();
        assert_eq!(t.text(), None);
        for i in 0..8 {
            t.push(&format!("line {i}"), &r);
            t.push("   ", &r);
        }
        assert_eq!(
            t.text().as_deref(),
            Some("line 3\nline 4\nline 5\nline 6\nline 7")
        );
    }

    #[test]
    fn the_tail_is_bounded_in_bytes_keeping_the_end() {
        let r = Redactor::default();
        let mut t = StderrTail::default();
        t.push(&"a".repeat(300), &r);
        t.push(&"b".repeat(300), &r);
        t.push("ModuleNotFoundError: No module named 'llama_cpp'", &r);
        let text = t.text().unwrap();
        assert!(text.len() <= MAX_BYTES, "{}", text.len());
        assert!(text.ends_with("No module named 'llama_cpp'"), "{text}");
        assert!(!text.contains("aaa"), "{text}");
        // One huge line is cut at its start, on a character boundary.
        let mut t = StderrTail::default();
        t.push(&"é".repeat(1000), &r);
        let text = t.text().unwrap();
        assert!(text.len() <= MAX_BYTES && text.ends_with('…'), "{text}");
    }

    #[test]
    fn escapes_are_dropped() {
        let mut t = StderrTail::default();
        t.push("\u{1b}[31merror\u{1b}[0m:\tbad", &Redactor::default());
        assert_eq!(t.text().as_deref(), Some("[31merror[0m: bad"));
    }

    #[test]
    fn the_tail_of_a_file() {
        let content = "start\n\nTraceback (most recent call last):\n  File \"x.py\", line 1\nimport llama_cpp\nModuleNotFoundError: No module named 'llama_cpp'\nkey hf_abcdef123456\n\n";
        assert_eq!(
            tail_of(content, &redactor()).as_deref(),
            Some(
                "Traceback (most recent call last):\n  File \"x.py\", line 1\nimport llama_cpp\nModuleNotFoundError: No module named 'llama_cpp'\nkey ***"
            )
        );
        assert_eq!(tail_of("\n \n", &redactor()), None);
        assert_eq!(tail_of("", &redactor()), None);
    }

    #[test]
    fn the_tail_of_a_long_file_reads_only_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-12.err");
        let mut content = "x".repeat(40 * 1024);
        content.push_str(
            "\nsrun: error: node1: task 0: Exited with exit code 1\nboom hf_abcdef123456\n",
        );
        std::fs::write(&p, content).unwrap();
        assert_eq!(
            file_tail(&p, &redactor()).as_deref(),
            Some("srun: error: node1: task 0: Exited with exit code 1\nboom ***")
        );
        assert_eq!(file_tail(&dir.path().join("none.err"), &redactor()), None);
    }

    #[test]
    fn reasons_and_tails_combine() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            with_tail(s("killed by SIGKILL"), s("oom")),
            s("killed by SIGKILL\noom")
        );
        assert_eq!(with_tail(None, s("oom")), s("oom"));
        assert_eq!(with_tail(s("r"), None), s("r"));
        assert_eq!(with_tail(None, None), None);
    }
}
