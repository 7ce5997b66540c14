//! Groups the lines of a document into metric families: `HELP` and `TYPE`
//! comments, samples assigned to the family whose type gives their suffix,
//! and timestamps resolved once the format is known.

use std::collections::HashMap;

use super::lexer::{RawTimestamp, parse_name_token, parse_sample, split_word, unescape_help};
use super::model::{MetricFamily, MetricType, ParseError, Parsed, Sample};

/// Per-family bookkeeping that is not part of the output.
#[derive(Debug, Default, Clone, Copy)]
struct FamilyMeta {
    /// A `TYPE` line was seen for this family.
    typed: bool,
}

/// Every suffix that some metric type gives its samples.
const ALL_SUFFIXES: [&str; 8] = [
    "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum", "_info",
];

pub(super) enum Comment {
    Eof,
    Other,
}

#[derive(Default)]
pub(super) struct Builder {
    families: Vec<MetricFamily>,
    meta: Vec<FamilyMeta>,
    index: HashMap<String, usize>,
    errors: Vec<ParseError>,
    /// Samples with an integer timestamp: (family, sample, raw value).
    int_timestamps: Vec<(usize, usize, i64)>,
}

impl Builder {
    pub(super) fn error(&mut self, line: usize, message: String) {
        self.errors.push(ParseError { line, message });
    }

    fn family_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.new_family(name.to_string())
    }

    fn new_family(&mut self, name: String) -> usize {
        let i = self.families.len();
        self.index.insert(name.clone(), i);
        self.families.push(MetricFamily {
            name,
            metric_type: MetricType::Untyped,
            help: None,
            samples: Vec::new(),
        });
        self.meta.push(FamilyMeta::default());
        i
    }

    /// The family a sample called `name` belongs to.
    fn family_for_sample(&mut self, name: &str) -> usize {
        let exact = self.index.get(name).copied();
        if let Some(i) = exact
            && self.meta[i].typed
        {
            return i;
        }
        // `name` is `<family><suffix>` for a declared family of a type that
        // has that suffix.
        for suffix in ALL_SUFFIXES {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(&j) = self.index.get(base)
                && self.meta[j].typed
                && self.families[j].metric_type.suffixes().contains(&suffix)
            {
                return j;
            }
        }
        match exact {
            Some(i) => i,
            None => self.new_family(name.to_string()),
        }
    }

    /// Handles the text after a leading `#`.
    pub(super) fn comment(&mut self, rest: &str) -> Result<Comment, String> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let (keyword, after) = split_word(rest);
        match keyword {
            "EOF" if after.trim_end_matches([' ', '\t']).is_empty() => Ok(Comment::Eof),
            "HELP" | "TYPE" | "UNIT" if after.starts_with([' ', '\t']) => {
                let after = after.trim_start_matches([' ', '\t']);
                let (name, after) =
                    parse_name_token(after).map_err(|e| format!("{keyword} line: {e}"))?;
                if !after.is_empty() && !after.starts_with([' ', '\t']) {
                    return Err(format!(
                        "{keyword} line: unexpected text after the metric name"
                    ));
                }
                let after = after.strip_prefix([' ', '\t']).unwrap_or(after);
                match keyword {
                    "HELP" => self.help(&name, after),
                    "TYPE" => self.type_line(&name, after),
                    _ => Ok(Comment::Other), // UNIT: validated, not kept.
                }
            }
            _ => Ok(Comment::Other),
        }
    }

    fn help(&mut self, name: &str, text: &str) -> Result<Comment, String> {
        let i = self.family_index(name);
        // Keep the first HELP; a repeated one is tolerated.
        if self.families[i].help.is_none() {
            self.families[i].help = Some(unescape_help(text));
        }
        Ok(Comment::Other)
    }

    fn type_line(&mut self, name: &str, text: &str) -> Result<Comment, String> {
        let (word, rest) = split_word(text.trim_start_matches([' ', '\t']));
        if word.is_empty() {
            return Err(format!("TYPE line for {name:?} has no type"));
        }
        if !rest.trim_matches([' ', '\t']).is_empty() {
            return Err(format!(
                "TYPE line for {name:?}: unexpected text after the type"
            ));
        }
        let metric_type: MetricType = word.parse().map_err(|e| format!("{e}"))?;
        let i = self.family_index(name);
        if self.meta[i].typed {
            let declared = self.families[i].metric_type;
            if declared != metric_type {
                return Err(format!(
                    "second TYPE line for {name:?} says {metric_type}, first said {declared}"
                ));
            }
            return Ok(Comment::Other);
        }
        self.families[i].metric_type = metric_type;
        self.meta[i].typed = true;
        Ok(Comment::Other)
    }

    pub(super) fn sample_line(&mut self, line: &str) -> Result<(), String> {
        let parsed = parse_sample(line)?;
        let fam = self.family_for_sample(&parsed.name);
        let sample_idx = self.families[fam].samples.len();
        let timestamp_ms = match parsed.timestamp {
            None => None,
            Some(RawTimestamp::Millis(ms)) => Some(ms),
            Some(RawTimestamp::Integer(v)) => {
                self.int_timestamps.push((fam, sample_idx, v));
                Some(v)
            }
        };
        self.families[fam].samples.push(Sample {
            name: parsed.name,
            labels: parsed.labels,
            value: parsed.value,
            timestamp_ms,
        });
        Ok(())
    }

    pub(super) fn finish(mut self, openmetrics: bool) -> Parsed {
        if openmetrics {
            // Integer timestamps are seconds in OpenMetrics.
            for (f, s, secs) in std::mem::take(&mut self.int_timestamps) {
                if let Some(sample) = self.families.get_mut(f).and_then(|f| f.samples.get_mut(s)) {
                    sample.timestamp_ms = secs.checked_mul(1000);
                }
            }
        }
        Parsed {
            families: self.families,
            errors: self.errors,
        }
    }
}
