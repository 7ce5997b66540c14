//! The SDK client of the S3 workload (its own retries and checksums off,
//! path-style endpoints resolved without the SDK's rule engine) and the
//! classification of its errors into error classes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::SdkError;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::stats::{OpAcc, StatsAcc};
use super::{OpPicker, S3Credentials, S3Executor, failure, short};
use crate::api::workload::{S3Operation, S3Workload};
use crate::workload::WorkloadError;
use crate::workload::record::{ErrorClass, Failure};
use crate::workload::result::OperationStats;
use crate::workload::stats::new_histogram;

/// Classifies an SDK error; `Http(404)` for a missing object.
pub(crate) fn classify<E>(e: &SdkError<E, HttpResponse>) -> Failure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::DispatchFailure(d) => {
            let class = if d.is_timeout() {
                ErrorClass::Timeout
            } else if d.is_io() {
                ErrorClass::Connect
            } else {
                ErrorClass::Other("dispatch")
            };
            let text = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
            failure(class, short(&text))
        }
        SdkError::TimeoutError(_) => failure(ErrorClass::Timeout, "timed out"),
        SdkError::ResponseError(r) => failure(
            ErrorClass::Stream,
            format!("unreadable response (HTTP {})", r.raw().status().as_u16()),
        ),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("unknown");
            failure(ErrorClass::Http(status), format!("HTTP {status} {code}"))
        }
        _ => failure(
            ErrorClass::Other("request"),
            short(&aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
        ),
    }
}

/// Path-style endpoints without the SDK's rule engine: `<base>/<bucket>`.
///
/// The default S3 resolver evaluates the full endpoint rule set (regex
/// matches, URL and IDNA parsing) on every request, twice counting auth
/// scheme resolution, about a sixth of the client's CPU per operation. For
/// a fixed, path-style endpoint the answer is always the same.
#[derive(Debug)]
struct PathStyleEndpoint {
    base: String,
}

impl aws_sdk_s3::config::endpoint::ResolveEndpoint for PathStyleEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        params: &'a aws_sdk_s3::config::endpoint::Params,
    ) -> aws_sdk_s3::config::endpoint::EndpointFuture<'a> {
        let url = match params.bucket() {
            Some(bucket) => format!("{}/{bucket}", self.base),
            None => self.base.clone(),
        };
        aws_sdk_s3::config::endpoint::EndpointFuture::ready(Ok(
            aws_sdk_s3::config::endpoint::Endpoint::builder()
                .url(url)
                .build(),
        ))
    }
}

/// The SDK client of the S3 workload for the endpoint `base_url` with `w`'s
/// region and addressing: no retries (every failed attempt is counted),
/// checksums only where required (the workload checks contents itself), no
/// stalled-stream protection. Shared with the RAG workload's fetch hop.
pub(crate) fn sdk_client(base_url: &str, w: &S3Workload, credentials: &S3Credentials) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let creds = credentials.to_sdk();
    let mut builder = aws_sdk_s3::Config::builder();
    if w.path_style {
        builder = builder.endpoint_resolver(PathStyleEndpoint {
            base: base_url.trim_end_matches('/').to_string(),
        });
    }
    let config = builder
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(w.region.clone()))
        .endpoint_url(base_url.trim_end_matches('/'))
        .force_path_style(w.path_style)
        .credentials_provider(creds)
        .http_client(http)
        // Every failed attempt must be seen and counted.
        .retry_config(RetryConfig::disabled())
        // Integrity is checked end to end by the workload itself.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    Client::from_conf(config)
}

impl S3Executor {
    /// Builds the client for `base_url` (the S3 endpoint).
    pub fn new(
        base_url: &str,
        instance: &str,
        w: &S3Workload,
        credentials: S3Credentials,
        seed: u64,
    ) -> Result<Self, WorkloadError> {
        let picker = OpPicker::new(&w.effective_operations()).ok_or_else(|| {
            WorkloadError::InvalidConfig("s3: no operation has a weight above 0".into())
        })?;
        let client = sdk_client(base_url, w, &credentials);
        let mut ops = BTreeMap::new();
        for o in w.effective_operations() {
            ops.insert(
                o.op,
                OpAcc {
                    stats: OperationStats::default(),
                    ttfb: new_histogram()?,
                    ttlb: new_histogram()?,
                },
            );
        }
        // A get/stat/delete may fall back to a put when no object is there.
        if let std::collections::btree_map::Entry::Vacant(e) = ops.entry(S3Operation::Put) {
            e.insert(OpAcc {
                stats: OperationStats::default(),
                ttfb: new_histogram()?,
                ttlb: new_histogram()?,
            });
        }
        Ok(Self {
            client,
            w: w.clone(),
            instance: instance.to_string(),
            seed,
            picker,
            pool: Mutex::new(Vec::new()),
            next_object: AtomicU64::new(0),
            data_loss: AtomicU64::new(0),
            stats: Mutex::new(StatsAcc {
                ops,
                bytes_read: 0,
                bytes_written: 0,
            }),
        })
    }
}
