//! The server-sent events reader and the OpenAI payload reader behind it:
//! the stream split at a fuzzed point gives the same events as in one piece,
//! and every event's data goes through the streamed-response accumulator;
//! the whole input also goes through the non-streamed response reader.
#![no_main]

use aifbench::workload::openai::{StreamAccumulator, parse_response, whole_answer};
use aifbench::workload::sse::SseParser;
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|data: &[u8]| {
    let (split, body) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s), rest),
        None => return,
    };
    let mut whole = SseParser::new();
    let mut events = whole.feed(body);
    events.extend(whole.finish());

    let at = split.min(body.len());
    let mut parts = SseParser::new();
    let mut pieces = parts.feed(&body[..at]);
    pieces.extend(parts.feed(&body[at..]));
    pieces.extend(parts.finish());
    assert_eq!(events, pieces, "split at {at}");

    let mut acc = StreamAccumulator::new();
    for e in &events {
        if acc.on_event(&e.data, Instant::now()).is_err() {
            break;
        }
    }
    let _ = acc.finish(Instant::now());
    let _ = parse_response(body, Instant::now());
    let _ = whole_answer(body);
});
