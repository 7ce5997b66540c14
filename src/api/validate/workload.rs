//! What clients do and how hard they push: load settings and their bounds,
//! stages, the OpenAI workload's dataset and goodput, and the storage
//! workloads' settings.

use super::Validator;
use super::storage;
use crate::api::limits::{MAX_CONCURRENCY, MAX_INSTANCES, MAX_RATE, MAX_REQUESTS, MAX_STAGES};
use crate::api::spec::ClientSpec;
use crate::api::workload::WorkloadType;

impl Validator {
    pub(super) fn check_client_workload(&mut self, c: &ClientSpec, at: &str) {
        if c.load.stop_at_saturation && !c.workload.kind.stops_at_saturation() {
            self.err(
                format!("{at}.load.stopAtSaturation"),
                format!(
                    "the {} workload does not skip stages past saturation (only openai does); remove it: the summary still says where the sweep saturated",
                    c.workload.kind.as_str()
                ),
            );
        }
        match c.workload.kind {
            WorkloadType::OpenAi => {}
            WorkloadType::S3 => {
                let s3 = c.workload.s3.clone().unwrap_or_default();
                for (field, message) in storage::s3(&s3) {
                    self.err(format!("{at}.workload.s3.{field}"), message);
                }
            }
            WorkloadType::Chroma => {
                let chroma = c.workload.chroma.clone().unwrap_or_default();
                for (field, message) in storage::chroma(&chroma) {
                    self.err(format!("{at}.workload.chroma.{field}"), message);
                }
            }
            WorkloadType::Embeddings => {
                let e = c.workload.embeddings.clone().unwrap_or_default();
                for (field, message) in e.problems(c.load.stages.len()) {
                    self.err(format!("{at}.workload.embeddings.{field}"), message);
                }
                if let Some(p) = length_problem(&e.input_len()) {
                    self.err(format!("{at}.workload.embeddings.inputTokens"), p);
                }
            }
            WorkloadType::Rag => {
                let r = c.workload.rag.clone().unwrap_or_default();
                for (field, message) in r.problems() {
                    self.err(format!("{at}.workload.rag.{field}"), message);
                }
                if r.corpus.path.is_none()
                    && let Some(p) = length_problem(&r.corpus.length_dist())
                {
                    self.err(format!("{at}.workload.rag.corpus.length"), p);
                }
                if !c.load.stages.is_empty() {
                    self.err(
                        format!("{at}.load.stages"),
                        "the rag workload runs one load, not a sweep: use one client per load level",
                    );
                }
            }
        }
        if c.load.concurrency == Some(0) {
            self.err(format!("{at}.load.concurrency"), "must be at least 1");
        }
        if let Some(r) = c.load.rate
            && !(r.is_finite() && r > 0.0)
        {
            self.err(
                format!("{at}.load.rate"),
                format!("{r} is not a positive request rate (requests/s)"),
            );
        }
        if c.load.duration.is_some_and(|d| d.get().is_zero()) {
            self.err(format!("{at}.load.duration"), "must be longer than 0s");
        }
        if c.load.max_requests == Some(0) {
            self.err(
                format!("{at}.load.maxRequests"),
                "must be at least 1 (or omitted)",
            );
        }
        if c.instances == 0 {
            self.err(format!("{at}.instances"), "must be at least 1");
        }
        self.check_bounds(c, at);
        self.check_load_extras(&c.load, &format!("{at}.load"));
        if let Some(o) = &c.workload.openai {
            self.check_openai(o, &format!("{at}.workload.openai"));
        }
    }

    fn check_load_extras(&mut self, load: &crate::api::workload::LoadSpec, at: &str) {
        use crate::api::workload::Arrival;
        if let Some(b) = load.burstiness {
            if !(b.is_finite() && b > 0.0) {
                self.err(
                    format!("{at}.burstiness"),
                    format!("{b} is not positive (1 = Poisson)"),
                );
            } else if load.arrival != Arrival::Gamma {
                self.err(
                    format!("{at}.burstiness"),
                    "only applies to arrival: gamma; set arrival: gamma or remove it",
                );
            }
        }
        if load.arrival != Arrival::Poisson
            && load.rate.is_none()
            && load.stages.iter().all(|s| s.rate.is_none())
        {
            self.err(
                format!("{at}.arrival"),
                "arrivals shape an open loop: also set rate (requests/s)",
            );
        }
        if load.stop_at_saturation && load.stages.len() < 2 {
            self.err(
                format!("{at}.stopAtSaturation"),
                format!(
                    "needs a sweep: two or more load.stages of rising concurrency or rate (found {})",
                    load.stages.len()
                ),
            );
        }
        for (k, st) in load.stages.iter().enumerate() {
            let sat = format!("{at}.stages[{k}]");
            if st.concurrency == Some(0) {
                self.err(format!("{sat}.concurrency"), "must be at least 1");
            }
            if let Some(r) = st.rate
                && !(r.is_finite() && r > 0.0)
            {
                self.err(
                    format!("{sat}.rate"),
                    format!("{r} is not a positive request rate"),
                );
            }
            if st.duration.or(load.duration).is_none()
                && st.max_requests.or(load.max_requests).is_none()
            {
                self.err(
                    sat.clone(),
                    "needs a duration or maxRequests (here or in load), else it never ends",
                );
            }
        }
    }

