//! Kubernetes Events about a Benchmark: the [`Note`]s a reconcile collects
//! (a phase change, a failure, a warning), and their publication, best
//! effort, after the status is written.

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use super::context::Context;
use crate::api::spec::Benchmark;
use crate::api::status::{BenchmarkStatus, Phase, condition};
use crate::operator::slurm::{SlurmCredentials, redact};

/// An Event to publish: Normal or Warning, its reason and its note.
pub(super) struct Note {
    pub(super) normal: bool,
    pub(super) reason: String,
    pub(super) note: String,
}

impl Note {
    /// A Normal event.
    pub(super) fn normal(reason: impl Into<String>, note: impl Into<String>) -> Self {
        Self {
            normal: true,
            reason: reason.into(),
            note: note.into(),
        }
    }

    /// A Warning event.
    pub(super) fn warning(reason: impl Into<String>, note: impl Into<String>) -> Self {
        Self {
            normal: false,
            reason: reason.into(),
            note: note.into(),
        }
    }
}

/// The events of a status change: one per phase change (a Warning with
/// the verdict when the run failed), and a Warning when the verdict turns
/// to failure before the phase does.
pub(super) fn phase_notes(stored: &BenchmarkStatus, new: &BenchmarkStatus) -> Vec<Note> {
    let mut notes = Vec::new();
    if new.phase != stored.phase || new.observed_generation != stored.observed_generation {
        let warn = new.phase == Phase::Failed;
        let verdict = new
            .condition(condition::SUCCEEDED)
            .filter(|c| c.status == "False")
            .map(|c| format!("{}: {}", c.reason, c.message));
        let note = match (warn, verdict) {
            (true, Some(v)) => v,
            _ => new
                .message
                .clone()
                .unwrap_or_else(|| format!("phase {}", new.phase)),
        };
        notes.push(Note {
            normal: !warn,
            reason: new.phase.to_string(),
            note,
        });
    }
    let newly_failed = new
        .condition(condition::SUCCEEDED)
        .filter(|c| c.status == "False")
        .filter(|_| {
            stored
                .condition(condition::SUCCEEDED)
                .is_none_or(|c| c.status != "False")
        });
    if let (Some(c), false) = (newly_failed, new.phase == Phase::Failed) {
        notes.push(Note::warning(c.reason.clone(), c.message.clone()));
    }
    notes
}

/// Publishes the notes in order, the Slurm credentials redacted.
pub(super) async fn publish_all(
    ctx: &Context,
    bm: &Benchmark,
    notes: Vec<Note>,
    creds: Option<&SlurmCredentials>,
    now: Timestamp,
) {
    for n in notes {
        let note = Note {
            note: redact(&n.note, creds),
            ..n
        };
        publish(ctx, bm, &note, now).await;
    }
}

static EVENT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Publishes a Kubernetes Event about the Benchmark (best effort: a failure
/// is logged, never fails the reconcile).
pub(super) async fn publish(ctx: &Context, bm: &Benchmark, n: &Note, now: Timestamp) {
    let ns = bm.namespace().unwrap_or_default();
    let reason = n.reason.as_str();
    let mut note: String = n.note.chars().take(1000).collect();
    if note.is_empty() {
        note = reason.to_string();
    }
    let ev = K8sEvent {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}{:02x}",
                bm.name_any(),
                now.as_nanosecond(),
                EVENT_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 256
            )),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Reconcile".to_string()),
        reason: Some(reason.chars().take(128).collect()),
        note: Some(note),
        type_: Some(if n.normal { "Normal" } else { "Warning" }.to_string()),
        regarding: Some(bm.object_ref(&())),
        reporting_controller: Some("aifbench.io/operator".to_string()),
        reporting_instance: Some(ctx.settings.instance.clone()),
        ..Default::default()
    };
    let api: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &ev).await {
        tracing::warn!(namespace = %ns, benchmark = %bm.name_any(), reason, error = %e, "cannot publish event");
    }
}
