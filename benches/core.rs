//! Benchmarks that print their figures: the pure decision latency, stored transitions per
//! second on sled (each one a flushed transaction with its audit record), the signature check,
//! how late the expiry worker ends a grant, and peak memory. Run with `cargo bench --bench core`.

use jitpe::clock::SystemClock;
use jitpe::domain::command::Command;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::{Namespace, RoleName};
use jitpe::domain::policy::Policy;
use jitpe::domain::policy::RawPolicy;
use jitpe::domain::request::{Event, State};
use jitpe::ports::Store;
use jitpe::service::{ChatTargets, Service};
use jitpe::store::sled::SledStore;
use jitpe::testing::FakeCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[namespaces]
allow = ["shop"]
[[identities]]
kube_user = "rachel"
chat = ["slack:UREQ"]
[roles.debug]
default_duration = "1s"
max_duration = "1h"
approvers = ["slack:UAPP1"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
"#;

fn policy() -> Arc<Policy> {
    let raw: RawPolicy = toml::from_str(POLICY).expect("bench policy parses");
    Arc::new(Policy::try_from(raw).expect("bench policy is valid"))
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn request(minutes: u64) -> Command {
    Command::Request {
        role: RoleName::parse("debug").expect("role"),
        namespace: Namespace::parse("shop").expect("ns"),
        resource: None,
        duration: Some(Duration::from_secs(minutes * 60).max(Duration::from_secs(1))),
        reason: "bench".into(),
    }
}

fn bench_decide() {
    let policy = policy();
    let now = jiff::Timestamp::now();
    let new = jitpe::domain::lifecycle::NewRequest {
        requester: Actor::new(Platform::Slack, "UREQ"),
        role: RoleName::parse("debug").expect("role"),
        namespace: Namespace::parse("shop").expect("ns"),
        resource: None,
        duration: None,
        reason: "bench".into(),
        labels: Default::default(),
    };
    let pending =
        jitpe::domain::lifecycle::submit(jitpe::domain::ids::RequestId(1), new, &policy, now, 0)
            .expect("submit")
            .request;
    let approve = jitpe::domain::request::Event::Approve {
        by: Actor::new(Platform::Slack, "UAPP1"),
    };
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            jitpe::domain::lifecycle::decide(&pending, &approve, &policy, now).expect("decide"),
        );
    }
    println!(
        "pure decide (approve): {:.2} us each",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

/// Requests and approves one grant; returns its id (read from the reply, so the bench does not
/// scan the store and skew its own figures).
async fn grant(svc: &Service, minutes: u64) -> jitpe::domain::ids::RequestId {
    let reply = svc
        .command(&Actor::new(Platform::Slack, "UREQ"), request(minutes), None)
        .await
        .expect("submit");
    let id = reply
        .text
        .to_string()
        .strip_prefix("Request #")
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .map(jitpe::domain::ids::RequestId)
        .expect("the reply names the request");
    let approver = Actor::new(Platform::Slack, "UAPP1");
    // The card check of a click is not what this measures: approve as the click would.
    svc.apply(id, Event::Approve { by: approver })
        .await
        .expect("approve");
    id
}

fn bench_signature() {
    let body = "token=x&team_id=T1&user_id=U1&command=%2Fjit&text=request+debug+shop+15m+INC-1";
    let n = 100_000;
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(jitpe::chat::slack::verify::slack_signature(
            b"secret",
            1_700_000_000 + i,
            body.as_bytes(),
        ));
    }
    println!(
        "slack signature: {:.2} us each",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

async fn bench_transitions(store: Arc<dyn Store>) {
    let svc = Service::new(
        store,
        Arc::new(FakeCluster::default()),
        Arc::new(SystemClock),
        policy(),
        ChatTargets::default(),
    );
    let n = 300;
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        grant(&svc, 15).await;
        latencies.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "request+approve+activate on sled: {:.0} flows/s ({} stored transitions each); p50 {:?}, p99 {:?}",
        n as f64 / secs,
        3,
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99)
    );
}

async fn bench_expiry_lateness(store: Arc<dyn Store>) {
    let svc = Service::new(
        store,
        Arc::new(FakeCluster::default()),
        Arc::new(SystemClock),
        policy(),
        ChatTargets::default(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = jitpe::workers::spawn(jitpe::workers::expiry::Expiry::new(svc.clone()), stop_rx);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let id = grant(&svc, 0).await;
        ids.push(id);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut late = Vec::new();
    while late.len() < ids.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        late.clear();
        for id in &ids {
            let r = svc.store().get(*id).expect("get").expect("exists").value;
            if r.state == State::Expired {
                let d = r
                    .ended_at
                    .expect("ended")
                    .duration_since(r.expires_at.expect("expiry"));
                late.push(Duration::try_from(d).unwrap_or_default());
            }
        }
    }
    let _ = stop_tx.send(true);
    let _ = worker.await;
    println!(
        "expiry lateness over {} grants: p50 {:?}, max {:?}",
        late.len(),
        percentile(late.clone(), 0.5),
        percentile(late, 1.0)
    );
}

#[tokio::main]
async fn main() {
    bench_decide();
    bench_signature();
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("a")).expect("store"));
    bench_transitions(store).await;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir.path().join("b")).expect("store"));
    bench_expiry_lateness(store).await;
    println!("peak resident memory: {}", peak_rss());
}

/// VmHWM from /proc (Linux): the most memory this process held at once.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}
