//! The metric families: their names, help texts, buckets and label sets, registered once, with
//! every series whose labels are known in advance created at zero.

use super::Metrics;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// A lifecycle step a request reaches (`jitpe_lifecycle_total{step}`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Step {
    /// Stored as a new request (pending, or approved at once when auto-approved).
    requested,
    /// Approved by its quorum or auto-approval.
    approved,
    /// Denied by an approver.
    denied,
    /// Withdrawn by its requester while pending.
    cancelled,
    /// Nobody decided in time.
    timed_out,
    /// Its bindings exist: access is live.
    activated,
    /// Its access reached its end and the bindings are gone.
    expired,
    /// Its access was ended early (the cause is in `jitpe_revocations_total`).
    revoked,
    /// Its bindings could not be created.
    failed,
}

/// Why access was ended early (`jitpe_revocations_total{cause}`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Cause {
    /// A person in chat (`/jit revoke`, the Revoke button).
    chat,
    /// A system through the API (`jitpe exec` ending, `POST …/revoke`).
    api,
    /// An operator's break-glass `jitpe revoke`.
    breakglass,
    /// A revocation rule matched the audit stream or a Falco alert.
    rule,
    /// The reconcile sweep found the grant's bindings removed outside jitpe.
    reconcile,
}

/// What became of one outgoing chat message (`jitpe_chat_deliveries_total{platform,outcome}`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Delivered.
    ok,
    /// About a state that is over: dropped unsent.
    stale,
    /// The platform asked to slow down (429): sent again after its `Retry-After`.
    rate_limited,
    /// Failed; tried again later.
    retry,
    /// Failed for `outbox.give_up_after`, or refused for good: given up.
    given_up,
}

