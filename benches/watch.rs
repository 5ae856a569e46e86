//! Dynamic revocation under load: jitpe wired as `jitpe serve` wires it (fake cluster, fake
//! Slack Web API, sled store with history and active grants), fed audit webhook batches
//! (`audit.k8s.io/v1` `EventList`, 400 events each, as the apiserver batches them) open loop at
//! 5,000, 20,000 and 50,000 events/s, while signed `/jit request` commands arrive at 100/s.
//!
//! Printed per rate: the webhook's answer latency (from each batch's scheduled send time), how
//! fast the events were evaluated (sent ÷ time from the first send until the watch worker had
//! evaluated them all: the send rate while it keeps up, less once it falls behind),
//! the revocation latency of one offending call per second (a grantee reading a Secret: from the
//! batch's scheduled send time to the grant stored Revoked, which is after its bindings were
//! deleted), and the `/jit request` acknowledgements in the same time. The apiserver's own batch
//! delay (`--audit-webhook-batch-max-wait=1s`) comes on top of the revocation figure; the real
//! apiserver path is tested in `tests/kube_watch.rs`. Figures only; nothing is asserted.
//!
//! `cargo bench --bench watch` (2 s per rate, 10,000 stored); `JITPE_BENCH_FULL=1` for 10 s per
//! rate with 100,000 stored.

mod common;

