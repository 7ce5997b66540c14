//! Trace replay for the `openai` workload (`workload.openai.trace`): reads a
//! trace file ([`super::trace_formats`]), keeps the part to replay
//! (`startOffset`, `maxDuration`, `maxRequests`), and turns it into the open
//! loop's intended send offsets (arrival time from the first replayed
//! request, divided by `speed`) and one request per line: synthetic words of
//! the trace's input length (Mooncake: one block of words per `hash_ids`
//! entry, equal ids giving equal text, so shared prefixes stay shared) with
//! `max_tokens` of its output length. The load layer sends request `i` at
//! offset `i` ([`super::load::ArrivalSchedule::trace`]). Pure except
//! [`load`], which reads the file.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;

use super::WorkloadError;
use super::dataset::{Entry, Prompt, synthetic_prompt};
use super::trace_formats::{
    MOONCAKE_BLOCK_TOKENS, TraceEntry, parse_aifbench, parse_burstgpt, parse_mooncake,
};
use crate::api::workload::{TraceFormat, TraceSpec};

/// Where the settings sit in a client's spec, for error messages.
const AT: &str = "workload.openai.trace";

/// A trace ready to replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Intended send time of each request, from the start of the run
    /// (already divided by the speed), in order.
    pub offsets: Arc<[Duration]>,
    /// The request of each offset.
    pub entries: Vec<Entry>,
    /// Rows of the file left out for 0 tokens (BurstGPT's failed requests).
    pub skipped: u64,
}

impl Trace {
    /// Wall time from the first to the last intended send.
    pub fn span(&self) -> Duration {
        self.offsets.last().copied().unwrap_or_default()
    }
}

/// Keeps the part of `entries` to replay, in arrival order (stable for equal
/// times): from `startOffset` after the first arrival, for at most
/// `maxDuration` of trace time and `maxRequests` requests.
pub fn select(mut entries: Vec<TraceEntry>, spec: &TraceSpec) -> Vec<TraceEntry> {
    entries.sort_by_key(|e| e.at);
    let Some(origin) = entries.first().map(|e| e.at) else {
        return entries;
    };
    let start = origin + spec.start_offset.map(|d| d.get()).unwrap_or_default();
    let end = spec.max_duration.map(|d| start + d.get());
    let max = spec
        .max_requests
        .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    entries
        .into_iter()
        .filter(|e| e.at >= start && end.is_none_or(|end| e.at < end))
        .take(max)
        .collect()
}

/// Intended send offsets of `entries` (in arrival order) at `speed`: the
/// first at 0, each later one at its distance from the first divided by
/// `speed`.
pub fn offsets(entries: &[TraceEntry], speed: f64) -> Vec<Duration> {
    let Some(first) = entries.first().map(|e| e.at) else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| (e.at - first).div_f64(speed))
        .collect()
}

/// The prompt of one trace entry: `input_tokens` words, drawn from `rng`, or
/// with `hash_ids` one block of up to 512 words per id, each drawn from a
/// generator seeded by `seed` and the id (the last block cut to length).
pub fn prompt(entry: &TraceEntry, seed: u64, rng: &mut SmallRng) -> String {
    if entry.hash_ids.is_empty() {
        return synthetic_prompt(entry.input_tokens, rng);
    }
    let mut left = entry.input_tokens;
    let mut text = String::with_capacity(entry.input_tokens as usize * 5);
    for id in &entry.hash_ids {
        if left == 0 {
            break;
        }
        let n = left.min(MOONCAKE_BLOCK_TOKENS);
        let mut block_rng = SmallRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&synthetic_prompt(n, &mut block_rng));
        left -= n;
    }
    // More tokens than blocks: the rest is unshared.
    if left > 0 {
        text.push(' ');
        text.push_str(&synthetic_prompt(left, rng));
    }
    text
}