/// The fixed routes jitpe serves, as `route` labels (the API's routes with an id are labelled
/// by their pattern, e.g. `/api/v1/requests/{id}`; any other path is `unmatched`).
pub const ROUTES: [&str; 10] = [
    "/slack/commands",
    "/slack/interactions",
    "/mattermost/commands",
    "/mattermost/actions",
    "/k8s/audit",
    "/falco",
    "/api/v1/requests",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The platforms whose authentication failures are counted.
const AUTH_PLATFORMS: [&str; 5] = ["slack", "mattermost", "api", "k8s_audit", "falco"];

const LIFECYCLE: [Step; 9] = [
    Step::requested,
    Step::approved,
    Step::denied,
    Step::cancelled,
    Step::timed_out,
    Step::activated,
    Step::expired,
    Step::revoked,
    Step::failed,
];
const CAUSES: [Cause; 5] = [
    Cause::chat,
    Cause::api,
    Cause::breakglass,
    Cause::rule,
    Cause::reconcile,
];
const OUTCOMES: [Outcome; 5] = [
    Outcome::ok,
    Outcome::stale,
    Outcome::rate_limited,
    Outcome::retry,
    Outcome::given_up,
];
/// The Kubernetes API calls jitpe makes, by the name `Metrics::kube_error` is given.
const KUBE_OPERATIONS: [&str; 5] = ["apply", "delete", "list", "get", "token_review"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct InboundLabels {
    route: String,
    result: String,
}

impl InboundLabels {
    pub(super) fn new(route: &str, result: &str) -> Self {
        Self {
            route: route.into(),
            result: result.into(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabels {
    route: String,
}

impl RouteLabels {
    pub(super) fn new(route: &str) -> Self {
        Self {
            route: route.into(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLabels {
    route: String,
    status: u16,
}

impl HttpLabels {
    pub(super) fn new(route: &str, status: u16) -> Self {
        Self {
            route: route.into(),
            status,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DeliveryLabels {
    platform: String,
    outcome: Outcome,
}

impl DeliveryLabels {
    pub(super) fn new(platform: &str, outcome: Outcome) -> Self {
        Self {
            platform: platform.into(),
            outcome,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StepLabels {
    pub(super) step: Step,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CauseLabels {
    pub(super) cause: Cause,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OperationLabels {
    pub(super) operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PlatformLabels {
    platform: &'static str,
}

impl PlatformLabels {
    /// The platform a route belongs to, by its path.
    pub(super) fn of_route(route: &str) -> Self {
        let platform = match route {
            r if r.starts_with("/slack/") => "slack",
            r if r.starts_with("/mattermost/") => "mattermost",
            r if r.starts_with("/api/") => "api",
            "/k8s/audit" => "k8s_audit",
            "/falco" => "falco",
            _ => "other",
        };
        Self { platform }
    }
}

const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LATENESS_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
const RECONCILE_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Registers every family and creates the known series at zero.
pub(super) fn build() -> Metrics {
    let mut r = Registry::default();
    let m = Metrics {
        registry: Registry::default(),
        inbound: Family::default(),
        deliveries: Family::default(),
        steps: Family::default(),
        revocations: Family::default(),
        expiry_lateness: Histogram::new(LATENESS_BUCKETS),
        http_requests: Family::default(),
        http_duration: Family::new_with_constructor(|| Histogram::new(HTTP_BUCKETS)),
        auth_failures: Family::default(),
        kube_errors: Family::default(),
        reconcile_duration: Histogram::new(RECONCILE_BUCKETS),
        reconcile_last_success: Gauge::default(),
        reconcile_failures: Counter::default(),
        open_requests: Family::default(),
        outbox_depth: Gauge::default(),
        audit_records: Gauge::default(),
        store_readable: Gauge::default(),
        observations: Family::default(),
        observation_source: std::sync::OnceLock::new(),
    };
    register_flow(&mut r, &m);
    register_edges(&mut r, &m);
    register_state(&mut r, &m);
    zero_series(&m);
    Metrics { registry: r, ..m }
}

/// The request lifecycle and chat delivery.
fn register_flow(r: &mut Registry, m: &Metrics) {
    r.register(
        "jitpe_lifecycle",
        "Requests reaching each lifecycle step",
        m.steps.clone(),
    );
    r.register(
        "jitpe_revocations",
        "Grants ended early, by cause",
        m.revocations.clone(),
    );
    r.register_with_unit(
        "jitpe_expiry_lateness",
        "How long after its expiry a grant's bindings were deleted",
        Unit::Seconds,
        m.expiry_lateness.clone(),
    );
    r.register(
        "jitpe_chat_deliveries",
        "Outgoing chat messages by platform and outcome",
        m.deliveries.clone(),
    );
}

/// What arrives over HTTP and what jitpe asks the cluster.
fn register_edges(r: &mut Registry, m: &Metrics) {
    r.register(
        "jitpe_http_requests",
        "Answered HTTP requests by route and status",
        m.http_requests.clone(),
    );
    r.register_with_unit(
        "jitpe_http_request_duration",
        "Time to answer an HTTP request, by route",
        Unit::Seconds,
        m.http_duration.clone(),
    );
    r.register(
        "jitpe_inbound_requests",
        "Requests to the verified routes by route and result",
        m.inbound.clone(),
    );
    r.register(
        "jitpe_auth_failures",
        "Requests refused as unauthenticated (bad signature, token or context), by platform",
        m.auth_failures.clone(),
    );
    r.register(
        "jitpe_observations",
        "Observations (audit events, Falco alerts) by intake outcome",
        m.observations.clone(),
    );
    r.register(
        "jitpe_kubernetes_api_errors",
        "Failed Kubernetes API calls by operation",
        m.kube_errors.clone(),
    );
}

/// The sweep and the store's figures.
fn register_state(r: &mut Registry, m: &Metrics) {
    r.register_with_unit(
        "jitpe_reconcile_duration",
        "Time a reconcile sweep took",
        Unit::Seconds,
        m.reconcile_duration.clone(),
    );
    r.register(
        "jitpe_reconcile_last_success_timestamp_seconds",
        "When the last reconcile sweep succeeded (Unix time; 0 before the first)",
        m.reconcile_last_success.clone(),
    );
    r.register(
        "jitpe_reconcile_failures",
        "Reconcile sweeps that failed",
        m.reconcile_failures.clone(),
    );
    r.register(
        "jitpe_open_requests",
        "Open requests in the store by state (read by the store probe every 5 s)",
        m.open_requests.clone(),
    );
    r.register(
        "jitpe_outbox_depth",
        "Chat messages waiting in the outbox",
        m.outbox_depth.clone(),
    );
    r.register(
        "jitpe_audit_records",
        "Records in the audit chain",
        m.audit_records.clone(),
    );
    r.register(
        "jitpe_store_readable",
        "1 when the last store probe answered, 0 when it failed",
        m.store_readable.clone(),
    );
    let build = Family::<Vec<(String, String)>, Gauge>::default();
    build
        .get_or_create(&vec![("version".into(), env!("CARGO_PKG_VERSION").into())])
        .set(1);
    r.register("jitpe_build_info", "jitpe's version (always 1)", build);
}

fn zero_series(m: &Metrics) {
    for step in LIFECYCLE {
        let _ = m.steps.get_or_create(&StepLabels { step });
    }
    for cause in CAUSES {
        let _ = m.revocations.get_or_create(&CauseLabels { cause });
    }
    for route in ROUTES {
        let _ = m.http_requests.get_or_create(&HttpLabels::new(route, 200));
        let _ = m.http_duration.get_or_create(&RouteLabels::new(route));
        if !matches!(route, "/healthz" | "/readyz" | "/metrics") {
            let _ = m.inbound.get_or_create(&InboundLabels::new(route, "ok"));
        }
    }
    for platform in AUTH_PLATFORMS {
        let _ = m.auth_failures.get_or_create(&PlatformLabels { platform });
    }
    for operation in KUBE_OPERATIONS {
        let _ = m.kube_errors.get_or_create(&OperationLabels { operation });
    }
    for platform in ["slack", "mattermost"] {
        for outcome in OUTCOMES {
            let _ = m
                .deliveries
                .get_or_create(&DeliveryLabels::new(platform, outcome));
        }
    }
    for state in ["pending", "approved", "active"] {
        let _ = m
            .open_requests
            .get_or_create(&vec![("state".into(), state.into())]);
    }
    for result in ["accepted", "refused_full", "evaluated"] {
        let _ = m
            .observations
            .get_or_create(&vec![("result".into(), result.into())]);
    }
}