    fn check_openai(&mut self, o: &crate::api::workload::OpenAiWorkload, at: &str) {
        use crate::api::workload::{DatasetType, LengthDist, TokenizerSource};
        if o.max_tokens == 0 {
            self.err(format!("{at}.maxTokens"), "must be at least 1");
        }
        if let Some(t) = &o.trace {
            for (field, problem) in t.problems(&format!("{at}.trace")) {
                self.err(field, problem);
            }
        }
        let check_len = |v: &mut Self, d: &LengthDist, at: String| {
            if let Some(p) = length_problem(d) {
                v.err(at, p);
            }
        };
        if let Some(d) = &o.dataset {
            if d.num_prompts == 0 {
                self.err(format!("{at}.dataset.numPrompts"), "must be at least 1");
            }
            match d.kind {
                DatasetType::Synthetic | DatasetType::SharedPrefix => {
                    if d.path.is_some() {
                        self.err(
                            format!("{at}.dataset.path"),
                            "a synthetic dataset reads no file; set type: jsonl or sharegpt",
                        );
                    }
                }
                DatasetType::Jsonl | DatasetType::Sharegpt => {
                    if d.path.as_deref().is_none_or(|p| p.trim().is_empty()) {
                        self.err(
                            format!("{at}.dataset.path"),
                            "required for a jsonl or sharegpt dataset",
                        );
                    }
                    if d.input_tokens.is_some() {
                        self.err(
                            format!("{at}.dataset.inputTokens"),
                            "only for type synthetic; file prompts keep their length",
                        );
                    }
                }
            }
            if d.tokenizer == TokenizerSource::Server && d.kind == DatasetType::SharedPrefix {
                self.err(
                    format!("{at}.dataset.tokenizer"),
                    "server counts fit synthetic prompts and count jsonl or sharegpt ones; a sharedPrefix dataset keeps word counts: remove tokenizer",
                );
            }
            if d.tokenizer == TokenizerSource::Server && o.conversation.is_some() {
                self.err(
                    format!("{at}.dataset.tokenizer"),
                    "conversations grow their prompts from the answers, so their lengths are not fitted: remove tokenizer",
                );
            }
            if d.kind == DatasetType::SharedPrefix {
                let sp = d.shared_prefix.clone().unwrap_or_default();
                let here = format!("{at}.dataset.sharedPrefix");
                for (field, problem) in sp.problems(&here, d.num_prompts) {
                    self.err(field, problem);
                }
                if let Some(l) = &sp.suffix_tokens {
                    check_len(self, l, format!("{here}.suffixTokens"));
                }
                if d.input_tokens.is_some() {
                    self.err(
                        format!("{at}.dataset.inputTokens"),
                        "not for type sharedPrefix: set sharedPrefix.prefixTokens and suffixTokens",
                    );
                }
            } else if d.shared_prefix.is_some() {
                self.err(
                    format!("{at}.dataset.sharedPrefix"),
                    "only for type sharedPrefix",
                );
            }
            if let Some(l) = &d.input_tokens {
                check_len(self, l, format!("{at}.dataset.inputTokens"));
            }
            if let Some(l) = &d.output_tokens {
                check_len(self, l, format!("{at}.dataset.outputTokens"));
            }
        }
        if let Some(c) = &o.conversation {
            let here = format!("{at}.conversation");
            for (field, problem) in c.problems(&here) {
                self.err(field, problem);
            }
            if let Some(l) = &c.user_tokens {
                check_len(self, l, format!("{here}.userTokens"));
            }
            if o.api != crate::api::workload::OpenAiApi::Chat {
                self.err(
                    here.clone(),
                    "needs api: chat (the history is sent as a message list)",
                );
            }
            if o.trace.is_some() {
                self.err(
                    here.clone(),
                    "not with trace (a trace gives independent requests)",
                );
            }
            if let Some(d) = &o.dataset
                && !matches!(d.kind, DatasetType::Synthetic | DatasetType::Sharegpt)
            {
                self.err(
                    format!("{at}.dataset.type"),
                    "conversations come from a synthetic (or no) dataset or sharegpt",
                );
            }
        }
        if let Some(g) = &o.goodput
            && g.ttft.is_none()
            && g.tpot.is_none()
            && g.e2el.is_none()
        {
            self.err(
                format!("{at}.goodput"),
                "give at least one of ttft, tpot, e2el",
            );
        }
    }

