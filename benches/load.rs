//! Load: signed Slack slash commands over loopback HTTP at a fixed arrival rate, against jitpe
//! wired as `jitpe serve` wires it (`app::service_with` + `app::serve`: the real router, the
//! signature check, the inbound pipeline with its in-flight limit, the sled store in a temporary
//! directory, every worker) with a fake cluster and a fake Slack Web API for the outbox.
//!
//! The generator is open-loop: request `i` is due at `start + i / rate` whether or not earlier
//! ones were answered, and its latency is measured from that scheduled time, so a stalled server
//! shows up in the figures instead of slowing the generator down. The schedule is kept by OS
//! sleeps on the main thread; the client is a single-threaded runtime on a thread of its own; the
//! server has the default multi-threaded runtime.
//!
//! Printed: `/jit request` at 100, 1,000 and 2,000 commands/s with 1,000 and 10,000 (full size:
//! 100,000) finished requests stored beforehand, and `/jit help` at 2,000/s: p50, p99, p99.9,
//! max, errors, and commands shed with the "busy" reply; and the floor, one 600-byte sled insert
//! plus flush on a fresh database, with each run's p50 as a multiple of it. Figures only; no
//! timing is asserted.
//!
//! `cargo bench --bench load` (about 2 s per rate); `JITPE_BENCH_FULL=1 cargo bench --bench load`
//! for the full size (10 s per rate, 100,000 stored).

mod common;

use common::server::{self, Running};
use common::{Summary, ms, prefill, size, size_name};
use jitpe::chat::inbound::BUSY;
use jitpe::store::sled::SledStore;
use std::time::{Duration, Instant};

/// What each command is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Help,
}

/// How one command ended.
enum Outcome {
    /// Answered (`shed` if with the busy reply, `late` if with "working on it").
    Answered {
        latency: Duration,
        lag: Duration,
        shed: bool,
        late: bool,
    },
    /// No answer, a non-200 status, or an answer that is not what the command should get.
    Error(String),
}

/// One run's outcomes, and the outbox backlog `/metrics` showed after it.
struct Run {
    outcomes: Vec<Outcome>,
    backlog: String,
}

fn main() {
    println!("load benchmark, {}", size_name());
    let floor = sled_floor(2000);
    println!("sled floor (600-byte insert + flush, fresh db, 2000x): {floor}");
    let server_rt = tokio::runtime::Runtime::new().expect("server runtime");
    let secs = size(2, 10);
    for (k, stored) in [1_000, size(10_000, 100_000)].into_iter().enumerate() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let path = dir.path().join("store");
        prefill_history(&path, stored);
        let running = server_rt.block_on(async {
            let slack = server::fake_slack().await;
            server::start(server::settings(&path, &slack)).await
        });
        for rate in [100, 1_000, 2_000] {
            let label = format!("/jit request at {rate}/s, {stored} stored");
            report(
                &label,
                &generate(&running, Kind::Request, rate, secs, k),
                floor,
            );
        }
        if k == 0 {
            let label = format!("/jit help at 2000/s, {stored} stored");
            report(
                &label,
                &generate(&running, Kind::Help, 2_000, secs, k),
                floor,
            );
        }
        server_rt.block_on(running.stop());
    }
}

/// The cost of one small durable write on this machine: p50/p99 of `n` inserts of 600 bytes,
/// each followed by a flush, on a fresh sled database.
fn sled_floor(n: u32) -> Summary {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let db = sled::open(dir.path().join("floor")).expect("sled opens");
    let value = vec![0x5a_u8; 600];
    let samples = (0..n)
        .map(|i| {
            let t = Instant::now();
            db.insert(i.to_be_bytes(), value.as_slice())
                .expect("insert");
            db.flush().expect("flush");
            t.elapsed()
        })
        .collect();
    Summary::of(samples).expect("samples")
}

