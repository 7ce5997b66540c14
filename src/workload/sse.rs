//! Incremental parser of server-sent events (the `text/event-stream` format):
//! bytes go in as they arrive, complete events come out. Events and lines may
//! be split anywhere across chunks, including inside a UTF-8 character or
//! between the `\r` and `\n` of a line ending.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser.
///
/// Built for the per-token hot path of a streamed LLM response: lines are
/// found with `memchr`, a line that lies wholly inside a chunk is read in
/// place, and the buffers keep their capacity between events, so a stream
/// costs no allocation per event once the first one has been seen.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current line when it spans chunks.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` belongs to it.
    after_cr: bool,
    /// The `data:` lines of the event being built, joined with `\n`.
    data: String,
    /// Whether the event being built has a `data` field (possibly empty).
    has_data: bool,
    /// The `event:` field of the event being built.
    event: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of the stream; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let _ = self.feed_with(chunk, |event, data| {
            out.push(SseEvent {
                event: event.map(str::to_string),
                data: data.to_string(),
            });
            Ok::<(), std::convert::Infallible>(())
        });
        out
    }

    /// Feeds a chunk of the stream and calls `on_event(event, data)` for each
    /// event it completes, without allocating; stops at the first error
    /// `on_event` returns.
    pub fn feed_with<E>(
        &mut self,
        mut chunk: &[u8],
        mut on_event: impl FnMut(Option<&str>, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', chunk) {
            let is_cr = chunk[at] == b'\r';
            if self.line.is_empty() {
                self.end_line(&chunk[..at], &mut on_event)?;
            } else {
                self.line.extend_from_slice(&chunk[..at]);
                let line = std::mem::take(&mut self.line);
                let result = self.end_line(&line, &mut on_event);
                self.line = line;
                self.line.clear();
                result?;
            }
            chunk = &chunk[at + 1..];
            if is_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the stream: an event left without its terminating blank line is
    /// dispatched too (lenient towards servers that omit it).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = None;
        let mut keep = |event: Option<&str>, data: &str| {
            out = Some(SseEvent {
                event: event.map(str::to_string),
                data: data.to_string(),
            });
            Ok::<(), std::convert::Infallible>(())
        };
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let _ = self.end_line(&line, &mut keep);
        }
        let _ = self.end_line(b"", &mut keep);
        out
    }

    fn end_line<E>(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(Option<&str>, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        if line.is_empty() {
            let result = if self.has_data {
                on_event(self.event.as_deref(), &self.data)
            } else {
                Ok(())
            };
            self.has_data = false;
            self.data.clear();
            self.event = None;
            return result;
        }
        if line[0] == b':' {
            return Ok(()); // comment
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(at) => {
                let v = &line[at + 1..];
                (&line[..at], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                push_lossy(&mut self.data, value);
            }
            b"event" => {
                let mut event = self.event.take().unwrap_or_default();
                event.clear();
                push_lossy(&mut event, value);
                self.event = Some(event);
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }
}

/// Appends `bytes` as UTF-8, replacing invalid sequences with U+FFFD.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn whole_events() {
        let mut p = SseParser::new();
        let ev = p.feed(b"data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(data(&ev), ["{\"a\":1}", "[DONE]"]);
        assert_eq!(p.finish(), None);
    }

    #[test]
    fn split_at_every_byte_gives_the_same_events() {
        let text = "data: {\"x\":\"h\u{e9}llo\"}\r\n\r\n: keep-alive\r\n\r\nevent: msg\ndata: a\ndata: b\n\ndata:[DONE]\r\r";
        let mut whole = SseParser::new();
        let expected = whole.feed(text.as_bytes());
        assert_eq!(
            data(&expected),
            ["{\"x\":\"h\u{e9}llo\"}", "a\nb", "[DONE]"]
        );
        assert_eq!(expected[1].event.as_deref(), Some("msg"));
        for split in 0..text.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&text.as_bytes()[..split]);
            got.extend(p.feed(&text.as_bytes()[split..]));
            assert_eq!(got, expected, "split at {split}");
        }
        // One byte at a time.
        let mut p = SseParser::new();
        let got: Vec<_> = text.as_bytes().iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_ending() {
        let mut p = SseParser::new();
        let mut got = p.feed(b"data: 1\r");
        got.extend(p.feed(b"\n\r"));
        got.extend(p.feed(b"\ndata: 2\n\n"));
        assert_eq!(data(&got), ["1", "2"]);
    }

    #[test]
    fn comments_and_empty_events_are_skipped() {
        let mut p = SseParser::new();
        let got = p.feed(b": ping\n\nid: 3\n\nretry: 10\n\ndata\n\n");
        // `data` without a colon is an empty data field.
        assert_eq!(data(&got), [""]);
    }

    #[test]
    fn feed_with_passes_names_and_stops_at_the_first_error() {
        let mut p = SseParser::new();
        let mut seen = Vec::new();
        let r = p.feed_with(
            b"event: a\ndata: 1\n\ndata: 2\n\ndata: 3\n\n",
            |event, data| {
                seen.push((event.map(str::to_string), data.to_string()));
                if data == "2" { Err("stop") } else { Ok(()) }
            },
        );
        assert_eq!(r, Err("stop"));
        assert_eq!(
            seen,
            [
                (Some("a".to_string()), "1".to_string()),
                (None, "2".to_string())
            ]
        );
        // The buffers are reused: a long event, then a short one, come out whole.
        let long = "x".repeat(5000);
        let mut p = SseParser::new();
        let text = format!("data: {long}\n\ndata: y\n\n");
        let (a, b) = text.as_bytes().split_at(2500);
        let mut got = p.feed(a);
        got.extend(p.feed(b));
        assert_eq!(data(&got), [long.as_str(), "y"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut p = SseParser::new();
        let got = p.feed(b"data: a\xffb\n\n");
        assert_eq!(data(&got), ["a\u{fffd}b"]);
    }

    #[test]
    fn finish_dispatches_an_unterminated_event() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: [DONE]").is_empty());
        assert_eq!(p.finish().map(|e| e.data), Some("[DONE]".to_string()));
        let mut p = SseParser::new();
        assert!(p.feed(b"data: x\n").is_empty());
        assert_eq!(p.finish().map(|e| e.data), Some("x".to_string()));
    }
}
