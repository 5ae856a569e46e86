//! Background workers: the expiry worker (one place that ends access on time) and the periodic
//! reconcile sweep. Both log errors instead of unwrapping, back off on failure and stop on the
//! shutdown signal.

pub mod outbox;

use crate::service::Service;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{Instrument, info_span, warn};

/// Longest sleep between passes, so a clock jump or a missed wake-up costs at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Backoff after `failures` consecutive failed passes: 1.5^n seconds, capped at 30 s.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1.5f64.powi(failures.min(10) as i32);
    Duration::from_secs_f64(secs).min(MAX_SLEEP)
}

/// Runs the expiry worker until `shutdown` turns true: sleeps until the earliest deadline in the
/// store (or a wake-up from a new grant), handles everything due, backs off while it fails.
pub async fn expiry_worker(service: Service, mut shutdown: watch::Receiver<bool>) {
    let wake = service.wake_signal();
    let mut failures = 0u32;
    async move {
        loop {
            let ok = match service.run_due().await {
                Ok(report) => report.failed == 0,
                Err(e) => {
                    warn!(error = %e, "deadline pass failed");
                    false
                }
            };
            failures = if ok { 0 } else { failures + 1 };
            let sleep = if failures > 0 {
                backoff(failures)
            } else {
                until_next_deadline(&service)
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
    .instrument(info_span!("expiry_worker"))
    .await
}

fn until_next_deadline(service: &Service) -> Duration {
    match service.next_deadline() {
        Ok(Some(t)) => {
            let left = t.duration_since(service.clock().now());
            Duration::try_from(left)
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP)
        }
        Ok(None) => MAX_SLEEP,
        Err(e) => {
            warn!(error = %e, "cannot read the deadline index");
            backoff(1)
        }
    }
}

/// Runs the reconcile sweep now and then every `interval` until shutdown; `cluster_ok` tells
/// `/readyz` whether the last sweep reached the cluster.
pub async fn reconcile_worker(
    service: Service,
    interval: Duration,
    cluster_ok: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    async move {
        loop {
            match service.reconcile(false).await {
                Ok(_) => {
                    failures = 0;
                    cluster_ok.store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    failures += 1;
                    cluster_ok.store(false, Ordering::Relaxed);
                    warn!(error = %e, "reconcile failed");
                }
            }
            let sleep = if failures > 0 {
                backoff(failures).min(interval)
            } else {
                interval
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
    .instrument(info_span!("reconcile_worker"))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert!(backoff(2) > backoff(1));
        assert_eq!(backoff(50), MAX_SLEEP);
    }
}
