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
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` belongs to it.
    after_cr: bool,
    /// Fields of the event being built.
    data: Option<String>,
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
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// Ends the stream: an event left without its terminating blank line is
    /// dispatched too (lenient towards servers that omit it).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.end_line(&mut out);
        out.pop()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        let line = String::from_utf8_lossy(&line);
        if line.starts_with(':') {
            return; // comment
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields do not matter here
        }
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
    fn finish_dispatches_an_unterminated_event() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: [DONE]").is_empty());
        assert_eq!(p.finish().map(|e| e.data), Some("[DONE]".to_string()));
        let mut p = SseParser::new();
        assert!(p.feed(b"data: x\n").is_empty());
        assert_eq!(p.finish().map(|e| e.data), Some("x".to_string()));
    }
}
