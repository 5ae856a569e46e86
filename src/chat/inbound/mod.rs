//! The inbound pipeline both chat platforms share, after each has verified its own request:
//!
//! ```text
//!  slack/routes, mattermost/routes: verify → platform fields → Actor, text / click
//!      │ read_body(...) the body within `server.body_read_timeout` and `server.body_limit`
//!      │ refuse(...)   unauthenticated or unreadable: counted, logged, audited as `auth_failed`
//!      │ refused(...)  authentic but not acted on: counted, audited as `refused`
//!      │               (both capped per route and kind of refusal: `service/limit.rs`)
//!      │ command(...)  parse → Service::command with the de-duplication key → reply Text
//!      │ click(...)    Service::click (on jitpe's own card?) → reply Text
//!      ▼
//!  every service call runs in its own task with the acknowledgement deadline: a slow store or
//!  cluster gets a "working on it" answer in time, and the work still finishes. At most
//!  `server.max_in_flight` such tasks run at once; beyond that a request is answered "busy" at
//!  once and nothing is done, so overload never queues without bound or answers after the
//!  platform gave up.
//! ```
//!
//! Each platform keeps only what is really its own: the signature or token check, its payload
//! fields, and how an answer is shaped: each renders the returned [`Text`] with its one text
//! function, which escapes whatever a person typed.

use crate::domain::command::{self, Command};
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::text::Text;
use crate::domain::view::CardAction;
use crate::metrics::Metrics;
use crate::ports::CardRef;
use crate::service::limit::RefusalLimiter;
use crate::service::{Error, Reply, Service};
use crate::web::error::user_text;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

/// How long a request waits for the service before it is answered anyway. Slack gives up after
/// 3 s; Mattermost waits up to 30 s, but a person should not stare at a spinner either.
pub const ACK_DEADLINE: Duration = Duration::from_millis(2500);

/// The answer to a command or click shed because jitpe is at `server.max_in_flight`.
pub const BUSY: &str = "jitpe is busy, try again in a minute. Nothing was done.";

/// Default of `server.max_in_flight`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Default of `server.body_limit` (the configuration's default too).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// What both platforms' routes share: the service, the counters and the audit cap.
pub struct Inbound {
    service: Service,
    metrics: Arc<Metrics>,
    auth_audit: RefusalLimiter,
    refusal_audit: RefusalLimiter,
    in_flight: Arc<Semaphore>,
    deadline: Duration,
    body_timeout: Duration,
    body_limit: usize,
}