/// Stores `n` finished requests in a new store at `path` (on this thread, before any runtime
/// work), then closes it.
fn prefill_history(path: &std::path::Path, n: usize) {
    let store = SledStore::open(path).expect("store opens");
    let took = prefill::history(&store, &prefill::policy(), n);
    println!(
        "prefilled {n} finished requests in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}

/// Sends `rate * secs` commands at `rate` per second, open loop: this thread keeps the schedule
/// with OS sleeps (finer than the runtime's millisecond timer) and hands each due command to a
/// single-threaded client runtime on a thread of its own. `run` keeps triggers and reasons
/// unique across runs.
fn generate(running: &Running, kind: Kind, rate: u32, secs: u32, run: usize) -> Run {
    let url = running.url(jitpe::chat::slack::SLACK_COMMANDS);
    let metrics = running.url("/metrics");
    let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel::<(u32, Instant)>();
    let client = std::thread::spawn(move || client(url, metrics, kind, rate, run, due_rx));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(50);
    for i in 0..rate * secs {
        let due = start + interval * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        due_tx.send((i, due)).expect("client runs");
    }
    drop(due_tx);
    client.join().expect("client thread")
}

/// The client side of [`generate`]: sends each command as it is handed over, concurrently.
fn client(
    url: String,
    metrics: String,
    kind: Kind,
    rate: u32,
    run: usize,
    mut due: tokio::sync::mpsc::UnboundedReceiver<(u32, Instant)>,
) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut tasks = Vec::new();
        while let Some((i, at)) = due.recv().await {
            let (client, url) = (client.clone(), url.clone());
            let tag = format!("{run}-{rate}-{i}");
            tasks.push(tokio::spawn(send(client, url, kind, i as usize, tag, at)));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.expect("send task"));
        }
        let backlog = outbox_backlog(&client, &metrics).await;
        Run {
            outcomes: out,
            backlog,
        }
    })
}

/// Sends one signed command due at `due` and judges the answer.
async fn send(
    client: reqwest::Client,
    url: String,
    kind: Kind,
    i: usize,
    tag: String,
    due: Instant,
) -> Outcome {
    let text = match kind {
        Kind::Request => format!("request debug shop 15m load test INC-{tag}"),
        Kind::Help => "help".to_string(),
    };
    let (body, ts, sig) = server::signed_command(&server::user(i), &text, &format!("t.{tag}"));
    let lag = due.elapsed();
    let answer = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await;
    let resp = match answer {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Outcome::Error(format!("HTTP {}", r.status())),
        Err(e) => {
            return Outcome::Error(if e.is_timeout() {
                "timeout".into()
            } else {
                e.to_string()
            });
        }
    };
    let reply: serde_json::Value = match resp.json().await {
        Ok(v) => v,
        Err(e) => return Outcome::Error(format!("body: {e}")),
    };
    let latency = due.elapsed();
    let text = reply["text"].as_str().unwrap_or_default();
    let (shed, late) = (text == BUSY, text.starts_with("Working on it"));
    let expected = match kind {
        Kind::Request => text.starts_with("Request #"),
        Kind::Help => text.contains("/jit request"),
    };
    if !(expected || shed || late) {
        return Outcome::Error(format!("unexpected reply: {text}"));
    }
    Outcome::Answered {
        latency,
        lag,
        shed,
        late,
    }
}

/// Prints one run: counts, latency from the scheduled send, and p50 against the sled floor.
fn report(label: &str, run: &Run, floor: Summary) {
    let outcomes = &run.outcomes;
    let (mut latencies, mut lags, mut shed, mut late) = (Vec::new(), Vec::new(), 0, 0);
    let mut errors: Vec<&str> = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Answered {
                latency,
                lag,
                shed: s,
                late: l,
            } => {
                latencies.push(*latency);
                lags.push(*lag);
                shed += usize::from(*s);
                late += usize::from(*l);
            }
            Outcome::Error(e) => errors.push(e),
        }
    }
    println!(
        "{label}: sent {}, answered {}, shed (busy) {shed}, late (working on it) {late}, errors {}",
        outcomes.len(),
        latencies.len(),
        errors.len()
    );
    println!(
        "  outbox backlog (/metrics, store probe up to 5 s old): {}",
        run.backlog
    );
    if let Some(first) = errors.first() {
        println!("  first error: {first}");
    }
    let (Some(all), Some(lag)) = (Summary::of(latencies), Summary::of(lags)) else {
        return;
    };
    let ratio = all.p50.as_secs_f64() / floor.p50.as_secs_f64();
    println!(
        "  latency from scheduled send: {all}; p50 = {ratio:.1}x the sled floor p50 ({})",
        ms(floor.p50)
    );
    println!(
        "  generator lag before sending: p50 {} p99 {}",
        ms(lag.p50),
        ms(lag.p99)
    );
}

/// `jitpe_outbox_depth` from `/metrics` (the store probe's last reading, up to 5 s old): chat
/// messages waiting, one card per request, delivered at most one a second per channel.
async fn outbox_backlog(client: &reqwest::Client, url: &str) -> String {
    let Ok(resp) = client.get(url).send().await else {
        return "unavailable".into();
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("jitpe_outbox_depth "))
        .unwrap_or("unavailable")
        .to_string()
}
