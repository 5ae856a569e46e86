//! The systems API: `POST /api/v1/requests` from many ServiceAccounts at a fixed arrival rate,
//! through the real API router (token check through the production cache in front of a fake
//! TokenReview, JSON body, the chat grammar's checks, the policy) over the sled store in a
//! temporary directory with finished requests stored beforehand, auto-approved so each call also
//! activates its grant on a fake cluster. In-process (tower), so the figures are jitpe's own path
//! without loopback HTTP, which `benches/load.rs` measures for chat.
//!
//! Open-loop: call `i` is due at `start + i / rate` and its latency is measured from that time.
//! Printed: p50, p99, p99.9, max and errors at 100 and 500 calls/s with 1,000 (full size:
//! 100,000) requests stored, and how many TokenReviews the cache let through. Figures only; no timing is asserted.
//!
//! `cargo bench --bench api`; `JITPE_BENCH_FULL=1 cargo bench --bench api` for the full size.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{Summary, ms, prefill, size, size_name};
use jitpe::clock::SystemClock;
use jitpe::domain::policy::{Policy, RawPolicy};
use jitpe::metrics::Metrics;
use jitpe::ports::Store;
use jitpe::service::tokens::{CacheLimits, CachedTokenReviewer};
use jitpe::service::{ChatTargets, Service};
use jitpe::store::sled::SledStore;
use jitpe::testing::{FakeCluster, FakeTokenReviewer};
use jitpe::web::api::{self, ApiConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Distinct ServiceAccounts calling, each with its own token: within the token cache's burst of
/// new tokens (`service::tokens`), whose rate limit would otherwise answer the first calls of
/// more accounts at once with 503 (as it should: that limit protects the apiserver).
const ACCOUNTS: usize = 40;

fn policy() -> Policy {
    let text = format!(
        "{}\n[[policy.systems]]\nservice_accounts = [\"system:serviceaccount:ci:*\"]\n\
         roles = [\"debug\"]\nnamespaces = [\"shop\"]\n\
         auto_approve = {{ max_duration = \"1h\", per_day = 4000000000 }}\n",
        common::server::policy_toml()
    );
    #[derive(serde::Deserialize)]
    struct Wrapper {
        policy: RawPolicy,
    }
    let w: Wrapper = toml::from_str(&text).expect("policy TOML");
    Policy::try_from(w.policy).expect("valid policy")
}

fn main() {
    println!("api benchmark, {}", size_name());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
    let policy = Arc::new(policy());
    let stored = size(1_000, 100_000);
    let took = prefill::history(store.as_ref(), &policy, stored);
    println!("prefilled {stored} finished requests in {took:?}");
    let reviewer = Arc::new(FakeTokenReviewer::default());
    for i in 0..ACCOUNTS {
        reviewer.accept(
            &format!("token-{i}"),
            &format!("system:serviceaccount:ci:job-{i}"),
        );
    }
    let service = Service::new(
        store,
        Arc::new(FakeCluster::default()),
        Arc::new(SystemClock),
        policy,
        ChatTargets::default(),
    );
    let cached = CachedTokenReviewer::new(
        reviewer.clone(),
        service.clock().clone(),
        CacheLimits::default(),
    );
    let config = ApiConfig {
        audiences: vec!["jitpe".into()],
        body_limit: 16 * 1024,
        body_timeout: Duration::from_secs(10),
    };
    let app = api::router(
        config,
        service,
        Arc::new(cached),
        Arc::new(Metrics::default()),
    );
    for rate in [100u32, 500] {
        let secs = size(2u32, 10);
        let outcomes = runtime.block_on(run(&app, rate, secs));
        report(rate, secs, outcomes);
    }
    println!("TokenReviews asked for all runs: {}", reviewer.calls());
}

/// `rate` calls per second for `secs` seconds; each call's latency from its scheduled time, or
/// the status it got instead of 201.
async fn run(app: &axum::Router, rate: u32, secs: u32) -> Vec<Result<Duration, String>> {
    let n = (rate * secs) as usize;
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(due).await;
        let app = app.clone();
        tasks.spawn(async move {
            let body = format!(
                r#"{{"role":"debug","namespace":"shop","duration":"15m","reason":"deploy {i}","labels":{{"run":"{i}"}}}}"#
            );
            let req = Request::post("/api/v1/requests")
                .header(header::AUTHORIZATION, format!("Bearer token-{}", i % ACCOUNTS))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .expect("a request");
            let answer = app.oneshot(req).await.expect("infallible");
            let latency = Instant::now().saturating_duration_since(due.into_std());
            match answer.status().as_u16() {
                201 => Ok(latency),
                other => Err(format!("status {other}")),
            }
        });
    }
    tasks.join_all().await
}

fn report(rate: u32, secs: u32, outcomes: Vec<Result<Duration, String>>) {
    let errors: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let latencies: Vec<Duration> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok().copied())
        .collect();
    let line = Summary::of(latencies).map_or("no answers".into(), |s| {
        format!(
            "p50 {} p99 {} p99.9 {} max {}",
            ms(s.p50),
            ms(s.p99),
            ms(s.p999),
            ms(s.max)
        )
    });
    println!(
        "POST /api/v1/requests at {rate}/s for {secs} s: {line}; {} errors{}",
        errors.len(),
        errors
            .first()
            .map_or(String::new(), |e| format!(" (first: {e})"))
    );
}
