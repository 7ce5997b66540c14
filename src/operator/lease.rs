//! Leader election on a `coordination.k8s.io/v1` Lease: one replica
//! reconciles, the others wait. The decision is pure ([`decide`]); the loop
//! ([`LeaderElector`]) reads the Lease, and creates or replaces it (with its
//! `resourceVersion`, so two candidates cannot both win: the loser gets 409).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

/// What a candidate should do with the Lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// It expired (or was released): take it over.
    TakeOver,
    /// Someone else holds it.
    Wait,
}

/// Decides from the Lease (None: not found), who we are and the time.
pub fn decide(lease: Option<&Lease>, me: &str, now: Timestamp) -> LeaseDecision {
    let Some(lease) = lease else {
        return LeaseDecision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    match spec.holder_identity.as_deref() {
        Some(h) if h == me => return LeaseDecision::Renew,
        None | Some("") => return LeaseDecision::TakeOver,
        Some(_) => {}
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
    match renewed {
        Some(t) if now.duration_since(t) <= SignedDuration::from_secs(duration) => {
            LeaseDecision::Wait
        }
        _ => LeaseDecision::TakeOver,
    }
}

/// The Lease as we write it.
pub fn held(
    name: &str,
    ns: &str,
    me: &str,
    duration: Duration,
    previous: Option<&Lease>,
    now: Timestamp,
) -> Lease {
    let prev = previous.and_then(|l| l.spec.clone()).unwrap_or_default();
    let ours = prev.holder_identity.as_deref() == Some(me);
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            resource_version: previous.and_then(|l| l.metadata.resource_version.clone()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(i32::try_from(duration.as_secs()).unwrap_or(15)),
            acquire_time: if ours {
                prev.acquire_time
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                prev.lease_transitions.unwrap_or(0) + i32::from(!ours && previous.is_some()),
            ),
            ..Default::default()
        }),
    }
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API call failed.
    #[error("lease: {0}")]
    Kube(#[from] kube::Error),
}

/// Acquires and renews one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    ns: String,
    me: String,
    duration: Duration,
}

impl LeaderElector {
    /// A candidate `me` for the Lease `ns/name`.
    pub fn new(client: Client, ns: &str, name: &str, me: &str, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, ns),
            name: name.to_string(),
            ns: ns.to_string(),
            me: me.to_string(),
            duration,
        }
    }

    /// One attempt: true when we hold the Lease afterwards.
    pub async fn try_acquire_or_renew(&self, now: Timestamp) -> Result<bool, LeaseError> {
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref(), &self.me, now);
        let lease = held(
            &self.name,
            &self.ns,
            &self.me,
            self.duration,
            current.as_ref(),
            now,
        );
        let result = match decision {
            LeaseDecision::Wait => return Ok(false),
            LeaseDecision::Create => self
                .api
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ()),
            LeaseDecision::Renew | LeaseDecision::TakeOver => self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until this candidate leads (or `cancel` fires: false).
    pub async fn acquire(&self, cancel: &CancellationToken) -> bool {
        loop {
            match self.try_acquire_or_renew(Timestamp::now()).await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "cannot acquire the lease")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(self.duration / 3) => {}
            }
        }
    }

    /// Renews until the lease is lost (returns) or `cancel` fires (the
    /// lease is released and it returns).
    pub async fn hold(&self, cancel: &CancellationToken) {
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    self.release().await;
                    return;
                }
                _ = tokio::time::sleep(self.duration / 3) => {}
            }
            match self.try_acquire_or_renew(Timestamp::now()).await {
                Ok(true) => last_ok = std::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "leadership lost to another replica");
                    return;
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "cannot renew the lease");
                    if last_ok.elapsed() > self.duration {
                        tracing::error!(lease = %self.name, "lease expired while the API was unreachable");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (so a successor need not wait for it to expire).
    pub async fn release(&self) {
        if let Ok(Some(mut l)) = self.api.get_opt(&self.name).await
            && l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.me.as_str())
        {
            if let Some(s) = l.spec.as_mut() {
                s.holder_identity = None;
            }
            if let Err(e) = self
                .api
                .replace(&self.name, &PostParams::default(), &l)
                .await
            {
                tracing::warn!(lease = %self.name, error = %e, "cannot release the lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn election_decisions() {
        let now = at("2026-01-01T00:00:30Z");
        assert_eq!(decide(None, "a", now), LeaseDecision::Create);
        let l = held(
            "l",
            "ns",
            "a",
            Duration::from_secs(15),
            None,
            at("2026-01-01T00:00:20Z"),
        );
        assert_eq!(decide(Some(&l), "a", now), LeaseDecision::Renew);
        assert_eq!(decide(Some(&l), "b", now), LeaseDecision::Wait);
        assert_eq!(
            decide(Some(&l), "b", at("2026-01-01T00:00:36Z")),
            LeaseDecision::TakeOver
        );
        let taken = held("l", "ns", "b", Duration::from_secs(15), Some(&l), now);
        assert_eq!(taken.spec.as_ref().unwrap().lease_transitions, Some(1));
        let mut released = l.clone();
        released.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(decide(Some(&released), "b", now), LeaseDecision::TakeOver);
    }
}