    /// The limits of `api::limits`, each named in its message.
    fn check_bounds(&mut self, c: &ClientSpec, at: &str) {
        if c.instances > MAX_INSTANCES {
            self.err(
                format!("{at}.instances"),
                format!(
                    "{} is above the limit of {MAX_INSTANCES} instances",
                    c.instances
                ),
            );
        }
        let load = &c.load;
        if load.stages.len() > MAX_STAGES {
            self.err(
                format!("{at}.load.stages"),
                format!(
                    "{} stages are above the limit of {MAX_STAGES}",
                    load.stages.len()
                ),
            );
        }
        let mut sizes = vec![(
            format!("{at}.load"),
            load.concurrency,
            load.rate,
            load.max_requests,
        )];
        for (k, st) in load.stages.iter().enumerate() {
            sizes.push((
                format!("{at}.load.stages[{k}]"),
                st.concurrency,
                st.rate,
                st.max_requests,
            ));
        }
        for (here, concurrency, rate, max_requests) in sizes {
            if let Some(n) = concurrency.filter(|n| *n > MAX_CONCURRENCY) {
                self.err(
                    format!("{here}.concurrency"),
                    format!("{n} is above the limit of {MAX_CONCURRENCY} workers per instance"),
                );
            }
            if let Some(r) = rate.filter(|r| *r > MAX_RATE) {
                self.err(
                    format!("{here}.rate"),
                    format!("{r} is above the limit of {MAX_RATE} requests/s per instance"),
                );
            }
            if let Some(n) = max_requests.filter(|n| *n > MAX_REQUESTS) {
                self.err(
                    format!("{here}.maxRequests"),
                    format!("{n} is above the limit of {MAX_REQUESTS} requests"),
                );
            }
        }
    }
}

