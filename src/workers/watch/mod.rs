//! The watch worker: evaluates what the intake queued (Kubernetes API calls from the audit
//! webhook, Falco alerts) against the revocation rules, has the service revoke a grant whose
//! grantee matched one, counts what each grant is used for, and writes that use report once
//! the grant has ended. The HTTP routes only queue (`intake.rs`), so the apiserver is never
//! slowed by the evaluation.
//!
//! The grants it watches are re-read (through the deadline index, so history does not count)
//! only when `Service::grants_generation` moved. A revocation that fails (the cluster is
//! unreachable) is retried on every pass until it succeeds or the grant has ended otherwise.

pub mod intake;
mod usage;

pub use intake::{Intake, IntakeStats, QueueFull, Queued};

use super::ingress_feed::RecentWriters;
use super::{Worker, WorkerError, WorkerState};
use crate::domain::anomaly::{GrantIndex, Matcher, Observation, Verdict};
use crate::service::Service;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};
use usage::Ledger;

/// How long one pass waits for a batch before doing its periodic work.
const RECEIVE_WAIT: Duration = Duration::from_millis(250);

/// The watch worker's state.
pub struct Watch {
    service: Service,
    rx: mpsc::Receiver<Queued>,
    stats: Arc<IntakeStats>,
    generation: Option<u64>,
    index: GrantIndex,
    matcher: Matcher,
    ledger: Ledger,
    /// Verdicts whose revocation failed, retried every pass.
    retry: Vec<Verdict>,
    /// A batch taken off the queue whose evaluation failed (the store was down): evaluated
    /// again before the next one, so no call goes unevaluated.
    held: Option<Queued>,
    /// Where Ingress writes of the audit stream are noted for the Ingress change feed.
    writers: Option<RecentWriters>,
}

impl Watch {
    /// A worker evaluating what `rx` receives; `stats` are the intake's counters.
    pub fn new(service: Service, rx: mpsc::Receiver<Queued>, stats: Arc<IntakeStats>) -> Self {
        let started = service.clock().now();
        Self {
            service,
            rx,
            stats,
            generation: None,
            index: GrantIndex::default(),
            matcher: Matcher::default(),
            ledger: Ledger::new(started),
            retry: Vec::new(),
            held: None,
            writers: None,
        }
    }

    /// The same worker noting every Ingress write it sees in `writers`, so the Ingress change
    /// feed can name who made each change.
    pub fn with_writers(mut self, writers: RecentWriters) -> Self {
        self.writers = Some(writers);
        self
    }

    /// Re-reads the Active grants if any may have changed since the last read.
    async fn refresh(&mut self) -> Result<(), WorkerError> {
        let generation = self.service.grants_generation();
        if self.generation == Some(generation) {
            return Ok(());
        }
        let grants = self.service.active_grants().await?;
        self.index = GrantIndex::of(&grants);
        self.matcher.retain(&self.index);
        let now = self.service.clock().now();
        self.ledger.follow(&self.index, now);
        self.generation = Some(generation);
        Ok(())
    }

    /// Evaluates one batch: counts usage, matches the rules, revokes.
    async fn evaluate(&mut self, batch: &Queued) -> Result<(), WorkerError> {
        // A grant activated just before the batch arrived must be watched already.
        self.refresh().await?;
        let n = batch.observations.len() as u64;
        let mut verdicts = Vec::new();
        for obs in &batch.observations {
            if let (Some(w), Observation::Call(call)) = (&self.writers, obs) {
                w.note(call);
            }
            self.ledger.count(&self.index, obs);
            let rules = self.service.policy().revocation();
            verdicts.extend(self.matcher.observe(rules, &self.index, obs));
        }
        if let Some(w) = &self.writers {
            w.heard();
        }
        self.stats.evaluated.fetch_add(n, Ordering::Relaxed);
        if !verdicts.is_empty() {
            let oldest = batch.observations.iter().filter_map(observed_at).min();
            info!(
                verdicts = verdicts.len(),
                ?oldest,
                "revocation rules matched"
            );
            self.revoke(verdicts).await;
        }
        Ok(())
    }

    /// Revokes every verdict at once; failures are kept for the next pass.
    async fn revoke(&mut self, verdicts: Vec<Verdict>) {
        let service = &self.service;
        let results =
            futures::future::join_all(verdicts.iter().map(|v| service.revoke_by_rule(v))).await;
        for (v, result) in verdicts.into_iter().zip(results) {
            if let Err(e) = result {
                warn!(request_id = %v.request_id, rule = %v.rule, error = %e,
                    "revocation by rule failed; retrying");
                self.retry.push(v);
            }
        }
    }
}

fn observed_at(obs: &Observation) -> Option<jiff::Timestamp> {
    match obs {
        Observation::Call(c) => Some(c.at),
        Observation::Falco(a) => Some(a.at),
    }
}

#[async_trait]
impl Worker for Watch {
    fn name(&self) -> &'static str {
        "watch"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        if !self.retry.is_empty() {
            let retry = std::mem::take(&mut self.retry);
            self.revoke(retry).await;
        }
        self.refresh().await?;
        let now = self.service.clock().now();
        self.ledger.report_due(&self.service, now).await;
        if self.held.is_none() {
            match tokio::time::timeout(RECEIVE_WAIT, self.rx.recv()).await {
                Ok(Some(batch)) => self.held = Some(batch),
                // Closed: the intake is gone (shutdown); only the periodic work is left.
                Ok(None) => {
                    return Ok(WorkerState::Idle {
                        until: Duration::from_secs(1),
                    });
                }
                Err(_) => return Ok(WorkerState::Busy),
            }
        }
        let Some(batch) = self.held.take() else {
            return Ok(WorkerState::Busy);
        };
        if let Err(e) = self.evaluate(&batch).await {
            self.held = Some(batch);
            return Err(e);
        }
        Ok(WorkerState::Busy)
    }

    fn max_backoff(&self) -> Duration {
        // Revocation latency matters more than a quiet log while the store is down.
        Duration::from_secs(5)
    }
}

#[cfg(test)]
mod tests;
