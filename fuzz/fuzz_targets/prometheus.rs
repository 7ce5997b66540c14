//! The Prometheus / OpenMetrics text parser, and what the monitors read
//! from its result: sums, histogram buckets and their quantiles.
#![no_main]

use aifbench::monitor::parse::{histogram_quantile, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse(&text);
    for family in &parsed.families {
        let _ = parsed.find(&family.name);
        let _ = family.sum(&family.name, &[]);
        let buckets = family.histogram_buckets(&[]);
        for q in [0.0, 0.5, 0.99, 1.0, f64::NAN] {
            let _ = histogram_quantile(q, &buckets);
        }
    }
});
