//! The floor under any client that timestamps every streamed token as it
//! arrives: one blocking socket, one read per arrival, a clock read after each,
//! and no HTTP, SSE or JSON work at all. `benches/peers.sh` runs it beside
//! aifbench and the peer tools, so that their client CPU per request can be
//! read against what the kernel alone costs for the same stream.
//!
//! ```text
//! cargo run --release --example stream_floor -- 127.0.0.1:18805 2000 [chat]
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or("usage: stream_floor HOST:PORT REQUESTS [chat]")?;
    let requests: u64 = args.next().ok_or("missing REQUESTS")?.parse()?;
    let chat = args.next().as_deref() == Some("chat");
    let prompt = (0..16)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (path, body) = if chat {
        (
            "/v1/chat/completions",
            format!(
                r#"{{"model":"sim-model","messages":[{{"role":"user","content":"{prompt}"}}],"max_tokens":32,"ignore_eos":true,"stream":true,"stream_options":{{"include_usage":true}}}}"#
            ),
        )
    } else {
        (
            "/v1/completions",
            format!(
                r#"{{"model":"sim-model","prompt":"{prompt}","max_tokens":32,"ignore_eos":true,"stream":true,"stream_options":{{"include_usage":true}}}}"#
            ),
        )
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = TcpStream::connect(&addr)?;
    tcp.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut reads, mut last) = (0u64, Instant::now());
    for _ in 0..requests {
        tcp.write_all(request.as_bytes())?;
        // The response is chunked; it ends with the zero-length chunk.
        let mut tail = [0u8; 5];
        loop {
            let n = tcp.read(&mut buf)?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            last = Instant::now();
            reads += 1;
            if n >= 5 {
                tail.copy_from_slice(&buf[n - 5..n]);
            } else {
                tail.rotate_left(n);
                tail[5 - n..].copy_from_slice(&buf[..n]);
            }
            if &tail == b"0\r\n\r\n" {
                break;
            }
        }
    }
    eprintln!(
        "{requests} requests, {:.1} reads per request (last at {last:?})",
        reads as f64 / requests as f64
    );
    Ok(())
}
