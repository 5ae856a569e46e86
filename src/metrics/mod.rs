//! Prometheus metrics, in the OpenMetrics text format: counters and histograms updated as things
//! happen, gauges set by the workers that already read the figures (the store probe every 5 s,
//! the reconcile sweep). A scrape only encodes what is in memory: it never reads the store or the
//! cluster. Every family is registered at start-up, and the series whose labels are known in
//! advance (lifecycle steps, causes, platforms, outcomes, operations) start at zero, so alerts
//! and dashboards see them before the first event.
//!
//! This module imports nothing of jitpe's, so every layer (service, workers, web, chat, kube)
//! can count into it.

mod families;
#[cfg(test)]
mod tests;

pub use families::{Cause, Outcome, ROUTES, Step};

use families::{
    CauseLabels, DeliveryLabels, HttpLabels, InboundLabels, OperationLabels, PlatformLabels,
    RouteLabels, StepLabels,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads counters kept elsewhere (the observation queue's), as `(label value, count)` pairs.
type CounterSource = Box<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// Every metric jitpe exposes. One per process, shared by `Arc`.
pub struct Metrics {
    registry: Registry,
    inbound: Family<InboundLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    steps: Family<StepLabels, Counter>,
    revocations: Family<CauseLabels, Counter>,
    expiry_lateness: Histogram,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
    auth_failures: Family<PlatformLabels, Counter>,
    kube_errors: Family<OperationLabels, Counter>,
    reconcile_duration: Histogram,
    reconcile_last_success: Gauge<f64, AtomicU64>,
    reconcile_failures: Counter,
    open_requests: Family<Vec<(String, String)>, Gauge>,
    outbox_depth: Gauge,
    audit_records: Gauge,
    store_readable: Gauge,
    observations: Family<Vec<(String, String)>, Counter>,
    observation_source: OnceLock<CounterSource>,
}

impl Default for Metrics {
    fn default() -> Self {
        families::build()
    }
}

impl Metrics {
    /// Shows the counters that `source` reads (the observation queue's `accepted`,
    /// `refused_full`, `evaluated`) as `jitpe_observations_total{result}` from now on. The
    /// first source set stays (one queue per process).
    pub fn observations_from(
        &self,
        source: impl Fn() -> Vec<(&'static str, u64)> + Send + Sync + 'static,
    ) {
        let _ = self.observation_source.set(Box::new(source));
    }

    /// Counts one inbound request of a verified route by its result (`ok`, `refused`,
    /// `auth_failed`, `shed`, ...); an `auth_failed` also counts as an authentication failure
    /// of the route's platform.
    pub fn inbound(&self, route: &str, result: &str) {
        self.inbound
            .get_or_create(&InboundLabels::new(route, result))
            .inc();
        if result == "auth_failed" {
            self.auth_failures
                .get_or_create(&PlatformLabels::of_route(route))
                .inc();
        }
    }

    /// Counts one outgoing chat message of `platform` by its outcome.
    pub fn delivery(&self, platform: &str, outcome: Outcome) {
        self.deliveries
            .get_or_create(&DeliveryLabels::new(platform, outcome))
            .inc();
    }

    /// Counts a request reaching a lifecycle step.
    pub fn step(&self, step: Step) {
        self.steps.get_or_create(&StepLabels { step }).inc();
    }

    /// Counts a revocation by its cause.
    pub fn revoked(&self, cause: Cause) {
        self.revocations.get_or_create(&CauseLabels { cause }).inc();
    }

    /// Records how long after its `expires_at` a grant's objects were deleted (0 if on time).
    pub fn expiry_lateness(&self, late: Duration) {
        self.expiry_lateness.observe(late.as_secs_f64());
    }

    /// Counts one answered HTTP request of `route` (the matched route pattern, or `unmatched`)
    /// with its status and how long it took.
    pub fn http(&self, route: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels::new(route, status))
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels::new(route))
            .observe(took.as_secs_f64());
    }

    /// Counts a failed Kubernetes API call of `operation` (`apply`, `delete`, `list`, ...).
    pub fn kube_error(&self, operation: &'static str) {
        self.kube_errors
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    /// Records one reconcile sweep: how long it took and whether it succeeded; a success also
    /// sets the last success time (`now_unix`, seconds since the epoch).
    pub fn reconcile(&self, took: Duration, ok: bool, now_unix: f64) {
        self.reconcile_duration.observe(took.as_secs_f64());
        if ok {
            self.reconcile_last_success.set(now_unix);
        } else {
            self.reconcile_failures.inc();
        }
    }

    /// Sets the store figures the probe read: open requests by state, outbox depth and audit
    /// records; `None` when the store could not be read (then `jitpe_store_readable` is 0 and
    /// the other figures keep their last values).
    pub fn store(&self, figures: Option<StoreFigures<'_>>) {
        let Some(f) = figures else {
            self.store_readable.set(0);
            return;
        };
        self.store_readable.set(1);
        for (state, n) in f.open {
            self.open_requests
                .get_or_create(&vec![("state".into(), (*state).into())])
                .set(*n);
        }
        self.outbox_depth.set(f.outbox_depth as i64);
        self.audit_records.set(f.audit_records as i64);
    }

    /// The OpenMetrics text exposition of every metric ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        if let Some(source) = self.observation_source.get() {
            for (result, n) in source() {
                let counter = self
                    .observations
                    .get_or_create(&vec![("result".into(), result.into())])
                    .clone();
                // NB: the source is the count itself, not an increment.
                counter.inner().store(n, Ordering::Relaxed);
            }
        }
        let mut out = String::new();
        match encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(_) => "# metrics could not be encoded\n# EOF\n".into(),
        }
    }
}

/// What the store probe read, for [`Metrics::store`].
#[derive(Debug, Clone, Copy)]
pub struct StoreFigures<'a> {
    /// Open requests by state (`pending`, `approved`, `active`), every open state listed.
    pub open: &'a [(&'static str, i64)],
    /// Messages waiting in the outbox.
    pub outbox_depth: usize,
    /// Records in the audit chain.
    pub audit_records: u64,
}
