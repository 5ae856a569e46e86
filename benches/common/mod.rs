//! What the `load`, `expiry` and `scale` benchmarks share: the size switch, latency summaries,
//! memory figures from `/proc`, the bench config and policy, store prefill, and jitpe served on
//! loopback over a fake cluster and a fake Slack.
//!
//! Each benchmark uses part of this module, so unused items are expected in any one of them.
#![allow(dead_code)]

pub mod prefill;
pub mod server;

use std::fmt;
use std::time::Duration;

/// Whether the full size was asked for (`JITPE_BENCH_FULL=1`); otherwise the reduced size that
/// CI runs.
pub fn full() -> bool {
    std::env::var("JITPE_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// `reduced` normally, `full` with `JITPE_BENCH_FULL=1`.
pub fn size<T>(reduced: T, full: T) -> T {
    if self::full() { full } else { reduced }
}

/// The name of the size in force, for the printed header.
pub fn size_name() -> &'static str {
    if full() {
        "full size (JITPE_BENCH_FULL=1)"
    } else {
        "reduced size (JITPE_BENCH_FULL=1 for full size)"
    }
}

/// Percentiles of a set of latencies.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

impl Summary {
    /// The summary of `samples`, or `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
        Some(Self {
            n: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} p99 {} p99.9 {} max {}",
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

/// A duration in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A field of `/proc/<pid>/status` (`/proc/self/status` for `None`) in KiB, e.g. `VmRSS`.
pub fn proc_status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// KiB as MiB with one decimal, or `unknown` (no `/proc`).
pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".into(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

/// This process's resident memory now and at its peak.
pub fn rss_line(pid: Option<u32>) -> String {
    format!(
        "VmRSS {}, VmHWM {}",
        mib(proc_status_kib(pid, "VmRSS")),
        mib(proc_status_kib(pid, "VmHWM"))
    )
}
