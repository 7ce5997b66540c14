//! The components a spec expands to, in launch order.

use crate::api::spec::{BenchmarkSpec, ExecutorKind, PostAction};
use crate::api::status::ComponentKind;

/// One service, client instance or monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedComponent {
    /// Id (client instances: `<client id>-<n>`, as the seed names them).
    pub id: String,
    /// What it is.
    pub kind: ComponentKind,
    /// The executor whose backend runs it; None for a monitor, which the
    /// driver runs (as its own task, or as a job next to a service it
    /// cannot reach).
    pub executor: Option<ExecutorKind>,
    /// Index into `spec.services`, `spec.clients` or `spec.monitors`.
    pub index: usize,
    /// Instance number, 1-based (clients).
    pub instance: Option<u32>,
}

impl PlannedComponent {
    /// What runs it, as status and `--dry-run` name it: its executor, or
    /// `driver` for a monitor.
    pub fn runner(&self) -> &'static str {
        self.executor.map_or("driver", |e| e.as_str())
    }
}

/// Services, then client instances, then monitors.
pub fn plan_components(spec: &BenchmarkSpec) -> Vec<PlannedComponent> {
    let mut out = Vec::new();
    for (index, s) in spec.services.iter().enumerate() {
        out.push(PlannedComponent {
            id: s.id.clone(),
            kind: ComponentKind::Service,
            executor: Some(s.executor),
            index,
            instance: None,
        });
    }
    for (index, c) in spec.clients.iter().enumerate() {
        for n in 1..=c.instances {
            out.push(PlannedComponent {
                id: format!("{}-{n}", c.id),
                kind: ComponentKind::Client,
                executor: Some(c.executor),
                index,
                instance: Some(n),
            });
        }
    }
    for (index, m) in spec.monitors.iter().enumerate() {
        out.push(PlannedComponent {
            id: m.id.clone(),
            kind: ComponentKind::Monitor,
            executor: None,
            index,
            instance: None,
        });
    }
    out
}

/// The post-actions in the order they run: as listed, then any of
/// collectMetrics, stopServices and report that were left out (monitors and
/// services must always stop; a report is always written), and
/// uploadResults, when listed, last (it uploads the report).
pub fn post_action_order(listed: &[PostAction]) -> Vec<PostAction> {
    let mut order: Vec<PostAction> = Vec::new();
    for a in listed {
        if !order.contains(a) && *a != PostAction::UploadResults {
            order.push(*a);
        }
    }
    for a in [
        PostAction::CollectMetrics,
        PostAction::StopServices,
        PostAction::Report,
    ] {
        if !order.contains(&a) {
            order.push(a);
        }
    }
    if listed.contains(&PostAction::UploadResults) {
        order.push(PostAction::UploadResults);
    }
    order
}
