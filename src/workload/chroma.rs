//! The Chroma workload over its HTTP API v2: (re)create a collection, add
//! seeded random embeddings in batches, then send top-k queries (optionally
//! filtered on a metadata group) under the shared load model.
//!
//! [`ChromaApi`] holds the HTTP calls (recreate a collection, add, query,
//! count), shared with the RAG workload's search hop.
//!
//! Recall@k is measured on a sample of the measured queries: their returned
//! ids are kept and compared, after the run, with exact (brute-force, squared
//! L2 — Chroma's default space) search over the same vectors, with the same
//! filter. Speed is therefore never reported without quality.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::WorkloadError;
use super::load::{Executor, RequestContext};
use super::record::{ErrorClass, Failure, Outcome, Success, TokenSource};
use super::result::{OperationStats, RecallStats, SetupStats};
use crate::api::workload::ChromaWorkload;

// ---------------------------------------------------------------------------
// Pure parts: vectors, exact search, recall.
// ---------------------------------------------------------------------------

/// The `count` vectors of `dim` dimensions for `seed`, row-major, uniform
/// in [-1, 1).
pub fn dataset(seed: u64, count: u32, dim: u32) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..u64::from(count) * u64::from(dim))
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

/// Query `index` for `seed`: a vector and the group drawn for filtering.
pub fn query(seed: u64, index: u64, dim: u32, groups: u32) -> (Vec<f32>, u32) {
    let mut rng =
        SmallRng::seed_from_u64(seed ^ 0x0005_eed0_f9e7 ^ index.wrapping_mul(0x9E37_79B9));
    let v = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let g = rng.random_range(0..groups.max(1));
    (v, g)
}

fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Exact top-`k` (smallest squared L2) over `data`, restricted to vectors
/// whose index modulo `groups` is `group` when a group is given.
pub fn exact_top_k(
    data: &[f32],
    dim: u32,
    q: &[f32],
    k: u32,
    filter: Option<(u32, u32)>,
) -> Vec<u64> {
    let dim = dim as usize;
    let mut scored: Vec<(f32, u64)> = data
        .chunks_exact(dim.max(1))
        .enumerate()
        .filter(|(i, _)| {
            filter.is_none_or(|(group, groups)| {
                (*i as u64) % u64::from(groups.max(1)) == u64::from(group)
            })
        })
        .map(|(i, v)| (squared_l2(v, q), i as u64))
        .collect();
    let k = (k as usize).min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
    scored.truncate(k);
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// |returned ∩ exact| / |exact|; 1 when exact is empty.
pub fn recall(returned: &[u64], exact: &[u64]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let set: HashSet<u64> = exact.iter().copied().collect();
    let hits = returned.iter().filter(|id| set.contains(id)).count();
    hits as f64 / exact.len() as f64
}

fn id_of(i: u64) -> String {
    format!("v{i}")
}

fn parse_id(s: &str) -> Option<u64> {
    s.strip_prefix('v')?.parse().ok()
}

// ---------------------------------------------------------------------------
// HTTP.
// ---------------------------------------------------------------------------

/// A query kept for the recall measurement.
#[derive(Clone, Debug)]
struct Sample {
    index: u64,
    returned: Vec<u64>,
}

/// The Chroma HTTP API v2 under one tenant and database: the calls the
/// chroma workload and the RAG workload's search hop make.
#[derive(Clone, Debug)]
pub struct ChromaApi {
    http: reqwest::Client,
    base: String,
}

/// The collection name of `prefix` for instance `instance`:
/// `<prefix>-<instance>`, limited to Chroma's 63 characters of
/// `[a-zA-Z0-9._-]`.
pub fn collection_name(prefix: &str, instance: &str) -> String {
    format!("{prefix}-{instance}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}

impl ChromaApi {
    /// A client of the server at `base_url`, for `tenant` and `database`,
    /// with `timeout` per request.
    pub fn new(
        base_url: &str,
        tenant: &str,
        database: &str,
        timeout: Duration,
    ) -> Result<Self, WorkloadError> {
        let http = crate::tls::client_builder()
            .timeout(timeout)
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(WorkloadError::HttpClient)?;
        let base = format!(
            "{}/api/v2/tenants/{tenant}/databases/{database}",
            base_url.trim_end_matches('/'),
        );
        Ok(Self { http, base })
    }

    async fn post(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, WorkloadError> {
        let r = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| WorkloadError::Request(format!("POST {url}: {e}")))?;
        if !r.status().is_success() {
            let status = r.status();
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(WorkloadError::Request(format!(
                "POST {url}: HTTP {status}: {text}"
            )));
        }
        Ok(r)
    }

    /// Deletes collection `name` if it exists and creates it again; its id.
    pub async fn recreate(&self, name: &str) -> Result<String, WorkloadError> {
        // A missing collection is fine here.
        let _ = self
            .http
            .delete(format!("{}/collections/{name}", self.base))
            .send()
            .await
            .map_err(|e| {
                WorkloadError::Request(format!("cannot reach Chroma at {}: {e}", self.base))
            })?;
        let created: Created = self
            .post(
                &format!("{}/collections", self.base),
                &json!({"name": name, "get_or_create": true}),
            )
            .await?
            .json()
            .await
            .map_err(|e| WorkloadError::Request(format!("collection id: {e}")))?;
        Ok(created.id)
    }

    /// Adds items to collection `id`: `body` holds `ids`, `embeddings` and
    /// optionally `metadatas`.
    pub async fn add(&self, id: &str, body: &serde_json::Value) -> Result<(), WorkloadError> {
        self.post(&format!("{}/collections/{id}/add", self.base), body)
            .await
            .map(|_| ())
    }

    /// Items in collection `id`.
    pub async fn count(&self, id: &str) -> Result<u64, WorkloadError> {
        let url = format!("{}/collections/{id}/count", self.base);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| WorkloadError::Request(format!("GET {url}: {e}")))?;
        r.json()
            .await
            .map_err(|e| WorkloadError::Request(format!("GET {url}: {e}")))
    }

    /// Sends query `body` (`query_embeddings`, `n_results`, ...) to
    /// collection `id`: the ids of the first query's results, nearest
    /// first; failures classified.
    pub async fn query(&self, id: &str, body: &serde_json::Value) -> Result<Vec<String>, Failure> {
        let url = format!("{}/collections/{id}/query", self.base);
        let r = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let status = r.status();
        if !status.is_success() {
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            return Err(Failure::new(
                ErrorClass::Http(status.as_u16()),
                format!("HTTP {status}: {text}"),
            ));
        }
        let parsed: QueryResponse = r.json().await.map_err(|e| classify(&e))?;
        parsed
            .ids
            .into_iter()
            .next()
            .ok_or_else(|| Failure::new(ErrorClass::InvalidPayload, "no result list"))
    }
}

/// Runs Chroma queries; shared by all request tasks of an instance.
pub struct ChromaExecutor {
    api: ChromaApi,
    w: ChromaWorkload,
    collection_name: String,
    collection_id: Mutex<String>,
    data: Vec<f32>,
    samples: Mutex<Vec<Sample>>,
    queries: AtomicU64,
    query_errors: AtomicU64,
}

/// A handle on the executor, cheap to clone.
#[derive(Clone)]
pub struct ChromaHandle(pub Arc<ChromaExecutor>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct QueryResponse {
    ids: Vec<Vec<String>>,
}

fn classify(e: &reqwest::Error) -> Failure {
    let class = if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() {
        ErrorClass::Connect
    } else if e.is_decode() {
        ErrorClass::InvalidPayload
    } else if e.is_body() {
        ErrorClass::Stream
    } else {
        ErrorClass::Other("request")
    };
    Failure::new(class, e.to_string())
}

impl ChromaExecutor {
    /// An executor against the Chroma server at `base_url` for instance
    /// `instance`; generates the dataset (nothing is sent yet).
    pub fn new(base_url: &str, instance: &str, w: &ChromaWorkload) -> Result<Self, WorkloadError> {
        let api = ChromaApi::new(base_url, &w.tenant, &w.database, w.request_timeout.get())?;
        let collection_name = collection_name(&w.collection, instance);
        Ok(Self {
            api,
            w: w.clone(),
            collection_name,
            collection_id: Mutex::new(String::new()),
            data: dataset(w.seed, w.count, w.dimension),
            samples: Mutex::new(Vec::new()),
            queries: AtomicU64::new(0),
            query_errors: AtomicU64::new(0),
        })
    }

    /// Deletes and recreates the collection, then adds the dataset in
    /// batches.
    pub async fn load(&self) -> Result<SetupStats, WorkloadError> {
        let setup = |e: WorkloadError| WorkloadError::Setup(format!("chroma: {e}"));
        let name = &self.collection_name;
        let created = self.api.recreate(name).await.map_err(setup)?;
        *lock(&self.collection_id) = created.clone();
        let started = Instant::now();
        let dim = self.w.dimension as usize;
        let batch = self.w.batch_size.max(1) as usize;
        for (b, rows) in self.data.chunks(dim * batch).enumerate() {
            let first = b * batch;
            let n = rows.len() / dim;
            let ids: Vec<String> = (first..first + n).map(|i| id_of(i as u64)).collect();
            let embeddings: Vec<&[f32]> = rows.chunks_exact(dim).collect();
            let metadatas: Vec<serde_json::Value> = (first..first + n)
                .map(|i| json!({"group": (i as u64) % u64::from(self.w.groups.max(1))}))
                .collect();
            self.api
                .add(
                    &created,
                    &json!({"ids": ids, "embeddings": embeddings, "metadatas": metadatas}),
                )
                .await
                .map_err(setup)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let count = u64::from(self.w.count);
        tracing::info!(collection = %name, vectors = count, seconds = secs, "collection loaded");
        Ok(SetupStats {
            items: count,
            bytes: count * u64::from(self.w.dimension) * 4,
            duration_s: secs,
            items_per_second: if secs > 0.0 { count as f64 / secs } else { 0.0 },
        })
    }

    async fn run_query(&self, index: u64) -> Result<Vec<u64>, Failure> {
        let (v, group) = query(self.w.seed, index, self.w.dimension, self.w.groups);
        let mut body = json!({
            "query_embeddings": [v],
            "n_results": self.w.top_k,
            "include": ["distances"],
        });
        if self.w.filter {
            body["where"] = json!({"group": group});
        }
        let id = lock(&self.collection_id).clone();
        let ids = self.api.query(&id, &body).await?;
        let ids: Option<Vec<u64>> = ids.iter().map(|s| parse_id(s)).collect();
        ids.ok_or_else(|| Failure::new(ErrorClass::InvalidPayload, "unknown id in result"))
    }

    /// Recall@k of the sampled queries against exact search.
    pub fn recall(&self) -> RecallStats {
        let samples = lock(&self.samples).clone();
        let mut sum = 0.0;
        let mut min: f64 = 1.0;
        for s in &samples {
            let (v, group) = query(self.w.seed, s.index, self.w.dimension, self.w.groups);
            let filter = self.w.filter.then_some((group, self.w.groups));
            let exact = exact_top_k(&self.data, self.w.dimension, &v, self.w.top_k, filter);
            let r = recall(&s.returned, &exact);
            sum += r;
            min = min.min(r);
        }
        let n = samples.len();
        RecallStats {
            k: self.w.top_k,
            queries: n as u64,
            mean: if n == 0 { 0.0 } else { sum / n as f64 },
            min: if n == 0 { 0.0 } else { min },
        }
    }

    /// Measured queries, as operation statistics.
    pub fn operations(&self) -> OperationStats {
        OperationStats {
            requests: self.queries.load(Ordering::Relaxed),
            errors: self.query_errors.load(Ordering::Relaxed),
            bytes: 0,
        }
    }
}

impl Executor for ChromaHandle {
    async fn execute(&self, ctx: RequestContext) -> Outcome {
        let me = &self.0;
        let timeout: Duration = me.w.request_timeout.get();
        let r = match tokio::time::timeout(timeout, me.run_query(ctx.index)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(ErrorClass::Timeout, "query timed out")),
        };
        let end = Instant::now();
        match r {
            Ok(ids) => {
                if !ctx.warmup {
                    me.queries.fetch_add(1, Ordering::Relaxed);
                    let mut samples = lock(&me.samples);
                    if (samples.len() as u64) < u64::from(me.w.recall_sample) {
                        samples.push(Sample {
                            index: ctx.index,
                            returned: ids,
                        });
                    }
                }
                Ok(Success {
                    token_times: Vec::new(),
                    first_content: None,
                    end,
                    input_tokens: 0,
                    output_tokens: 0,
                    token_source: TokenSource::Unknown,
                })
            }
            Err(f) => {
                if !ctx.warmup {
                    me.query_errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_and_queries_are_seeded() {
        assert_eq!(dataset(1, 10, 4), dataset(1, 10, 4));
        assert_ne!(dataset(1, 10, 4), dataset(2, 10, 4));
        assert_eq!(dataset(1, 10, 4).len(), 40);
        assert_eq!(query(1, 5, 4, 3), query(1, 5, 4, 3));
        assert_ne!(query(1, 5, 4, 3).0, query(1, 6, 4, 3).0);
    }

    #[test]
    fn exact_search_finds_the_nearest_and_respects_filters() {
        // Points on a line: 0, 1, 2, ..., 9 (dimension 1).
        let data: Vec<f32> = (0..10).map(|i| i as f32).collect();
        assert_eq!(exact_top_k(&data, 1, &[3.2], 3, None), vec![3, 4, 2]);
        // Group 1 of 2: odd indices only.
        assert_eq!(exact_top_k(&data, 1, &[3.2], 2, Some((1, 2))), vec![3, 5]);
        assert_eq!(exact_top_k(&data, 1, &[0.0], 20, None).len(), 10);
    }

    #[test]
    fn recall_counts_overlap() {
        assert_eq!(recall(&[1, 2, 3, 4], &[1, 2, 3, 4]), 1.0);
        assert_eq!(recall(&[1, 2, 9, 8], &[1, 2, 3, 4]), 0.5);
        assert_eq!(recall(&[], &[1]), 0.0);
        assert_eq!(recall(&[], &[]), 1.0);
        assert_eq!(parse_id(&id_of(77)), Some(77));
        assert_eq!(parse_id("x"), None);
    }
}
