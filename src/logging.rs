//! Logging setup: a console layer plus the spec's `loggers` as files in the
//! results folder (`logs/<id>.jsonl` for json, `logs/<id>.log` for text).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::api::spec::{LogFormat, LoggerSpec};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Colour (ANSI escapes) on the console only when it is a terminal and
/// `NO_COLOR` is not set: a piped `aifbench run | tee log`, and every
/// component's log (children write into pipes), stay plain text.
fn colour(stderr_is_terminal: bool, no_color: bool) -> bool {
    stderr_is_terminal && !no_color
}

/// Installs the global subscriber. `console` is a filter such as `info` or
/// `aifbench=debug` (RUST_LOG overrides it); `json` switches the console
/// to JSON lines. Loggers whose file cannot be created are reported and
/// skipped.
pub fn init(console: &str, json: bool, loggers: &[LoggerSpec], logs_dir: Option<&Path>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(console));
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let console_layer: BoxedLayer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            ))
            .with_filter(filter)
            .boxed()
    };
    layers.push(console_layer);
    let mut problems = Vec::new();
    if let Some(dir) = logs_dir {
        for l in loggers {
            let (name, fmt) = match l.format {
                LogFormat::Json => (format!("{}.jsonl", l.id), LogFormat::Json),
                LogFormat::Text => (format!("{}.log", l.id), LogFormat::Text),
            };
            let path = dir.join(name);
            let file = match std::fs::File::create(&path) {
                Ok(f) => Mutex::new(f),
                Err(e) => {
                    problems.push(format!(
                        "logger {}: cannot create {}: {e}",
                        l.id,
                        path.display()
                    ));
                    continue;
                }
            };
            let level = EnvFilter::new(l.level.as_str());
            let layer: BoxedLayer = match fmt {
                LogFormat::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(file)
                    .with_filter(level)
                    .boxed(),
                LogFormat::Text => tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(file)
                    .with_filter(level)
                    .boxed(),
            };
            layers.push(layer);
        }
    }
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layers).try_init();
    for p in problems {
        tracing::error!("{p}");
    }
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, false));
        assert!(!colour(false, false));
        assert!(!colour(true, true));
    }
}