/// What is wrong with a length distribution, if anything.
fn length_problem(d: &crate::api::workload::LengthDist) -> Option<String> {
    use crate::api::workload::LengthDistType;
    match d.kind {
        LengthDistType::Fixed if d.value.is_none_or(|x| x == 0) => {
            Some("type fixed needs value >= 1".to_string())
        }
        LengthDistType::Uniform => match (d.min, d.max) {
            (Some(lo), Some(hi)) if lo <= hi && hi > 0 => None,
            (Some(lo), Some(hi)) => Some(format!("min {lo} must not exceed max {hi}")),
            _ => Some("type uniform needs min and max".to_string()),
        },
        LengthDistType::Normal => match (d.mean, d.std) {
            (Some(m), Some(sd)) if m.is_finite() && sd.is_finite() && sd >= 0.0 => None,
            _ => Some("type normal needs mean and std >= 0".to_string()),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::api::load::load_str;

    /// The workload's problems of a client with `workload` (its YAML
    /// after `type: `, e.g. `openai\n        openai: {...}`) and `load`.
    fn workload_paths(workload: &str, load: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: aifbench.io/v1alpha1\nkind: Benchmark\nmetadata: {{name: t}}\nspec:\n  services:\n    - id: sim\n      command: [aifbench, sim]\n  clients:\n    - id: load\n      target: sim\n      workload:\n        type: {workload}\n      load: {load}\n"
        );
        let errs = match load_str(&text, "t.yaml", &|_| None) {
            Ok(l) => super::super::validate(&l.benchmark),
            Err(e) => e.errors,
        };
        // Only the workload's problems (the sketchy service has its own).
        errs.into_iter()
            .map(|e| e.path)
            .filter(|p| p.contains(".workload."))
            .collect()
    }

    fn paths_of(openai: &str) -> Vec<String> {
        workload_paths(
            &format!("openai\n        openai: {openai}"),
            "{maxRequests: 5}",
        )
    }

    fn embeddings_paths(embeddings: &str, load: &str) -> Vec<String> {
        workload_paths(
            &format!("embeddings\n        embeddings: {embeddings}"),
            load,
        )
    }

    #[test]
    fn shared_prefix_settings_are_checked_by_field() {
        let at = "spec.clients[0].workload.openai.dataset";
        assert_eq!(
            paths_of(
                "{dataset: {type: sharedPrefix, numPrompts: 8, sharedPrefix: {groups: 2, prefixTokens: 300}}}"
            ),
            Vec::<String>::new()
        );
        let p = paths_of(
            "{dataset: {type: sharedPrefix, numPrompts: 2, inputTokens: {type: fixed, value: 3}, sharedPrefix: {groups: 4, suffixTokens: {type: uniform, min: 9, max: 3}}}}",
        );
        for want in [
            format!("{at}.sharedPrefix.groups"),
            format!("{at}.sharedPrefix.suffixTokens"),
            format!("{at}.inputTokens"),
        ] {
            assert!(p.contains(&want), "{want} missing in {p:?}");
        }
        let p = paths_of("{dataset: {type: synthetic, sharedPrefix: {groups: 2}}}");
        assert_eq!(p, [format!("{at}.sharedPrefix")]);
    }

    #[test]
    fn conversation_settings_are_checked_by_field() {
        let at = "spec.clients[0].workload.openai";
        assert_eq!(
            paths_of("{conversation: {turns: 4, thinkTime: 1s}}"),
            Vec::<String>::new()
        );
        assert_eq!(
            paths_of("{dataset: {type: sharegpt, path: /s.json}, conversation: {}}"),
            Vec::<String>::new()
        );
        let p = paths_of(
            "{api: completions, dataset: {type: jsonl, path: /p.jsonl}, conversation: {userTokens: {type: uniform, min: 9, max: 3}}}",
        );
        for want in [
            format!("{at}.conversation"),
            format!("{at}.conversation.userTokens"),
            format!("{at}.dataset.type"),
        ] {
            assert!(p.contains(&want), "{want} missing in {p:?}");
        }
    }

    #[test]
    fn rag_settings_are_checked_by_field() {
        let at = "spec.clients[0].workload.rag";
        let rag = |r: &str| workload_paths(&format!("rag\n        rag: {r}"), "{maxRequests: 5}");
        let hops =
            "embed: {url: 'http://e:1'}, vector: {urlEnv: CHROMA}, objects: {url: 'http://s:3900'}";
        assert_eq!(rag(&format!("{{{hops}}}")), Vec::<String>::new());
        let p = rag(&format!(
            "{{{hops}, topK: 9, corpus: {{documents: 4, length: {{type: uniform, min: 9, max: 3}}}}}}"
        ));
        assert_eq!(p, [format!("{at}.topK"), format!("{at}.corpus.length")]);
        let p = rag("{vector: {url: chroma, urlEnv: C}, objects: {keyPrefix: 'a b'}}");
        assert_eq!(
            p,
            [
                format!("{at}.embed.url"),
                format!("{at}.vector.urlEnv"),
                format!("{at}.objects.url"),
                format!("{at}.objects.keyPrefix"),
            ]
        );
    }

    #[test]
    fn embeddings_settings_are_checked_by_field() {
        let at = "spec.clients[0].workload.embeddings";
        let stages =
            "{stages: [{concurrency: 1, maxRequests: 2}, {concurrency: 2, maxRequests: 2}]}";
        assert!(
            embeddings_paths(
                "{batchSize: 4, stageBatchSizes: [1, 8], encodingFormat: base64}",
                stages
            )
            .is_empty()
        );
        assert_eq!(
            embeddings_paths("{stageBatchSizes: [1, 8, 16]}", stages),
            [format!("{at}.stageBatchSizes")]
        );
        assert_eq!(
            embeddings_paths(
                "{apiKeyEnv: K, apiKeyFile: f, inputTokens: {type: uniform, min: 9, max: 3}}",
                "{maxRequests: 5}"
            ),
            [format!("{at}.apiKeyFile"), format!("{at}.inputTokens")]
        );
        // The schema refuses a batch of 0 and unknown formats.
        assert_eq!(
            embeddings_paths("{batchSize: 0}", "{maxRequests: 5}"),
            [format!("{at}.batchSize")]
        );
        assert_eq!(
            embeddings_paths("{encodingFormat: int8}", "{maxRequests: 5}"),
            [format!("{at}.encodingFormat")]
        );
    }
}
