//! Scale: what a large history costs a running jitpe and the audit check.
//!
//! The store (a sled database in a temporary directory) is filled first with 10,000 finished
//! requests (full size: 100,000) and audit records up to 100,000 in all (full size: 1,000,000).
//! Then, each in a process of its own so that the figures are not those of the filling:
//! - jitpe is started as `jitpe serve` wires it (`app::service_with` + `app::serve`, fake cluster,
//!   fake Slack Web API) by re-running this benchmark's binary with `JITPE_BENCH_CHILD=serve`:
//!   printed are the time from its start to `/readyz` answering 200, and its resident memory
//!   (VmRSS, VmHWM) after start and after light use (500 signed `/jit request`s, `/jit list`,
//!   `/metrics`, a few seconds of the workers);
//! - `jitpe audit verify` is run as the built binary on the same config, through the running
//!   jitpe's admin socket and again on the store once it has stopped: records per second (wall
//!   time of the whole command) and its peak memory (VmHWM, sampled every 5 ms), and the serving
//!   jitpe's memory after it answered.
//!
//! Figures only. `cargo bench --bench scale`; `JITPE_BENCH_FULL=1 cargo bench --bench scale`.

mod common;

use common::server::{self, SIGNING_SECRET};
use common::{mib, prefill, proc_status_kib, size, size_name};
use jitpe::store::sled::SledStore;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process that serves.
const CHILD: &str = "JITPE_BENCH_CHILD";
/// The config file the child serves with.
const CHILD_CONFIG: &str = "JITPE_BENCH_CONFIG";

fn main() {
    if std::env::var(CHILD).is_ok_and(|v| v == "serve") {
        return child_serve();
    }
    println!("scale benchmark, {}", size_name());
    let (stored, audit_total) = (size(10_000, 100_000), size(100_000, 1_000_000));
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store_path = dir.path().join("store");
    fill(&store_path, stored, audit_total);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let slack = rt.block_on(server::fake_slack());
    let config = dir.path().join("jitpe.toml");
    std::fs::write(&config, server::config_toml(&store_path, &slack)).expect("config");
    serve_and_measure(&rt, &config);
    verify_and_measure(&config, "on the stopped jitpe's store");
}

/// Fills a new store at `path` with `stored` finished requests and audit records up to
/// `audit_total`, then closes it.
fn fill(path: &Path, stored: usize, audit_total: usize) {
    let store = SledStore::open(path).expect("store opens");
    let took = prefill::history(&store, &prefill::policy(), stored);
    println!(
        "prefilled {stored} finished requests in {:.1} s",
        took.as_secs_f64()
    );
    let extra = audit_total.saturating_sub(stored);
    let took = prefill::audit(&store, extra);
    println!(
        "prefilled {extra} more audit records ({audit_total} in all) in {:.1} s",
        took.as_secs_f64()
    );
}

/// The environment every child gets: the Slack secrets of the bench config.
fn with_secrets(cmd: &mut Command) -> &mut Command {
    cmd.env("JITPE_SLACK_BOT_TOKEN", "xoxb-bench")
        .env("JITPE_SLACK_SIGNING_SECRET", SIGNING_SECRET)
}

