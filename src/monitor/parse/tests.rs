use std::collections::BTreeMap;

use super::*;

const VLLM: &str = r#"# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12345.0
python_gc_objects_collected_total{generation="1"} 678.0
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 52340.0
# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 41.5
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 10.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="2.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 18.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 20.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 20.0
# HELP vllm:e2e_request_latency_seconds_created Histogram of end to end request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds_created gauge
vllm:e2e_request_latency_seconds_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7250349581e+09
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0123
"#;

const GARAGE: &str =
    "# HELP api_s3_request_counter Number of API calls to the various S3 API endpoints
# TYPE api_s3_request_counter counter
api_s3_request_counter{api_endpoint=\"GetObject\"} 1021
api_s3_request_counter{api_endpoint=\"PutObject\"} 517
# HELP api_s3_request_duration Duration of API calls to the various S3 API endpoints
# TYPE api_s3_request_duration histogram
api_s3_request_duration_bucket{api_endpoint=\"PutObject\",le=\"0.5\"} 500
api_s3_request_duration_bucket{api_endpoint=\"PutObject\",le=\"1\"} 515
api_s3_request_duration_bucket{api_endpoint=\"PutObject\",le=\"+Inf\"} 517
api_s3_request_duration_sum{api_endpoint=\"PutObject\"} 102.3
api_s3_request_duration_count{api_endpoint=\"PutObject\"} 517
# HELP cluster_healthy Whether all storage nodes are connected
# TYPE cluster_healthy gauge
cluster_healthy 1
";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn one_sample(text: &str) -> Sample {
    let p = parse(text);
    assert!(p.errors.is_empty(), "errors: {:?}", p.errors);
    assert_eq!(p.families.len(), 1, "{:?}", p.families);
    assert_eq!(p.families[0].samples.len(), 1);
    p.families[0].samples[0].clone()
}

#[test]
fn vllm_exposition_groups_histogram_and_keeps_colons() {
    let p = parse(VLLM);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let names: Vec<&str> = p.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "python_gc_objects_collected_total",
            "vllm:num_requests_running",
            "vllm:prompt_tokens_total",
            "vllm:e2e_request_latency_seconds",
            "vllm:e2e_request_latency_seconds_created",
            "vllm:gpu_cache_usage_perc",
        ]
    );
    let h = p.find("vllm:e2e_request_latency_seconds").unwrap();
    assert_eq!(h.metric_type, MetricType::Histogram);
    assert_eq!(
        h.help.as_deref(),
        Some("Histogram of end to end request latency in seconds.")
    );
    assert_eq!(h.samples.len(), 7);
    let inf = &h.samples[5];
    assert_eq!(inf.name, "vllm:e2e_request_latency_seconds_bucket");
    assert_eq!(inf.label("le"), Some("+Inf"));
    assert_eq!(
        inf.label("model_name"),
        Some("meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(inf.value, 20.0);
    assert_eq!(
        h.sum("vllm:e2e_request_latency_seconds_count", &[]),
        Some(20.0)
    );
    // The python client's _created gauge is its own family.
    let created = p.find("vllm:e2e_request_latency_seconds_created").unwrap();
    assert_eq!(created.metric_type, MetricType::Gauge);
    assert_eq!(created.samples[0].value, 1.7250349581e9);

    let buckets = h.histogram_buckets(&[("model_name", "meta-llama/Llama-3.1-8B-Instruct")]);
    assert_eq!(
        buckets,
        [
            (0.3, 0.0),
            (0.5, 2.0),
            (1.0, 10.0),
            (2.5, 18.0),
            (f64::INFINITY, 20.0)
        ]
    );
    // Median: rank 10 falls at the top of the (0.5, 1.0] bucket.
    assert_eq!(histogram_quantile(0.5, &buckets), Some(1.0));
    // p75: rank 15 in (1.0, 2.5] holding 8: 1.0 + 1.5 * 5/8.
    assert_eq!(
        histogram_quantile(0.75, &buckets),
        Some(1.0 + 1.5 * 5.0 / 8.0)
    );
    assert!(h.histogram_buckets(&[("model_name", "other")]).is_empty());
    assert_eq!(
        p.find("vllm:num_requests_running").unwrap().samples[0].value,
        3.0
    );
}

#[test]
fn garage_exposition() {
    let p = parse(GARAGE);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.families.len(), 3);
    let c = p.find("api_s3_request_counter").unwrap();
    assert_eq!(c.metric_type, MetricType::Counter);
    assert_eq!(
        c.sum("api_s3_request_counter", &[("api_endpoint", "PutObject")]),
        Some(517.0)
    );
    assert_eq!(c.sum("api_s3_request_counter", &[]), Some(1538.0));
    assert_eq!(
        c.sum("api_s3_request_counter", &[("api_endpoint", "Nope")]),
        None
    );
    let d = p.find("api_s3_request_duration").unwrap();
    assert_eq!(d.metric_type, MetricType::Histogram);
    assert_eq!(d.samples.len(), 5);
    let b = d.histogram_buckets(&[("api_endpoint", "PutObject")]);
    assert_eq!(b.len(), 3);
    // p99: rank 511.83 in (0.5, 1] holding 15.
    let p99 = histogram_quantile(0.99, &b).unwrap();
    assert!((p99 - (0.5 + 0.5 * (517.0 * 0.99 - 500.0) / 15.0)).abs() < 1e-12);
    let g = p.find("cluster_healthy").unwrap();
    assert!(g.samples[0].labels.is_empty());
    assert_eq!(g.samples[0].value, 1.0);
}

#[test]
fn summary_family() {
    let text = "# HELP rpc_duration_seconds A summary of RPC durations.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile=\"0.01\"} 3102
rpc_duration_seconds{quantile=\"0.5\"} 4773
rpc_duration_seconds{quantile=\"0.99\"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
rpc_duration_seconds_created 1.7e9
";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.families.len(), 1);
    let f = &p.families[0];
    assert_eq!(f.metric_type, MetricType::Summary);
    assert_eq!(f.samples.len(), 6);
    assert_eq!(f.samples[2].label("quantile"), Some("0.99"));
    assert_eq!(f.samples[3].value, 1.7560473e7);
    assert_eq!(f.samples[4].name, "rpc_duration_seconds_count");
    // A summary has no _bucket samples.
    assert!(f.histogram_buckets(&[]).is_empty());
}

#[test]
fn suffix_grouping_respects_the_type() {
    let text = "# TYPE temp gauge
temp_count 3
# TYPE reqs counter
reqs_total 5
reqs_created 1.5e9
reqs_bucket 1
";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let names: Vec<(&str, MetricType, usize)> = p
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.metric_type, f.samples.len()))
        .collect();
    assert_eq!(
        names,
        [
            ("temp", MetricType::Gauge, 0),
            ("temp_count", MetricType::Untyped, 1),
            ("reqs", MetricType::Counter, 2),
            ("reqs_bucket", MetricType::Untyped, 1),
        ]
    );
    // find() falls back to the sample name.
    assert_eq!(p.find("reqs_total").unwrap().name, "reqs");
    assert!(p.find("nope").is_none());
}

#[test]
fn openmetrics_with_eof_exemplars_and_float_timestamps() {
    let text = r#"# TYPE acme_http_router_request_seconds histogram
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_bucket{path="/api/v1",method="GET",le="0.1"} 8 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.067 1520879602.2
acme_http_router_request_seconds_bucket{path="/api/v1",method="GET",le="+Inf"} 10 # {trace_id="oHg5SJYRHA0"} 9.8 1520879604.4
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 10
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607
foo_created 1520430000.123
# TYPE build info
build_info{version="1.2"} 1
# TYPE state stateset
state{state="a"} 1
state{state="b"} 0
# TYPE queue gaugehistogram
queue_bucket{le="1"} 2
queue_bucket{le="+Inf"} 3
queue_gcount 3
queue_gsum 4.5
# TYPE other unknown
other 1
# EOF
"#;
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let h = p.find("acme_http_router_request_seconds").unwrap();
    assert_eq!(h.metric_type, MetricType::Histogram);
    assert_eq!(h.samples.len(), 5);
    assert_eq!(h.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(h.samples[0].value, 8.0);
    assert_eq!(h.samples[1].timestamp_ms, None);
    assert_eq!(h.samples[1].value, 10.0);
    assert_eq!(
        h.help.as_deref(),
        Some("Latency though all of ACME's HTTP request router.")
    );
    let foo = p.find("foo").unwrap();
    assert_eq!(foo.metric_type, MetricType::Counter);
    // Integer timestamps are seconds in OpenMetrics.
    assert_eq!(foo.samples[0].timestamp_ms, Some(1_520_879_607_000));
    assert_eq!(foo.samples[1].name, "foo_created");
    let types: Vec<MetricType> = p.families.iter().map(|f| f.metric_type).collect();
    assert_eq!(
        types,
        [
            MetricType::Histogram,
            MetricType::Counter,
            MetricType::Info,
            MetricType::Stateset,
            MetricType::GaugeHistogram,
            MetricType::Unknown,
        ]
    );
    assert_eq!(p.find("build").unwrap().samples[0].name, "build_info");
    assert_eq!(p.find("state").unwrap().samples.len(), 2);
    assert_eq!(p.find("queue").unwrap().samples.len(), 4);
}

#[test]
fn prometheus_integer_timestamps_are_milliseconds() {
    let s = one_sample("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n");
    assert_eq!(s.timestamp_ms, Some(1_395_066_363_000));
    let s = one_sample("x 1 -5\n");
    assert_eq!(s.timestamp_ms, Some(-5));
    // A fractional timestamp is seconds even without # EOF.
    let s = one_sample("x 1 1.5\n");
    assert_eq!(s.timestamp_ms, Some(1500));
}

#[test]
fn content_after_eof_is_reported() {
    let p = parse("a 1\n# EOF\nb 2\nc 3\n");
    assert_eq!(p.families.len(), 1);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 3);
}

#[test]
fn label_value_escapes() {
    let s = one_sample(
        r#"msg{path="C:\\dir\\file",quote="say \"hi\"",nl="a\nb",other="x\ty",utf="héllo ✓"} 1"#,
    );
    assert_eq!(s.label("path"), Some(r"C:\dir\file"));
    assert_eq!(s.label("quote"), Some(r#"say "hi""#));
    assert_eq!(s.label("nl"), Some("a\nb"));
    // Unknown escapes are kept as written.
    assert_eq!(s.label("other"), Some(r"x\ty"));
    assert_eq!(s.label("utf"), Some("héllo ✓"));
    // A '}' or ',' or ' # ' inside a value is just text.
    let s = one_sample(r#"m{a="x}, # y",b=""} 2"#);
    assert_eq!(s.label("a"), Some("x}, # y"));
    assert_eq!(s.label("b"), Some(""));
}

#[test]
fn help_escapes() {
    let p = parse("# HELP m Line one\\nline two with \\\\ backslash\n# TYPE m gauge\nm 1\n");
    assert_eq!(
        p.families[0].help.as_deref(),
        Some("Line one\nline two with \\ backslash")
    );
    let p = parse("# HELP m\nm 1\n");
    assert_eq!(p.families[0].help.as_deref(), Some(""));
    assert_eq!(p.families[0].metric_type, MetricType::Untyped);
}

#[test]
fn empty_label_sets_trailing_commas_and_spacing() {
    let s = one_sample("up{} 1\n");
    assert!(s.labels.is_empty());
    let s = one_sample("up{job=\"a\",} 1\n");
    assert_eq!(s.labels, labels(&[("job", "a")]));
    let s = one_sample("  up { job = \"a\" , instance=\"b\" }\t1\r\n");
    assert_eq!(s.labels, labels(&[("job", "a"), ("instance", "b")]));
    let s = one_sample("up{job=\"a\"}1\n");
    assert_eq!(s.value, 1.0);
}

#[test]
fn special_and_exponent_values() {
    let text = "a NaN\nb +Inf\nc -Inf\nd 1.5e-3\ne -2E+2\nf Inf\ng 0x\n";
    let p = parse(text);
    let v: Vec<f64> = p.families.iter().map(|f| f.samples[0].value).collect();
    assert!(v[0].is_nan());
    assert_eq!(
        v[1..],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.5e-3,
            -200.0,
            f64::INFINITY
        ]
    );
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, 7);
}

#[test]
fn untyped_samples_and_comments() {
    let text = "# just a comment\n#another\n\nfoo 1\n# TYPE bar untyped\nbar{x=\"y\"} 2\n";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.families.len(), 2);
    assert_eq!(p.families[0].name, "foo");
    assert_eq!(p.families[0].metric_type, MetricType::Untyped);
    assert_eq!(p.families[0].help, None);
    assert_eq!(p.families[1].metric_type, MetricType::Untyped);
}

#[test]
fn quoted_utf8_names() {
    let text = "# TYPE \"my.metric\" gauge\n{\"my.metric\", \"le.x\"=\"1\", job=\"j\"} 3\n";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.families.len(), 1);
    let f = &p.families[0];
    assert_eq!(f.metric_type, MetricType::Gauge);
    assert_eq!(f.samples[0].name, "my.metric");
    assert_eq!(f.samples[0].labels, labels(&[("le.x", "1"), ("job", "j")]));
}

#[test]
fn garbage_lines_are_errors_with_line_numbers() {
    let text = "good_a 1
bad line here
good_b{x=\"1\"} 2
good_c{x=\"1\" 3
{x=\"1\"} 4
9name 5
good_d 6 7 8
good_e{x=\"1\",x=\"2\"} 9
# TYPE good_f nonsense
good_f 10
good_g{x=1} 11
good_h
good_i 12 notatime
# TYPE good_f gauge
# TYPE good_f counter
good_j 13
";
    let p = parse(text);
    let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        [2, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15],
        "{:#?}",
        p.errors
    );
    let names: Vec<&str> = p.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["good_a", "good_b", "good_f", "good_j"]);
    assert_eq!(p.find("good_f").unwrap().metric_type, MetricType::Gauge);
    assert_eq!(p.find("good_j").unwrap().samples[0].value, 13.0);
    // Messages say what went wrong.
    assert!(
        p.errors[2].message.contains("without a metric name"),
        "{}",
        p.errors[2]
    );
    assert!(
        p.errors[5].message.contains("duplicate label"),
        "{}",
        p.errors[5]
    );
    assert!(p.errors[6].message.contains("nonsense"), "{}", p.errors[6]);
    assert!(
        p.errors[10].message.contains("second TYPE"),
        "{}",
        p.errors[10]
    );
    assert_eq!(
        p.errors[0].to_string(),
        format!("line 2: {}", p.errors[0].message)
    );
}

#[test]
fn empty_input() {
    assert_eq!(parse(""), Parsed::default());
    assert_eq!(parse("\n\n  \n"), Parsed::default());
}

#[test]
fn never_panics_on_truncated_prefixes() {
    let doc = format!(
        "{VLLM}{GARAGE}# TYPE u unknown\nq{{a=\"\\\\\\\"\\n✓\"}} 1 2 # {{t=\"1\"}} 3\n{{\"x.y\",z=\"w\"}} 1\n# EOF\n"
    );
    let full_lines = doc.lines().count();
    for (i, _) in doc.char_indices() {
        let prefix = &doc[..i];
        let p = parse(prefix);
        let n_lines = prefix.split('\n').count();
        assert!(p.errors.iter().all(|e| e.line >= 1 && e.line <= n_lines));
        // A prefix cut mid-line has at most one bad line (the last); the
        // document itself has none.
        assert!(p.errors.len() <= 1, "prefix {i}: {:?}", p.errors);
    }
    let p = parse(&doc);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(full_lines > 30);
}

#[test]
fn never_panics_on_random_input() {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let alphabet: Vec<char> = "ab_:{}=\",\\ #\n\t\r0123456789.eE+-InfNaé✓ TYPEHELPUNITEOF"
        .chars()
        .collect();
    for _ in 0..3000 {
        let len = rng.random_range(0..120);
        // Raw bytes, made valid UTF-8 the lossy way.
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        // Strings of the format's own punctuation reach deeper paths.
        let text: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        let p = parse(&text);
        let n_lines = text.split('\n').count();
        assert!(p.errors.iter().all(|e| e.line >= 1 && e.line <= n_lines));
    }
}

#[test]
fn histogram_quantile_semantics() {
    let b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
    assert_eq!(histogram_quantile(0.5, &b), Some(1.0));
    assert_eq!(histogram_quantile(0.25, &b), Some(0.5));
    assert_eq!(histogram_quantile(0.75, &b), Some(1.5));
    assert_eq!(histogram_quantile(1.0, &b), Some(2.0));
    assert_eq!(histogram_quantile(-0.1, &b), Some(f64::NEG_INFINITY));
    assert_eq!(histogram_quantile(1.1, &b), Some(f64::INFINITY));
    assert_eq!(histogram_quantile(f64::NAN, &b), None);
    // Unsorted input is sorted; rank in the +Inf bucket gives the second
    // highest bound.
    let b = [(f64::INFINITY, 30.0), (2.0, 20.0), (1.0, 10.0)];
    assert_eq!(histogram_quantile(0.9, &b), Some(2.0));
    // Non-positive lowest bound is returned as is.
    let b = [(-1.0, 5.0), (0.0, 10.0), (f64::INFINITY, 10.0)];
    assert_eq!(histogram_quantile(0.2, &b), Some(-1.0));
    // Duplicate bounds are merged (summed).
    let b = [
        (1.0, 5.0),
        (1.0, 5.0),
        (f64::INFINITY, 10.0),
        (f64::INFINITY, 10.0),
    ];
    // Merged: (1, 10), (+Inf, 20); rank 5 is halfway into the first bucket.
    assert_eq!(histogram_quantile(0.25, &b), Some(0.5));
    // Non-monotonic counts are flattened: (2, 5) becomes (2, 10).
    let b = [(1.0, 10.0), (2.0, 5.0), (3.0, 20.0), (f64::INFINITY, 20.0)];
    assert_eq!(histogram_quantile(0.75, &b), Some(2.5));
    // No answer.
    assert_eq!(histogram_quantile(0.5, &[]), None);
    assert_eq!(histogram_quantile(0.5, &[(f64::INFINITY, 3.0)]), None);
    assert_eq!(histogram_quantile(0.5, &[(1.0, 1.0), (2.0, 3.0)]), None);
    assert_eq!(
        histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
        None
    );
}

#[test]
fn json_round_trip_keeps_nan_and_infinities() {
    let p = parse("a{le=\"+Inf\"} NaN\nb +Inf 1000\nc -Inf\nd 2.5\n");
    let json = serde_json::to_string(&p.families).unwrap();
    assert!(json.contains(r#""value":"NaN""#), "{json}");
    assert!(
        json.contains(r#""value":"+Inf","timestamp_ms":1000"#),
        "{json}"
    );
    assert!(json.contains(r#""value":"-Inf""#), "{json}");
    assert!(json.contains(r#""value":2.5"#), "{json}");
    assert!(json.contains(r#""type":"untyped""#), "{json}");
    assert!(!json.contains("timestamp_ms\":null"), "{json}");
    let back: Vec<MetricFamily> = serde_json::from_str(&json).unwrap();
    assert!(back[0].samples[0].value.is_nan());
    assert_eq!(back[1..], p.families[1..]);
    // Integers and numeric strings are accepted too.
    let s: Sample = serde_json::from_str(r#"{"name":"x","labels":{},"value":3}"#).unwrap();
    assert_eq!(s.value, 3.0);
    let s: Sample = serde_json::from_str(r#"{"name":"x","labels":{},"value":"1e3"}"#).unwrap();
    assert_eq!(s.value, 1000.0);
    assert!(serde_json::from_str::<Sample>(r#"{"name":"x","labels":{},"value":"lots"}"#).is_err());
    let t: MetricType = serde_json::from_str("\"gaugehistogram\"").unwrap();
    assert_eq!(t, MetricType::GaugeHistogram);
}

#[test]
fn metric_type_words() {
    for t in [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
        MetricType::Info,
        MetricType::Stateset,
        MetricType::GaugeHistogram,
        MetricType::Unknown,
    ] {
        assert_eq!(t.as_str().parse::<MetricType>().unwrap(), t);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            format!("\"{}\"", t.as_str())
        );
    }
    assert!("timer".parse::<MetricType>().is_err());
}
