//! The runner, driven by a scripted worker on paused time: every assertion is about when the
//! runner called `work`, on tokio's virtual clock, never about wall-clock time.

use super::*;
use crate::ports::StoreError;
use std::collections::VecDeque;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A worker that answers from a script (then idles for an hour) and reports each call's time.
struct Scripted {
    script: VecDeque<Result<WorkerState, WorkerError>>,
    calls: mpsc::UnboundedSender<Instant>,
    wake: Arc<Notify>,
}

#[async_trait]
impl Worker for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        let _ = self.calls.send(Instant::now());
        match self.script.pop_front().unwrap_or(Ok(idle(3600))) {
            // A scripted panic is a real one, for the runner to catch.
            Err(WorkerError::Panicked(what)) => panic!("{what}"),
            step => step,
        }
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }
}

fn idle(secs: u64) -> WorkerState {
    WorkerState::Idle {
        until: Duration::from_secs(secs),
    }
}

fn failure() -> Result<WorkerState, WorkerError> {
    Err(StoreError::backend("test", "disk on fire").into())
}

struct Started {
    calls: mpsc::UnboundedReceiver<Instant>,
    wake: Arc<Notify>,
    stop: signal::Sender<bool>,
    handle: JoinHandle<()>,
    start: Instant,
}

fn start(script: Vec<Result<WorkerState, WorkerError>>) -> Started {
    let (tx, calls) = mpsc::unbounded_channel();
    let wake = Arc::new(Notify::new());
    let (stop, stop_rx) = signal::channel(false);
    let worker = Scripted {
        script: script.into(),
        calls: tx,
        wake: wake.clone(),
    };
    let start = Instant::now();
    let handle = spawn(worker, stop_rx);
    Started {
        calls,
        wake,
        stop,
        handle,
        start,
    }
}

impl Started {
    /// Sends the shutdown and waits (a virtual minute at most) for the runner to end.
    async fn stop(&mut self) {
        self.stop.send(true).expect("the runner listens");
        tokio::time::timeout(Duration::from_secs(60), &mut self.handle)
            .await
            .expect("the runner stops promptly")
            .expect("the runner ends cleanly");
    }

    /// The times of the next `n` calls, as offsets from the start.
    async fn next_calls(&mut self, n: usize) -> Vec<Duration> {
        let mut out = Vec::new();
        for _ in 0..n {
            let at = self
                .calls
                .recv()
                .await
                .expect("the runner is still calling");
            out.push(at - self.start);
        }
        out
    }
}

#[tokio::test(start_paused = true)]
async fn busy_runs_again_at_once() {
    let mut s = start(vec![Ok(WorkerState::Busy), Ok(WorkerState::Busy)]);
    assert_eq!(s.next_calls(3).await, vec![Duration::ZERO; 3]);
}

#[tokio::test(start_paused = true)]
async fn idle_sleeps_for_its_duration() {
    let mut s = start(vec![Ok(idle(5)), Ok(idle(7))]);
    let secs = |n| Duration::from_secs(n);
    assert_eq!(s.next_calls(3).await, vec![secs(0), secs(5), secs(12)]);
}

#[tokio::test(start_paused = true)]
async fn a_notify_wakes_an_idle_worker_early() {
    let mut s = start(vec![]);
    s.next_calls(1).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    s.wake.notify_one();
    assert_eq!(s.next_calls(1).await, vec![Duration::from_secs(10)]);
}

#[tokio::test(start_paused = true)]
async fn a_notify_during_work_is_not_lost() {
    let mut s = start(vec![]);
    // Sent before the runner sleeps: Notify keeps the permit, so the sleep ends at once.
    s.wake.notify_one();
    assert_eq!(s.next_calls(2).await, vec![Duration::ZERO; 2]);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_exponentially_and_a_success_resets_it() {
    let mut s = start(vec![
        failure(),
        failure(),
        failure(),
        Ok(idle(0)),
        failure(),
    ]);
    let at = s.next_calls(6).await;
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        vec![
            backoff(1),
            backoff(2),
            backoff(3),
            Duration::ZERO,
            backoff(1)
        ]
    );
    assert!(backoff(1) < backoff(2) && backoff(2) < backoff(3));
    assert_eq!(backoff(3), Duration::from_secs_f64(1.5f64.powi(3)));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_unit_of_work_is_retried_after_the_backoff_not_the_end_of_the_worker() {
    let panics = || Err(WorkerError::Panicked("a bad record".into()));
    let mut s = start(vec![panics(), panics(), Ok(idle(0))]);
    let at = s.next_calls(4).await;
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, vec![backoff(1), backoff(2), Duration::ZERO]);
    s.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_runner_in_the_middle_of_a_sleep() {
    let mut s = start(vec![]);
    s.next_calls(1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.stop().await;
    assert!(Instant::now() - s.start < Duration::from_secs(3600));
    assert!(s.calls.recv().await.is_none(), "no call after shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_busy_worker() {
    let script = (0..1000).map(|_| Ok(WorkerState::Busy)).collect();
    let mut s = start(script);
    s.next_calls(3).await;
    s.stop().await;
    let after: usize = std::iter::from_fn(|| s.calls.try_recv().ok()).count();
    assert!(after < 997, "the runner stopped before the script ran out");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_shutdown_sender_stops_the_runner() {
    let s = start(vec![]);
    drop(s.stop);
    tokio::time::timeout(Duration::from_secs(60), s.handle)
        .await
        .expect("the runner stops promptly")
        .expect("the runner ends cleanly");
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(0), Duration::from_secs(1));
    assert!(backoff(2) > backoff(1));
    assert_eq!(backoff(50), MAX_SLEEP);
}