impl Inbound {
    /// The pipeline over `service`, counting into `metrics`.
    pub fn new(service: Service, metrics: Arc<Metrics>) -> Self {
        Self {
            service,
            metrics,
            auth_audit: RefusalLimiter::default(),
            refusal_audit: RefusalLimiter::default(),
            in_flight: Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            deadline: ACK_DEADLINE,
            body_timeout: crate::web::serve::DEFAULT_BODY_READ_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The same pipeline answering "working on it" after `deadline` instead of
    /// [`ACK_DEADLINE`] (tests).
    pub fn with_ack_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same pipeline waiting at most `timeout` for a request's body, and refusing bodies of
    /// more than `limit` bytes (413).
    pub fn with_body_limits(mut self, timeout: Duration, limit: usize) -> Self {
        self.body_timeout = timeout;
        self.body_limit = limit;
        self
    }

    /// The same pipeline handling at most `n` commands and clicks at once.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// Now, in Unix seconds, for signature windows and signed contexts.
    pub fn now(&self) -> i64 {
        self.service.clock().now().as_second()
    }

    /// Counts `result` for `route` and returns `text`, the answer for the user.
    pub fn answer(&self, route: &str, result: &str, text: impl Into<Text>) -> Text {
        self.metrics.inbound(route, result);
        text.into()
    }

    /// Counts a request jitpe ignores on purpose (Slack's `ssl_check`, other interaction types).
    pub fn ignored(&self, route: &str) {
        self.metrics.inbound(route, "ignored");
    }

    /// Runs `/jit <text>` for `actor`. `dedupe` is the platform's id of this invocation (a
    /// retried delivery repeats it), so a retry is answered without a second request.
    pub async fn command(
        &self,
        route: &'static str,
        actor: Actor,
        text: &str,
        dedupe: Option<String>,
    ) -> Text {
        let parsed = match command::parse(text) {
            Ok(c) => c,
            Err(e) => {
                let why = e.to_string();
                return self
                    .refused(actor.platform, route, Some(&actor), "command", why)
                    .await;
            }
        };
        // The service audits refusals of what would change something; refused looks are
        // audited here.
        let looks = matches!(parsed, Command::Status { .. } | Command::List);
        let audit_as = looks.then(|| actor.clone());
        let Some(permit) = self.admit(route) else {
            return Text::ours(BUSY);
        };
        let service = self.service.clone();
        let key = dedupe
            .filter(|k| !k.is_empty())
            .map(|k| format!("{}:{k}", actor.platform.as_str()));
        let work = async move {
            let _permit = permit;
            service.command(&actor, parsed, key.as_deref()).await
        };
        let late = "Working on it: this is taking longer than usual. The card and a DM will tell you the outcome.";
        self.within_deadline(route, work, late.to_string(), audit_as)
            .await
    }

    /// Runs a click on a card button. `origin` is where the platform says the button was; the
    /// service accepts it only from the card jitpe posted for request `id`.
    pub async fn click(
        &self,
        route: &'static str,
        actor: Actor,
        id: RequestId,
        action: CardAction,
        origin: CardRef,
    ) -> Text {
        let Some(permit) = self.admit(route) else {
            return Text::ours(BUSY);
        };
        let service = self.service.clone();
        let work = async move {
            let _permit = permit;
            service.click(&actor, id, action, &origin).await
        };
        let late = format!("Working on #{id}; the card will update when it is done.");
        self.within_deadline(route, work, late, None).await
    }

    /// A place among the requests handled at once, or `None` (counted as shed) when all are
    /// taken. The permit lives as long as the request's task, also past the deadline.
    fn admit(&self, route: &str) -> Option<OwnedSemaphorePermit> {
        let permit = self.in_flight.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.metrics.inbound(route, "shed");
        }
        permit
    }

    /// Runs `work` in its own task and answers with its reply, its refusal, or `late` if it has
    /// not finished by the deadline ([`ACK_DEADLINE`]) (the task goes on; cards and DMs carry
    /// the outcome). A refusal by the policy is audited here for `audit_as`, if given.
    async fn within_deadline<F>(
        &self,
        route: &'static str,
        work: F,
        late: String,
        audit_as: Option<Actor>,
    ) -> Text
    where
        F: Future<Output = crate::service::Result<Reply>> + Send + 'static,
    {
        // The request's span (its id) goes with the work, which may outlive the answer.
        let work = tracing::Instrument::in_current_span(work);
        match tokio::time::timeout(self.deadline, tokio::spawn(work)).await {
            Ok(Ok(Ok(reply))) => self.answer(route, "ok", reply.text),
            Ok(Ok(Err(e))) => match audit_as.filter(|_| matches!(e, Error::Domain(_))) {
                Some(a) => {
                    let why = user_text(&e);
                    self.refused(a.platform, route, Some(&a), "command", why)
                        .await
                }
                None => self.answer(route, "refused", user_text(&e)),
            },
            Ok(Err(join)) => {
                warn!(error = %join, %route, "request task failed");
                self.answer(
                    route,
                    "error",
                    "jitpe failed to handle that; nothing more was done. The operators can see why in its log.",
                )
            }
            Err(_) => self.answer(route, "late", late),
        }
    }
}

mod refusals;
pub use refusals::kind;
#[cfg(test)]
mod tests;
