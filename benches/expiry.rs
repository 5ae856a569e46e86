//! Expiry: how late the real expiry worker (`workers::expiry` → `Service::run_due`, real clock,
//! `kubernetes.max_in_flight` = 32, sled store in a temporary directory) ends grants when many
//! are due close together, against a cluster double that behaves like an apiserver client: every
//! API call (one delete per object, by name) takes 5 ms and at most 32 run at once.
//!
//! 2,000 Active grants (full size: 10,000), two RoleBindings each, are stored beforehand with
//! expiries spread evenly over 10 s (full size: one minute) starting after the set-up. A grant
//! has ended when the last of its bindings is deleted (access is gone; the Expired record is
//! written right after). Printed: lateness (ended − expires_at) p50/p99/max, how many ended
//! exactly once (one `expired` audit record, one delete of each binding, state Expired), and the
//! lateness the records themselves show (`ended_at`, taken before the deletes). Figures only.
//!
//! `cargo bench --bench expiry`; `JITPE_BENCH_FULL=1 cargo bench --bench expiry` for full size.

mod common;

use async_trait::async_trait;
use common::{Summary, prefill, size, size_name};
use jiff::{SignedDuration, Timestamp};
use jitpe::clock::SystemClock;
use jitpe::domain::grant::{self, PlannedBinding};
use jitpe::domain::identity::Platform;
use jitpe::domain::ids::{InstanceId, RequestId};
use jitpe::domain::request::State;
use jitpe::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef, Store};
use jitpe::service::{ChatTargets, Service};
use jitpe::store::sled::SledStore;
use jitpe::testing::FakeCluster;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long one API call takes.
const CALL: Duration = Duration::from_millis(5);
/// API calls at once, like a client's connection limit.
const CONCURRENT_CALLS: usize = 32;
/// Due grants ended at once: `kubernetes.max_in_flight` as the example config sets it.
const MAX_IN_FLIGHT: usize = 32;

/// What the cluster saw of one grant's end.
#[derive(Debug, Default, Clone, Copy)]
struct Ended {
    /// When its last delete call returned.
    at: Option<Timestamp>,
    /// Delete calls for it.
    calls: usize,
    /// Objects that existed and were removed.
    removed: usize,
}

/// A [`FakeCluster`] behind apiserver-like latency and a concurrency limit, recording when each
/// grant's bindings were deleted.
struct SlowCluster {
    inner: FakeCluster,
    calls: Semaphore,
    ended: Mutex<HashMap<RequestId, Ended>>,
}

impl SlowCluster {
    fn new() -> Self {
        Self {
            inner: FakeCluster::default(),
            calls: Semaphore::new(CONCURRENT_CALLS),
            ended: Mutex::new(HashMap::new()),
        }
    }

    /// One API call's cost.
    async fn call(&self) {
        let _permit = self.calls.acquire().await.expect("semaphore open");
        tokio::time::sleep(CALL).await;
    }
}

/// The request id in a binding name `jitpe-<instance>-<id>-<n>`.
fn request_of(name: &str) -> Option<RequestId> {
    let mut parts = name.rsplit('-');
    parts.next()?;
    parts.next()?.parse().ok().map(RequestId)
}

#[async_trait]
impl Cluster for SlowCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        for _ in plan {
            self.call().await;
        }
        self.inner.apply(plan).await
    }

    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError> {
        let mut removed = 0;
        for o in objects {
            self.call().await;
            removed += self.inner.delete_objects(std::slice::from_ref(o)).await?;
        }
        if let Some(id) = objects.first().and_then(|o| request_of(&o.name)) {
            let mut ended = self.ended.lock().expect("lock");
            let e = ended.entry(id).or_default();
            e.at = Some(Timestamp::now());
            e.calls += 1;
            e.removed += removed;
        }
        Ok(removed)
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        self.call().await;
        self.inner.list_managed(instance, request).await
    }

    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        self.call().await;
        self.inner.exists(object).await
    }
}

