//! Parser for the Prometheus text exposition format 0.0.4 and the
//! OpenMetrics 1.0 text format.
//!
//! Pure and I/O-free: [`parse`] makes one pass over the text, line by line,
//! without regular expressions. It is lenient where real exporters are sloppy
//! (trailing commas in label sets, blank lines, `\r\n` line ends, repeated
//! identical `HELP`/`TYPE` lines) and never panics: a malformed line becomes a
//! [`ParseError`] carrying its 1-based line number, and parsing goes on with
//! the next line.
//!
//! Samples are grouped into [`MetricFamily`]s by their `# TYPE` line, so
//! `foo_bucket`, `foo_sum` and `foo_count` all land in the histogram family
//! `foo`; a sample whose family has no `TYPE` goes into an
//! [`MetricType::Untyped`] family named after the sample.
//!
//! Timestamps are integer milliseconds in format 0.0.4 and (possibly
//! fractional) seconds in OpenMetrics; both are returned as milliseconds. A
//! document is taken to be OpenMetrics when it contains `# EOF`; a timestamp
//! written with a fraction or an exponent is always read as seconds.
//!
//! This file holds the line loop ([`parse`]); `model` the output types
//! ([`Parsed`], [`MetricFamily`], [`Sample`], [`MetricType`],
//! [`ParseError`]), `builder` how comments and samples are grouped into
//! families, `lexer` how one line is read (names, label sets, quoted
//! strings, values, timestamps), `quantile` PromQL's
//! [`histogram_quantile`], and [`float_json`] the serde helper for
//! non-finite floats.

mod builder;
pub mod float_json;
mod lexer;
mod model;
mod quantile;
#[cfg(test)]
mod tests;

use self::builder::{Builder, Comment};
pub use self::model::{MetricFamily, MetricType, ParseError, Parsed, Sample, UnknownMetricType};
pub use self::quantile::histogram_quantile;

/// Parses a Prometheus 0.0.4 or OpenMetrics 1.0 text exposition.
pub fn parse(text: &str) -> Parsed {
    let mut b = Builder::default();
    let mut eof_line: Option<usize> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_start_matches([' ', '\t']);
        if line.trim_end_matches([' ', '\t']).is_empty() {
            continue;
        }
        if let Some(eof) = eof_line {
            b.error(
                lineno,
                format!("content after \"# EOF\" (line {eof}); rest of the document ignored"),
            );
            break;
        }
        let result = if let Some(comment) = line.strip_prefix('#') {
            match b.comment(comment) {
                Ok(Comment::Eof) => {
                    eof_line = Some(lineno);
                    Ok(())
                }
                Ok(Comment::Other) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            b.sample_line(line)
        };
        if let Err(message) = result {
            b.error(lineno, message);
        }
    }
    b.finish(eof_line.is_some())
}
