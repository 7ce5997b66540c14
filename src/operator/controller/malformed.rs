//! Benchmarks the CRD schema accepts but aifbench cannot read (say
//! `duration: 5 minutes`): parsed from the untyped watch with the field
//! named ([`parse_benchmark`]); one that does not parse gets an
//! `InvalidSpec` status and event, once per generation, and on deletion
//! its children are deleted and the finalizer removed.

use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::children_api::{delete_children, list_children};
use super::cleanup::FINALIZER;
use super::context::Context;
use super::error::Error;
use super::events::{Note, publish};
use crate::api::spec::Benchmark;
use crate::api::status::{condition, reason};
use crate::operator::children::FIELD_MANAGER;

/// The `ApiResource` of Benchmark, for the lenient (untyped) watch.
pub fn benchmark_resource() -> ApiResource {
    ApiResource::erase::<Benchmark>(&())
}

/// Parses a Benchmark as the API server has it; the error names the field
/// (`spec.execution.duration: ...`).
pub fn parse_benchmark(obj: &DynamicObject) -> Result<Benchmark, String> {
    let value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// Reconciles a Benchmark that does not parse (`msg` says why).
pub(super) async fn reject_malformed(
    obj: &DynamicObject,
    msg: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &benchmark_resource());
    if obj.metadata.deletion_timestamp.is_some() {
        finish_deletion(obj, &api, ctx, &ns).await?;
        return Ok(Action::await_change());
    }
    let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
    if already_reported(&status, obj.metadata.generation, msg) {
        return Ok(Action::await_change());
    }
    let now = (ctx.clock)();
    let patch = json!({
        "apiVersion": "aifbench.io/v1alpha1",
        "kind": "Benchmark",
        "metadata": {"name": name, "resourceVersion": obj.resource_version()},
        "status": invalid_status(&status, obj.metadata.generation, msg, &now.to_string()),
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    tracing::warn!(namespace = %ns, benchmark = %name, error = %msg, "the Benchmark cannot be read");
    let bm = Benchmark {
        metadata: obj.metadata.clone(),
        spec: Default::default(),
        status: None,
    };
    publish(ctx, &bm, &Note::warning(reason::INVALID_SPEC, msg), now).await;
    Ok(Action::await_change())
}

/// A deleted one: with our finalizer, its children are deleted and the
/// finalizer removed.
async fn finish_deletion(
    obj: &DynamicObject,
    api: &Api<DynamicObject>,
    ctx: &Context,
    ns: &str,
) -> Result<(), Error> {
    let finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let name = obj.name_any();
    let ch = list_children(&ctx.client, ns, &name).await?;
    delete_children(&ctx.client, ns, &ch, None).await?;
    let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let patch =
        json!({"metadata": {"finalizers": rest, "resourceVersion": obj.resource_version()}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Whether `status` already says this of this generation.
fn already_reported(status: &Value, generation: Option<i64>, msg: &str) -> bool {
    status["observedGeneration"].as_i64() == generation
        && status["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Validated" && c["message"] == msg)
        })
}

/// The `Failed` status of an unreadable Benchmark (its run history kept).
fn invalid_status(status: &Value, generation: Option<i64>, msg: &str, now: &str) -> Value {
    let condition = |type_: &str| {
        json!({"type": type_, "status": "False", "reason": reason::INVALID_SPEC,
               "message": msg, "lastTransitionTime": now, "observedGeneration": generation})
    };
    let mut new_status = json!({
        "phase": "Failed",
        "observedGeneration": generation,
        "message": format!("InvalidSpec: {msg}"),
        "conditions": [condition(condition::VALIDATED), condition(condition::SUCCEEDED)],
        "completionTime": now,
    });
    if let Some(runs) = status.get("runs") {
        new_status["runs"] = runs.clone();
    }
    new_status
}
