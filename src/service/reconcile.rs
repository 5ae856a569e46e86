//! The reconcile sweep: access ends even if the store was lost or jitpe was down at expiry time.
//!
//! Every managed object of this instance without a live record, or past its expiry, is deleted
//! and audited; an Active record whose bindings vanished is ended as "removed outside jitpe".
//! Other instances' objects are never listed, so never touched.

use super::{Result, Service};
use crate::domain::audit::AuditDraft;
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::request::{AccessRequest, Event, State};
use crate::ports::ManagedObject;
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, instrument, warn};

/// One thing the sweep does (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileAction {
    /// Delete an object whose grant has ended or has no record.
    Delete {
        /// The object.
        object: ManagedObject,
        /// Why.
        why: String,
    },
    /// End an Active record whose bindings are gone.
    Vanished {
        /// The request.
        request_id: RequestId,
    },
}

impl std::fmt::Display for ReconcileAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReconcileAction::Delete { object: o, why } => {
                write!(f, "delete {:?} {}/{}: {why}", o.kind, o.namespace, o.name)
            }
            ReconcileAction::Vanished { request_id } => write!(
                f,
                "end request #{request_id}: its bindings were removed outside jitpe"
            ),
        }
    }
}

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Actions, in the order taken.
    pub actions: Vec<ReconcileAction>,
    /// Actions that failed (retried next sweep).
    pub errors: Vec<String>,
}

impl Service {
    /// Runs one sweep; with `dry_run` only reports what it would do.
    #[instrument(skip_all, fields(dry_run))]
    pub async fn reconcile(&self, dry_run: bool) -> Result<ReconcileReport> {
        let listed_at = self.clock.now();
        let objects = self.cluster.list_managed(&self.instance, None).await?;
        let records: BTreeMap<RequestId, AccessRequest> = self
            .db
            .run(|s| s.list_open())
            .await?
            .into_iter()
            .map(|r| (r.value.id, r.value))
            .collect();
        let actions = plan(&objects, &records, listed_at);
        let mut report = ReconcileReport::default();
        for action in actions {
            if !dry_run && let Err(e) = self.carry_out(&action).await {
                warn!(%action, error = %e, "reconcile action failed");
                report.errors.push(format!("{action}: {e}"));
                continue;
            }
            report.actions.push(action);
        }
        info!(
            actions = report.actions.len(),
            errors = report.errors.len(),
            "reconcile done"
        );
        Ok(report)
    }

    async fn carry_out(&self, action: &ReconcileAction) -> Result<()> {
        match action {
            ReconcileAction::Delete { object, why } => {
                self.cluster.delete_objects(&[object.object_ref()]).await?;
                let draft =
                    AuditDraft::new(Actor::system(), "reconcile_deleted", object.request_id)
                        .with("kind", format!("{:?}", object.kind))
                        .with("namespace", &object.namespace)
                        .with("name", &object.name)
                        .with("why", why);
                self.audit(draft).await;
            }
            ReconcileAction::Vanished { request_id } => {
                let reason = "bindings removed outside jitpe".to_string();
                self.apply(
                    *request_id,
                    Event::Revoke {
                        by: Actor::system(),
                        reason,
                    },
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Decides the sweep's actions from what the cluster and the store hold. Pure.
fn plan(
    objects: &[ManagedObject],
    records: &BTreeMap<RequestId, AccessRequest>,
    now: jiff::Timestamp,
) -> Vec<ReconcileAction> {
    let mut actions = Vec::new();
    for obj in objects {
        let live = obj
            .request_id
            .and_then(|id| records.get(&id))
            .filter(|r| matches!(r.state, State::Active | State::Approved));
        let annotation_past = obj.expires_at.is_some_and(|e| now >= e);
        let why = match live {
            None if obj.request_id.is_none() => Some("no request id label".to_string()),
            None => Some("no active request in the store".to_string()),
            Some(r) if r.state == State::Active && r.expires_at.is_some_and(|e| now >= e) => {
                Some("expired".to_string())
            }
            Some(r) if r.state == State::Approved && annotation_past => Some("expired".to_string()),
            Some(_) => None,
        };
        if let Some(why) = why {
            actions.push(ReconcileAction::Delete {
                object: obj.clone(),
                why,
            });
        }
    }
    let present: BTreeSet<RequestId> = objects.iter().filter_map(|o| o.request_id).collect();
    for r in records.values() {
        // NB: only records activated before the listing; a newer one may not be listed yet.
        let settled = r.activated_at.is_some_and(|a| a < now);
        let running = r.expires_at.is_some_and(|e| now < e);
        if r.state == State::Active && settled && running && !present.contains(&r.id) {
            actions.push(ReconcileAction::Vanished { request_id: r.id });
        }
    }
    actions
}