/// Starts the serving child, reads its start-up time and memory, uses it lightly, reads its
/// memory again and stops it.
fn serve_and_measure(rt: &tokio::runtime::Runtime, config: &Path) {
    let spawned = Instant::now();
    let mut child = with_secrets(&mut Command::new(std::env::current_exe().expect("exe")))
        .env(CHILD, "serve")
        .env(CHILD_CONFIG, config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the serving child starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = lines.next().expect("a ready line").expect("read");
    let wall = spawned.elapsed();
    let (took, addr) = ready.split_once(' ').expect("`<ms> <addr>`");
    println!(
        "start to ready (/readyz 200): {took} ms in the process ({:.0} ms from spawn)",
        wall.as_secs_f64() * 1e3
    );
    let pid = child.id();
    println!("memory after start: {}", rss(pid));
    rt.block_on(light_use(addr));
    std::thread::sleep(Duration::from_secs(6));
    println!("memory after light use: {}", rss(pid));
    verify_and_measure(config, "through the running jitpe's admin socket");
    println!("memory after serving the audit check: {}", rss(pid));
    drop(child.stdin.take());
    let status = child.wait().expect("child ends");
    assert!(status.success(), "the serving child failed: {status}");
}

/// VmRSS and VmHWM of process `pid`.
fn rss(pid: u32) -> String {
    let kib = |f| proc_status_kib(Some(pid), f);
    format!("VmRSS {}, VmHWM {}", mib(kib("VmRSS")), mib(kib("VmHWM")))
}

/// 500 new requests, 20 `/jit list` by an approver and by a requester, and a `/metrics` scrape.
async fn light_use(addr: &str) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{}", jitpe::chat::slack::SLACK_COMMANDS);
    let mut sent = Vec::new();
    for i in 0..540 {
        let (user, text) = match i {
            0..500 => (
                server::user(i),
                format!("request debug shop 15m light use INC-{i}"),
            ),
            500..520 => ("UAPP1".to_string(), "list".to_string()),
            _ => (server::user(i), "list".to_string()),
        };
        let (body, ts, sig) = server::signed_command(&user, &text, &format!("light.{i}"));
        let req = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body);
        sent.push(tokio::spawn(req.send()));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut ok = 0;
    for s in sent {
        ok += usize::from(
            s.await
                .expect("task")
                .is_ok_and(|r| r.status().is_success()),
        );
    }
    let metrics = client.get(format!("http://{addr}/metrics")).send().await;
    println!(
        "light use: {ok} of 540 commands answered 200, /metrics {}",
        metrics.map_or("failed".into(), |r| r.status().to_string())
    );
}

/// Runs `jitpe audit verify` on `config` (`how`: on the store, or through a running jitpe),
/// sampling its peak memory until it exits; a verify that fails stops the benchmark.
fn verify_and_measure(config: &Path, how: &str) {
    println!("audit check {how}:");
    // What opening the store (or asking the running jitpe) costs alone, for comparison.
    let started = Instant::now();
    let listed = with_secrets(&mut Command::new(env!("CARGO_BIN_EXE_jitpe")))
        .args(["grants", "list", "--config"])
        .arg(config)
        .output()
        .expect("jitpe grants list runs");
    println!(
        "jitpe grants list: {:.2} s, exit {}",
        started.elapsed().as_secs_f64(),
        listed.status
    );
    let started = Instant::now();
    let mut child: Child = with_secrets(&mut Command::new(env!("CARGO_BIN_EXE_jitpe")))
        .args(["audit", "verify", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .spawn()
        .expect("jitpe audit verify starts");
    let pid = child.id();
    let mut peak = None;
    while child.try_wait().expect("wait").is_none() {
        peak = proc_status_kib(Some(pid), "VmHWM").max(peak);
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "jitpe audit verify {how} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let records: Option<f64> = text
        .split_whitespace()
        .skip_while(|w| *w != "OK:")
        .nth(1)
        .and_then(|n| n.parse().ok());
    println!(
        "jitpe audit verify: {} in {:.2} s",
        text.trim(),
        took.as_secs_f64()
    );
    if let Some(n) = records {
        println!(
            "audit verify: {:.0} records/s, peak memory (VmHWM) {}",
            n / took.as_secs_f64(),
            mib(peak)
        );
    }
}

/// The child: serve the config in `JITPE_BENCH_CONFIG` until stdin closes; print
/// `<ms to ready> <addr>` once `/readyz` answers 200.
fn child_serve() {
    let started = Instant::now();
    let config = std::env::var(CHILD_CONFIG).expect("config path");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let settings = jitpe::cli::settings(Path::new(&config)).expect("settings");
        let running = server::start(settings).await;
        let client = reqwest::Client::new();
        loop {
            let r = client.get(running.url("/readyz")).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ms:.0} {}", running.addr).expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        // Until the parent closes stdin, read on a blocking thread.
        let _ = tokio::task::spawn_blocking(|| {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
        })
        .await;
        running.stop().await;
    });
}