/// Parses `text` (a trace of `spec.format`), selects, schedules and builds
/// its requests; `seed` makes the prompt text reproducible.
pub fn build(text: &str, spec: &TraceSpec, seed: u64) -> Result<Trace, String> {
    let (parsed, skipped) = match spec.format {
        TraceFormat::Aifbench => (parse_aifbench(text)?, 0),
        TraceFormat::Mooncake => (parse_mooncake(text)?, 0),
        TraceFormat::Burstgpt => parse_burstgpt(text)?,
    };
    let total = parsed.len();
    let kept = select(parsed, spec);
    if kept.is_empty() {
        return Err(format!(
            "no request to replay: the file holds {total} usable requests, none inside startOffset/maxDuration"
        ));
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let entries = kept
        .iter()
        .map(|e| Entry {
            prompt: Prompt::Text(prompt(e, seed, &mut rng)),
            max_tokens: Some(e.output_tokens),
        })
        .collect();
    Ok(Trace {
        offsets: offsets(&kept, spec.speed).into(),
        entries,
        skipped,
    })
}

/// Checks `spec`, reads its file and builds the trace; every error names the
/// setting (`workload.openai.trace.<field>`) and what is right.
pub fn load(spec: &TraceSpec, seed: u64) -> Result<Trace, WorkloadError> {
    if let Some((field, problem)) = spec.problems(AT).into_iter().next() {
        return Err(WorkloadError::InvalidConfig(format!("{field}: {problem}")));
    }
    let path = &spec.path;
    let text = std::fs::read_to_string(path).map_err(|e| {
        WorkloadError::InvalidConfig(format!("{AT}.path: cannot read the trace {path}: {e}"))
    })?;
    let trace = build(&text, spec, seed).map_err(|e| {
        WorkloadError::InvalidConfig(format!(
            "{AT}: {path} (format {}): {e}",
            spec.format.as_str()
        ))
    })?;
    tracing::info!(
        path = %path,
        format = spec.format.as_str(),
        speed = spec.speed,
        requests = trace.entries.len(),
        skipped = trace.skipped,
        span_s = trace.span().as_secs_f64(),
        "trace loaded"
    );
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::duration::Duration as SpecDuration;

    fn entry(at_ms: u64, input: u32, output: u32) -> TraceEntry {
        TraceEntry {
            at: Duration::from_millis(at_ms),
            input_tokens: input,
            output_tokens: output,
            hash_ids: Vec::new(),
        }
    }

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn offsets_are_arrival_times_from_the_first_divided_by_speed() {
        let e = [entry(1000, 1, 1), entry(1500, 1, 1), entry(3000, 1, 1)];
        assert_eq!(offsets(&e, 1.0), [ms(0), ms(500), ms(2000)]);
        assert_eq!(offsets(&e, 2.0), [ms(0), ms(250), ms(1000)]);
        assert_eq!(offsets(&e, 0.5), [ms(0), ms(1000), ms(4000)]);
        assert!(offsets(&[], 1.0).is_empty());
    }

    #[test]
    fn select_sorts_and_applies_offset_window_and_count() {
        let all = vec![
            entry(300, 3, 1),
            entry(0, 0, 1),
            entry(100, 1, 1),
            entry(200, 2, 1),
        ];
        let lens = |v: Vec<TraceEntry>| v.iter().map(|e| e.input_tokens).collect::<Vec<_>>();
        let spec = TraceSpec::default();
        assert_eq!(lens(select(all.clone(), &spec)), [0, 1, 2, 3]);
        let spec = TraceSpec {
            start_offset: Some(SpecDuration::from_millis(100)),
            max_duration: Some(SpecDuration::from_millis(200)),
            ..TraceSpec::default()
        };
        assert_eq!(lens(select(all.clone(), &spec)), [1, 2]);
        let spec = TraceSpec {
            max_requests: Some(3),
            ..TraceSpec::default()
        };
        assert_eq!(lens(select(all, &spec)), [0, 1, 2]);
    }

    #[test]
    fn build_gives_one_request_per_line_with_its_lengths() {
        let text = "{\"timestamp\": 2.0, \"input_tokens\": 5, \"output_tokens\": 7}\n\
                    {\"timestamp\": 1.0, \"input_tokens\": 3, \"output_tokens\": 2}\n";
        let spec = TraceSpec {
            speed: 2.0,
            ..TraceSpec::default()
        };
        let t = build(text, &spec, 1).unwrap();
        assert_eq!(&*t.offsets, [ms(0), ms(500)]);
        assert_eq!(t.span(), ms(500));
        let words = |e: &Entry| match &e.prompt {
            Prompt::Text(s) => s.split(' ').count(),
            Prompt::Messages(_) => 0,
        };
        assert_eq!(
            (words(&t.entries[0]), t.entries[0].max_tokens),
            (3, Some(2))
        );
        assert_eq!(
            (words(&t.entries[1]), t.entries[1].max_tokens),
            (5, Some(7))
        );
        assert_eq!(build(text, &spec, 1).unwrap(), t);
        let window = TraceSpec {
            start_offset: Some(SpecDuration::from_secs(5)),
            ..TraceSpec::default()
        };
        assert!(build(text, &window, 1).unwrap_err().contains("no request"));
    }

    #[test]
    fn mooncake_blocks_with_equal_ids_are_equal_text() {
        let a = TraceEntry {
            hash_ids: vec![1, 2],
            ..entry(0, 600, 1)
        };
        let b = TraceEntry {
            hash_ids: vec![1, 3],
            ..entry(0, 520, 1)
        };
        let mut rng = SmallRng::seed_from_u64(0);
        let (pa, pb) = (prompt(&a, 9, &mut rng), prompt(&b, 9, &mut rng));
        let wa: Vec<&str> = pa.split(' ').collect();
        let wb: Vec<&str> = pb.split(' ').collect();
        assert_eq!((wa.len(), wb.len()), (600, 520));
        assert_eq!(wa[..512], wb[..512]);
        assert_ne!(wa[512..520], wb[512..520]);
        // More tokens than blocks: filled with unshared words.
        let c = TraceEntry {
            hash_ids: vec![1],
            ..entry(0, 700, 1)
        };
        assert_eq!(prompt(&c, 9, &mut rng).split(' ').count(), 700);
    }

    #[test]
    fn load_names_the_field_for_bad_settings_and_missing_files() {
        let spec = TraceSpec {
            path: "/nonexistent/trace.jsonl".into(),
            speed: -1.0,
            ..TraceSpec::default()
        };
        let e = load(&spec, 0).unwrap_err().to_string();
        assert!(
            e.contains("workload.openai.trace.speed") && e.contains("above 0"),
            "{e}"
        );
        let spec = TraceSpec { speed: 1.0, ..spec };
        let e = load(&spec, 0).unwrap_err().to_string();
        assert!(
            e.contains("trace.path") && e.contains("/nonexistent/trace.jsonl"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "Time,Request tokens,Response tokens\n1,2,3\n").unwrap();
        let spec = TraceSpec {
            path: path.display().to_string(),
            format: TraceFormat::Burstgpt,
            ..TraceSpec::default()
        };
        let e = load(&spec, 0).unwrap_err().to_string();
        assert!(
            e.contains("format burstgpt") && e.contains("\"Timestamp\""),
            "{e}"
        );
    }
}
