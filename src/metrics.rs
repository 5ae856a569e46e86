//! Prometheus metrics: counters updated as things happen, gauges the service reads from the store
//! per scrape.

use crate::domain::request::State;
use crate::service::Gauges;
use crate::workers::watch::IntakeStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Labels of the route counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route (`/slack/commands`, ...).
    pub route: String,
    /// `ok`, `refused`, `auth_failed`, `error`.
    pub result: String,
}

/// Counters shared by the web layer and the workers.
pub struct Metrics {
    registry: Registry,
    /// Inbound requests by route and result.
    pub inbound: Family<RouteLabels, Counter>,
    /// Outgoing chat deliveries by route (platform/method) and result.
    pub outbound: Family<RouteLabels, Counter>,
    /// The observation queue's counters (`POST /k8s/audit`, `POST /falco`), read per scrape.
    intake: Option<Arc<IntakeStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let inbound = Family::<RouteLabels, Counter>::default();
        let outbound = Family::<RouteLabels, Counter>::default();
        registry.register(
            "jitpe_inbound_requests",
            "Inbound HTTP requests by route and result",
            inbound.clone(),
        );
        registry.register(
            "jitpe_chat_deliveries",
            "Outgoing chat messages by platform and result",
            outbound.clone(),
        );
        Self {
            registry,
            inbound,
            outbound,
            intake: None,
        }
    }
}

impl Metrics {
    /// The same metrics, also showing the observation queue's counters.
    pub fn with_intake(mut self, stats: Arc<IntakeStats>) -> Self {
        self.intake = Some(stats);
        self
    }

    /// Counts one inbound request.
    pub fn inbound(&self, route: &str, result: &str) {
        self.inbound
            .get_or_create(&RouteLabels {
                route: route.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Counts one outgoing chat delivery.
    pub fn outbound(&self, route: &str, result: &str) {
        self.outbound
            .get_or_create(&RouteLabels {
                route: route.into(),
                result: result.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric, with the store's gauges (`None` when the
    /// store could not be read: the outbox backlog then shows -1).
    pub fn render(&self, store: Option<&Gauges>) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            return "# metrics could not be encoded\n".into();
        }
        // NB: encode() ends with "# EOF"; the store gauges go in a second block before it.
        let body = out.trim_end().trim_end_matches("# EOF").to_string();
        let mut gauges = Registry::default();
        let by_state = Family::<Vec<(String, String)>, Gauge>::default();
        gauges.register(
            "jitpe_requests",
            "Requests in the store by state",
            by_state.clone(),
        );
        let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
        for s in [State::Pending, State::Approved, State::Active] {
            counts.insert(state_label(s), 0);
        }
        for (state, n) in store.map(|g| &g.open).into_iter().flatten() {
            *counts.entry(state_label(*state)).or_default() += n;
        }
        for (state, n) in counts {
            by_state
                .get_or_create(&vec![("state".into(), state.into())])
                .set(n);
        }
        let backlog = Gauge::<i64>::default();
        backlog.set(store.map_or(-1, |g| g.outbox_backlog as i64));
        gauges.register(
            "jitpe_outbox_backlog",
            "Chat messages waiting in the outbox",
            backlog,
        );
        let audit = Gauge::<i64>::default();
        audit.set(store.map_or(0, |g| g.audit_records as i64));
        gauges.register("jitpe_audit_records", "Records in the audit chain", audit);
        if let Some(stats) = &self.intake {
            register_intake(&mut gauges, stats);
        }
        let mut more = String::new();
        let _ = encode(&mut more, &gauges);
        format!("{body}{more}")
    }
}

/// The intake's counters as one counter family by outcome: what was queued, what a full queue
/// refused (the sender was told 503 and retries), and what the watch worker evaluated.
fn register_intake(registry: &mut Registry, stats: &IntakeStats) {
    let observations = Family::<Vec<(String, String)>, Counter>::default();
    for (result, n) in [
        ("accepted", &stats.accepted),
        ("refused_full", &stats.refused_full),
        ("evaluated", &stats.evaluated),
    ] {
        observations
            .get_or_create(&vec![("result".into(), result.into())])
            .inc_by(n.load(Ordering::Relaxed));
    }
    registry.register(
        "jitpe_observations",
        "Observations (audit events, Falco alerts) by intake outcome",
        observations,
    );
}

fn state_label(s: State) -> &'static str {
    match s {
        State::TimedOut => "timed_out",
        other => other.as_str(),
    }
}
