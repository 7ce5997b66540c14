//! After the run: execution deadlines, post-actions, service-level
//! objectives and where results go (`results.s3`).

use std::collections::BTreeSet;

use super::Validator;
use super::names::is_bucket_name;
use crate::api::spec::{Benchmark, ExecutorKind, PostAction};

impl Validator {
    pub(super) fn check_execution(&mut self, b: &Benchmark) {
        let spec = &b.spec;
        let ex = &spec.execution;
        let mut seen = BTreeSet::new();
        for (i, a) in ex.post_actions.iter().enumerate() {
            if !seen.insert(*a) {
                self.err(
                    format!("spec.execution.postActions[{i}]"),
                    format!("{} is listed twice", a.as_str()),
                );
            }
        }
        for (field, d) in [
            ("duration", ex.duration),
            ("runDeadline", ex.run_deadline),
            ("queueDeadline", ex.queue_deadline),
        ] {
            if d.is_some_and(|d| d.get().is_zero()) {
                self.err(
                    format!("spec.execution.{field}"),
                    "must be longer than 0s (or omitted)",
                );
            }
        }
    }

    pub(super) fn check_slo(&mut self, b: &Benchmark) {
        let spec = &b.spec;
        for (i, s) in spec.slo.iter().enumerate() {
            let at = format!("spec.slo[{i}]");
            match (s.metric, s.max, s.max_error_rate) {
                (Some(_), Some(_), None) | (None, None, Some(_)) => {}
                (Some(_), None, _) => self.err(
                    format!("{at}.max"),
                    "a latency objective needs max (e.g. 200ms)",
                ),
                (None, Some(_), _) => self.err(
                    format!("{at}.metric"),
                    "max needs a metric: ttft, itl, tpot or e2el",
                ),
                _ => self.err(at, "give either metric+max or maxErrorRate"),
            }
            if let Some(r) = s.max_error_rate
                && !(0.0..=1.0).contains(&r)
            {
                self.err(
                    format!("spec.slo[{i}].maxErrorRate"),
                    format!("{r} is not a fraction between 0 and 1"),
                );
            }
        }
    }

    pub(super) fn check_results(&mut self, b: &Benchmark) {
        let spec = &b.spec;
        let s3 = spec.results.as_ref().and_then(|r| r.s3.as_ref());
        if let Some(i) = spec
            .execution
            .post_actions
            .iter()
            .position(|a| *a == PostAction::UploadResults)
            && s3.is_none()
        {
            self.err(
                format!("spec.execution.postActions[{i}]"),
                "uploadResults needs spec.results.s3 (bucket, endpoint, credentials)",
            );
        }
        let Some(s3) = s3 else {
            return;
        };
        let at = "spec.results.s3";
        if s3.bucket.is_empty() {
            self.err(
                format!("{at}.bucket"),
                "missing: name the bucket to upload to",
            );
        } else if !is_bucket_name(&s3.bucket) {
            self.err(
                format!("{at}.bucket"),
                format!("{:?} is not a valid bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", s3.bucket),
            );
        }
        if let Some(e) = &s3.endpoint {
            match reqwest::Url::parse(e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    if !u.username().is_empty() || u.password().is_some() {
                        self.err(
                            format!("{at}.endpoint"),
                            "must not contain credentials; use credentials.secretName, file or the environment",
                        );
                    }
                }
                Ok(_) => self.err(
                    format!("{at}.endpoint"),
                    format!("{e:?} is not an http:// or https:// URL with a host"),
                ),
                Err(err) => self.err(
                    format!("{at}.endpoint"),
                    format!("{e:?} is not a URL: {err}"),
                ),
            }
        }
        if s3.region.is_empty() {
            self.err(
                format!("{at}.region"),
                "must not be empty (e.g. us-east-1, garage)",
            );
        }
        let c = &s3.credentials;
        if c.secret_name.as_deref() == Some("") {
            self.err(format!("{at}.credentials.secretName"), "must not be empty");
        }
        if c.access_key_id_env.is_empty() || c.secret_access_key_env.is_empty() {
            self.err(
                format!("{at}.credentials"),
                "accessKeyIdEnv and secretAccessKeyEnv must not be empty",
            );
        }
        let pods = spec.clients.iter().any(|c| c.executor == ExecutorKind::Pod);
        if pods && c.secret_name.is_none() {
            self.err(
                format!("{at}.credentials.secretName"),
                "pod clients upload their results with the keys of a Secret: name it here (keys accessKeyId, secretAccessKey)",
            );
        }
    }
}
