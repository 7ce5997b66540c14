//! The pure PromQL helpers against answers a real Prometheus (2.42) gave
//! (tests/fixtures/prometheus/).

use std::time::Duration;

use super::*;

const COUNTER: &str = include_str!("../../../tests/fixtures/prometheus/matrix-counter.json");
const RATE: &str = include_str!("../../../tests/fixtures/prometheus/matrix-rate.json");
const NAN: &str = include_str!("../../../tests/fixtures/prometheus/matrix-nan.json");
const INF: &str = include_str!("../../../tests/fixtures/prometheus/matrix-inf.json");
const EMPTY: &str = include_str!("../../../tests/fixtures/prometheus/matrix-empty.json");
const BAD: &str = include_str!("../../../tests/fixtures/prometheus/error-bad-data.json");

#[test]
fn a_counter_matrix_is_read_series_by_series() {
    let a = parse_range_answer(COUNTER).expect("parses");
    assert_eq!(a.series.len(), 2);
    let length = &a.series[1];
    assert_eq!(length.metric["finished_reason"], "length");
    assert_eq!(length.metric["__name__"], "vllm:request_success_total");
    assert_eq!(length.metric["job"], "aifbench");
    let values: Vec<f64> = length.values.iter().map(|(_, v)| *v).collect();
    assert_eq!(values, [7.0, 13.0, 19.0, 20.0, 20.0]);
    let times: Vec<i64> = length.values.iter().map(|(t, _)| *t).collect();
    assert_eq!(times[0], 1_796_367_236_000);
    assert!(times.windows(2).all(|w| w[1] - w[0] == 2000), "{times:?}");
    assert!(a.warnings.is_empty());
}

#[test]
fn rates_are_fractions() {
    let a = parse_range_answer(RATE).expect("parses");
    assert_eq!(a.series.len(), 1);
    assert!(!a.series[0].metric.contains_key("__name__"));
    assert!((a.series[0].values[0].1 - 1.615_133_333_333_333_3).abs() < 1e-12);
}

#[test]
fn nan_and_infinities_are_kept() {
    let nan = parse_range_answer(NAN).expect("parses");
    assert!(nan.series[0].metric.is_empty());
    assert!(nan.series[0].values.iter().all(|(_, v)| v.is_nan()));
    let inf = parse_range_answer(INF).expect("parses");
    let by_sign: BTreeMap<&str, f64> = inf
        .series
        .iter()
        .map(|s| (s.metric["sign"].as_str(), s.values[0].1))
        .collect();
    assert_eq!(by_sign["plus"], f64::INFINITY);
    assert_eq!(by_sign["minus"], f64::NEG_INFINITY);
}

#[test]
fn an_empty_matrix_is_no_series_not_an_error() {
    assert_eq!(parse_range_answer(EMPTY), Ok(RangeAnswer::default()));
}

#[test]
fn an_error_answer_says_what_prometheus_said() {
    let e = parse_range_answer(BAD).expect_err("an error answer");
    assert_eq!(
        e,
        AnswerError::Prometheus {
            error_type: "bad_data".into(),
            error: "1:35: parse error: unclosed left parenthesis".into(),
        }
    );
    assert!(e.to_string().contains("bad_data: 1:35: parse error"), "{e}");
}

#[test]
fn other_bodies_are_malformed_or_not_a_matrix() {
    assert!(matches!(
        parse_range_answer("<html>502 Bad Gateway</html>"),
        Err(AnswerError::Malformed(_))
    ));
    assert_eq!(
        parse_range_answer(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#),
        Err(AnswerError::NotMatrix("vector".into()))
    );
    assert!(matches!(
        parse_range_answer(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#
        ),
        Err(AnswerError::Malformed(m)) if m.contains("\"x\"")
    ));
    let warned = parse_range_answer(
        r#"{"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[]}}"#,
    )
    .expect("parses");
    assert_eq!(warned.warnings, ["w"]);
}

#[test]
fn the_query_url_keeps_the_prefix_and_encodes_the_query() {
    let u = query_url(
        "http://prom:9090/prometheus/",
        "rate(x{a=\"b\"}[5s])",
        1_700_000_000_250,
        1_700_000_010_000,
        Duration::from_millis(1500),
    )
    .expect("url");
    assert_eq!(u.path(), "/prometheus/api/v1/query_range");
    let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(q["query"], "rate(x{a=\"b\"}[5s])");
    assert_eq!(q["start"], "1700000000.250");
    assert_eq!(q["end"], "1700000010.000");
    assert_eq!(q["step"], "1.5");
    assert!(query_url("nope", "up", 0, 1, Duration::from_secs(1)).is_err());
}

#[test]
fn long_windows_are_split_on_one_grid() {
    let s = Duration::from_secs(1);
    assert_eq!(windows(0, 4000, s), [(0, 4000)]);
    assert_eq!(windows(5, 5, s), [(5, 5)]);
    assert!(windows(10, 5, s).is_empty());
    assert!(windows(0, 10, Duration::ZERO).is_empty());
    let w = windows(0, 25_000_000, s);
    assert_eq!(
        w,
        [
            (0, 9_999_000),
            (10_000_000, 19_999_000),
            (20_000_000, 25_000_000)
        ]
    );
}

#[test]
fn records_hold_one_gauge_per_query_per_evaluation_time() {
    let answers = vec![
        NamedAnswer {
            name: "sim:requests".into(),
            query: "vllm:request_success_total".into(),
            series: parse_range_answer(COUNTER).expect("parses").series,
        },
        NamedAnswer {
            name: "nan".into(),
            query: "0/0".into(),
            series: parse_range_answer(NAN).expect("parses").series,
        },
    ];
    let records = to_records("prometheus", &answers);
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].ts, "2026-12-04T06:53:56Z");
    assert!(records.iter().all(|r| r.target == "prometheus"));
    // NaN is evaluated every 4 s, the counter every 2 s.
    let names: Vec<Vec<&str>> = records
        .iter()
        .map(|r| r.families.iter().map(|f| f.name.as_str()).collect())
        .collect();
    assert_eq!(names[0], ["sim:requests", "nan"]);
    assert_eq!(names[1], ["sim:requests"]);
    let counter = &records[3].families[0];
    assert_eq!(counter.metric_type, MetricType::Gauge);
    assert_eq!(counter.help.as_deref(), Some("vllm:request_success_total"));
    assert_eq!(counter.samples.len(), 2);
    assert_eq!(counter.samples[1].value, 20.0);
    assert_eq!(counter.samples[1].label("finished_reason"), Some("length"));
    assert_eq!(counter.samples[1].timestamp_ms, Some(1_796_367_242_000));
    // Written and read back as the scrapes are, NaN included.
    let line = serde_json::to_string(&records[0]).expect("encodes");
    assert!(line.contains("\"NaN\""), "{line}");
    let back: ParsedRecord = serde_json::from_str(&line).expect("decodes");
    assert!(back.families[1].samples[0].value.is_nan());
}
