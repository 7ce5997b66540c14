//! Helpers shared by the integration tests that read a Benchmark's status
//! or search the operator's logs.
// Each test crate uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use aifbench::sim::{SimConfig, SimError, serve};

/// The one results folder `aifbench run` made in `workspace`.
pub fn results_dir(workspace: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// A JSON file, parsed; panics naming the file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// `KEY=value` lines of `scripts/setup-llm.sh`'s env file
/// (`$AIFB_LLM_ENV`, default `/var/tmp/aifbench-tools/llm.env`; values as
/// `printf %q` writes plain paths: unquoted). Panics saying to run the
/// setup script when it is missing.
pub fn llm_env() -> Vec<(String, String)> {
    let path = std::env::var("AIFB_LLM_ENV")
        .unwrap_or_else(|_| "/var/tmp/aifbench-tools/llm.env".to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}: run scripts/setup-llm.sh first (tests/run-all.sh does)")
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The condition of type `t` in a status object; panics naming it when absent.
pub fn condition<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap_or_else(|| panic!("no {t} condition in {status:#}"))
}

/// The component `id` in a status object; panics naming it when absent.
pub fn component<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no component {id} in {status:#}"))
}

/// Every log line (TRACE and up) the current thread writes while the guard
/// returned by [`Logs::capture`] lives.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Starts capturing on this thread; stops when the guard is dropped.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// What was captured so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fast simulator on a free loopback port (TTFT 2 ms, a token every 1 ms,
/// 4 tokens): its URL, the token that stops it, and its task.
pub async fn start_sim() -> (String, CancellationToken, JoinHandle<Result<(), SimError>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    let config = SimConfig {
        ttft: Duration::from_millis(2),
        itl: Duration::from_millis(1),
        output_tokens: 4,
        ..Default::default()
    };
    let server = tokio::spawn(serve(listener, config, async move { s.cancelled().await }));
    (format!("http://{addr}"), stop, server)
}