fn main() {
    println!("expiry benchmark, {}", size_name());
    let (n, window) = (
        size(2_000, 10_000),
        size(Duration::from_secs(10), Duration::from_secs(60)),
    );
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("store")).expect("store"));
    let cluster = Arc::new(SlowCluster::new());
    // Set-up stores several thousand grants a second here; the first expiry waits for them all.
    let lead = Duration::from_secs(1) + Duration::from_micros(500) * n as u32;
    let first = Timestamp::now() + SignedDuration::try_from(lead).expect("lead");
    let expiries = |i: usize| {
        first + SignedDuration::try_from(window.mul_f64(i as f64 / n as f64)).expect("offset")
    };
    let took = store_grants(store.as_ref(), &cluster.inner, n, &expiries);
    let spare = first.duration_since(Timestamp::now());
    println!(
        "stored {n} active grants in {:.1} s; the first is due {:.1} s later{}",
        took.as_secs_f64(),
        spare.as_secs_f64(),
        if spare.is_negative() {
            " (set-up ran late: the first grants count as late)"
        } else {
            ""
        }
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let svc = Service::new(
        store.clone(),
        cluster.clone(),
        Arc::new(SystemClock),
        Arc::new(prefill::policy()),
        ChatTargets {
            approvers_channels: [(Platform::Slack, "C0APPROVERS".to_string())].into(),
        },
    )
    .with_max_in_flight(MAX_IN_FLIGHT);
    let started = Instant::now();
    rt.block_on(run_worker(
        &svc,
        &cluster,
        n,
        window + lead + Duration::from_secs(30),
    ));
    println!("worker ran {:.1} s", started.elapsed().as_secs_f64());
    report(store, &cluster, n, &expiries);
}

/// Stores `n` Active grants with their bindings in the cluster, grant `i` expiring at
/// `expiries(i)`; returns the time taken.
fn store_grants(
    store: &dyn Store,
    cluster: &FakeCluster,
    n: usize,
    expiries: &(dyn Fn(usize) -> Timestamp + Sync),
) -> Duration {
    let policy = prefill::policy();
    let instance = InstanceId::default();
    prefill::grants(store, n, |i| {
        let (id, exp) = (RequestId(i as u64 + 1), expiries(i));
        let req = prefill::active(&policy, id, i, Timestamp::now(), exp).expect("active grant");
        let plan = grant::plan(&req, &policy, &instance, exp).expect("plan");
        futures::executor::block_on(cluster.apply(&plan)).expect("bindings");
        req
    })
}

/// Runs the expiry worker until every grant's bindings were deleted or `limit` passed.
async fn run_worker(svc: &Service, cluster: &SlowCluster, n: usize, limit: Duration) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = jitpe::workers::spawn(jitpe::workers::expiry::Expiry::new(svc.clone()), stopped);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let done = cluster.ended.lock().expect("lock").len();
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let _ = worker.await;
}

/// A signed difference as a duration, negative ones as zero (counted by the caller).
fn late(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or_default()
}

/// Prints lateness and the exactly-once check from the cluster double, the records and the
/// audit log (read here, off the runtime).
fn report(
    store: Arc<dyn Store>,
    cluster: &SlowCluster,
    n: usize,
    expiries: &dyn Fn(usize) -> Timestamp,
) {
    let ended = cluster.ended.lock().expect("lock").clone();
    let mut expired_audits: HashMap<RequestId, usize> = HashMap::new();
    for r in store.audit_from(1, usize::MAX).expect("audit") {
        if r.action == "expired" {
            *expired_audits
                .entry(r.request_id.expect("request id"))
                .or_default() += 1;
        }
    }
    let (mut lateness, mut recorded, mut once, mut early) = (Vec::new(), Vec::new(), 0, 0);
    for i in 0..n {
        let id = RequestId(i as u64 + 1);
        let req = store.get(id).expect("get").expect("stored").value;
        let e = ended.get(&id).copied().unwrap_or_default();
        if let Some(at) = e.at {
            let d = at.duration_since(expiries(i));
            early += usize::from(d.is_negative());
            lateness.push(late(d));
        }
        if let (Some(end), Some(exp)) = (req.ended_at, req.expires_at) {
            recorded.push(late(end.duration_since(exp)));
        }
        let audits = expired_audits.get(&id).copied().unwrap_or(0);
        once += usize::from(
            req.state == State::Expired && audits == 1 && e.calls == 1 && e.removed == 2,
        );
    }
    println!(
        "grants ended: {} of {n}; ended exactly once: {once}; ended before their expiry: {early}",
        lateness.len()
    );
    if let Some(s) = Summary::of(lateness) {
        println!("lateness (bindings deleted - expires_at): {s}");
    }
    if let Some(s) = Summary::of(recorded) {
        println!("lateness in the records (ended_at - expires_at): {s}");
    }
}