use common::server::{self, Running};
use common::{Summary, prefill, size, size_name};
use jiff::{SignedDuration, Timestamp};
use jitpe::domain::ids::RequestId;
use jitpe::domain::request::State;
use jitpe::store::sled::SledStore;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Events per webhook batch (the apiserver's default `--audit-webhook-batch-max-size`).
const BATCH: usize = 400;
/// Active grants in the store; grantee `i` is `user{i}@example.com`.
const GRANTS: usize = 200;
/// The first id of the prefilled grants (after any history id).
const GRANT_IDS: u64 = 50_000_000;

fn main() {
    println!("watch benchmark, {}", size_name());
    let secs = size(2u32, 10);
    let stored = size(10_000, 100_000);
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("store");
    prefill_store(&path, stored);
    let rt = tokio::runtime::Runtime::new().expect("server runtime");
    let running = rt.block_on(async {
        let slack = server::fake_slack().await;
        server::start(server::settings(&path, &slack)).await
    });
    let mut next_victim = 0;
    for rate in [5_000u32, 20_000, 50_000] {
        let run = rt.block_on(drive(&running, rate, secs, &mut next_victim));
        run.print(rate, stored);
    }
    rt.block_on(running.stop());
}

/// `n` finished requests and [`GRANTS`] active ones, written before the server opens the store.
fn prefill_store(path: &std::path::Path, n: usize) {
    let store = SledStore::open(path).expect("store opens");
    let policy = prefill::policy();
    let took = prefill::history(&store, &policy, n);
    let now = Timestamp::now();
    let until = now + SignedDuration::from_mins(50);
    prefill::grants(&store, GRANTS, |i| {
        let id = RequestId(GRANT_IDS + i as u64);
        prefill::active(&policy, id, i, now - SignedDuration::from_secs(5), until).expect("grant")
    });
    println!(
        "prefilled {n} finished requests in {:.1} s and {GRANTS} active grants",
        took.as_secs_f64()
    );
}

/// One rate's figures.
struct RunFigures {
    sent_events: u64,
    webhook: Vec<Duration>,
    webhook_errors: usize,
    evaluated_in: Option<Duration>,
    revocations: Vec<Duration>,
    not_revoked: usize,
    acks: Vec<Duration>,
    ack_errors: usize,
}

impl RunFigures {
    fn print(&self, rate: u32, stored: usize) {
        let s = |v: &[Duration]| Summary::of(v.to_vec()).map_or("none".into(), |s| s.to_string());
        println!("-- {rate} audit events/s, {stored} stored, {GRANTS} active grants");
        println!(
            "  webhook answers: {} ({} errors)",
            s(&self.webhook),
            self.webhook_errors
        );
        match self.evaluated_in {
            Some(d) => println!(
                "  all {} events evaluated {:.2} s after the first was sent: {:.0} events/s",
                self.sent_events,
                d.as_secs_f64(),
                self.sent_events as f64 / d.as_secs_f64()
            ),
            None => println!(
                "  NOT all {} events evaluated within 60 s",
                self.sent_events
            ),
        }
        println!(
            "  revocation, batch sent -> grant stored Revoked, {} grants: {} ({} not revoked within 10 s)",
            self.revocations.len(),
            s(&self.revocations),
            self.not_revoked
        );
        println!(
            "  /jit request acks at 100/s meanwhile: {} ({} errors)",
            s(&self.acks),
            self.ack_errors
        );
    }
}

/// Sends `rate` events/s for `secs` seconds with one offending call per second, and `/jit
/// request` at 100/s, all open loop; then waits for the evaluation to catch up.
async fn drive(running: &Running, rate: u32, secs: u32, victim: &mut usize) -> RunFigures {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let evaluated_before = evaluated(&client, running).await;
    let batches = (rate as usize * secs as usize).div_ceil(BATCH);
    let interval = Duration::from_secs_f64(secs as f64 / batches as f64);
    // Four offending calls a second, spread over the batches.
    let every = (batches / secs as usize / 4).max(1);
    let start = Instant::now() + Duration::from_millis(50);
    let acks = tokio::spawn(commands(
        running.url(jitpe::chat::slack::SLACK_COMMANDS),
        secs,
        rate,
    ));
    let mut webhook = Vec::new();
    let mut watched = Vec::new();
    for b in 0..batches {
        let due = start + interval * b as u32;
        tokio::time::sleep_until(due.into()).await;
        let offending = (b % every == every / 2).then(|| {
            *victim += 1;
            *victim % GRANTS
        });
        let body = batch(b, offending);
        let (client, url) = (client.clone(), running.url("/k8s/audit"));
        webhook.push(tokio::spawn(async move {
            let sent = client
                .post(url)
                .bearer_auth(server::AUDIT_TOKEN)
                .json(&body)
                .send()
                .await;
            let ok = sent.is_ok_and(|r| r.status().is_success());
            (ok, due.elapsed())
        }));
        if let Some(v) = offending {
            let service = running.service.clone();
            watched.push(tokio::spawn(revoked_after(
                service,
                RequestId(GRANT_IDS + v as u64),
                due,
            )));
        }
    }
    let mut figures = RunFigures {
        sent_events: (batches * BATCH) as u64,
        webhook: Vec::new(),
        webhook_errors: 0,
        evaluated_in: None,
        revocations: Vec::new(),
        not_revoked: 0,
        acks: Vec::new(),
        ack_errors: 0,
    };
    for w in webhook {
        let (ok, took) = w.await.expect("webhook task");
        if ok {
            figures.webhook.push(took)
        } else {
            figures.webhook_errors += 1
        }
    }
    let target = evaluated_before + figures.sent_events;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if evaluated(&client, running).await >= target {
            figures.evaluated_in = Some(start.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for w in watched {
        match w.await.expect("watch task") {
            Some(d) => figures.revocations.push(d),
            None => figures.not_revoked += 1,
        }
    }
    (figures.acks, figures.ack_errors) = acks.await.expect("commands task");
    figures
}

/// Polls grant `id` until it is stored Revoked; the time since `due`, or `None` after 10 s.
async fn revoked_after(
    service: jitpe::service::Service,
    id: RequestId,
    due: Instant,
) -> Option<Duration> {
    while due.elapsed() < Duration::from_secs(10) {
        if service
            .get(id)
            .await
            .is_ok_and(|r| r.state == State::Revoked)
        {
            return Some(due.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// Batch `b`: reads by grantees and by cluster components, every one completed; with
/// `offending`, grantee `offending` also tries to read a Secret (403).
fn batch(b: usize, offending: Option<usize>) -> Value {
    let now = Timestamp::now().to_string();
    let mut items: Vec<Value> = (0..BATCH)
        .map(|i| {
            let n = b * BATCH + i;
            let user = match n % 4 {
                0 => format!("user{}@example.com", n % GRANTS),
                _ => format!("system:serviceaccount:kube-system:controller-{}", n % 17),
            };
            event(
                &format!("{b}-{i}"),
                &user,
                "get",
                "networking.k8s.io",
                "ingresses",
                200,
                &now,
            )
        })
        .collect();
    if let Some(v) = offending {
        let user = format!("user{v}@example.com");
        items[BATCH / 2] = event(&format!("{b}-x"), &user, "get", "", "secrets", 403, &now);
    }
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
}

fn event(
    id: &str,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    code: u16,
    at: &str,
) -> Value {
    json!({
        "level": "Metadata", "auditID": id, "stage": "ResponseComplete",
        "requestURI": format!("/apis/{group}/v1/namespaces/shop/{resource}/web"),
        "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.1"], "userAgent": "kubectl/v1.34.1",
        "objectRef": {"resource": resource, "namespace": "shop", "name": "web", "apiGroup": group, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": at, "stageTimestamp": at
    })
}

/// The watch worker's evaluated counter, from `/metrics`.
async fn evaluated(client: &reqwest::Client, running: &Running) -> u64 {
    let text = match client.get(running.url("/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find(|l| l.starts_with("jitpe_observations_total") && l.contains("result=\"evaluated\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `/jit request` at 100/s for `secs` seconds, open loop; latencies from the scheduled times.
async fn commands(url: String, secs: u32, tag: u32) -> (Vec<Duration>, usize) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for i in 0..100 * secs as usize {
        let due = start + Duration::from_millis(10) * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let text = format!("request debug shop 15m watch bench INC-{tag}-{i}");
        let (body, ts, sig) =
            server::signed_command(&server::user(i), &text, &format!("w.{tag}.{i}"));
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let answer = client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await;
            let ok = match answer {
                Ok(r) if r.status().is_success() => {
                    r.text().await.is_ok_and(|t| t.contains("Request #"))
                }
                _ => false,
            };
            (ok, due.elapsed())
        }));
    }
    let (mut acks, mut errors) = (Vec::new(), 0);
    for t in tasks {
        match t.await.expect("command task") {
            (true, d) => acks.push(d),
            (false, _) => errors += 1,
        }
    }
    (acks, errors)
}
