//! The inbound pipeline both chat platforms share, after each has verified its own request:
//!
//! ```text
//!  slack/routes, mattermost/routes: verify → platform fields → Actor, text / click
//!      │ refuse(...)   authentication failures: counted, logged, audited (capped per minute)
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

use super::limit::AuthAuditLimiter;
use crate::domain::audit::AuditDraft;
use crate::domain::command;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::text::Text;
use crate::domain::view::CardAction;
use crate::metrics::Metrics;
use crate::ports::CardRef;
use crate::service::{Reply, Service};
use crate::web::error::user_text;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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

/// What both platforms' routes share: the service, the counters and the audit cap.
pub struct Inbound {
    service: Service,
    metrics: Arc<Metrics>,
    auth_audit: AuthAuditLimiter,
    in_flight: Arc<Semaphore>,
    deadline: Duration,
}

impl Inbound {
    /// The pipeline over `service`, counting into `metrics`.
    pub fn new(service: Service, metrics: Arc<Metrics>) -> Self {
        Self {
            service,
            metrics,
            auth_audit: AuthAuditLimiter::default(),
            in_flight: Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            deadline: ACK_DEADLINE,
        }
    }

    /// The same pipeline answering "working on it" after `deadline` instead of
    /// [`ACK_DEADLINE`] (tests).
    pub fn with_ack_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
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

    /// Refuses a request that failed authentication or could not be read: counted, logged and
    /// audited (at most [`super::limit::AUDITS_PER_WINDOW`] a minute; the rest are counted in
    /// the next audited one). The answer says why, in plain text.
    pub async fn refuse(
        &self,
        platform: Platform,
        route: &str,
        status: StatusCode,
        why: impl Into<String>,
    ) -> Response {
        let why = why.into();
        self.metrics.inbound(route, "auth_failed");
        warn!(%platform, %route, reason = %why, "refused an inbound request");
        if let Some(left_out) = self.auth_audit.admit(self.now()) {
            let mut draft = AuditDraft::new(Actor::system(), "auth_failed", None)
                .with("platform", platform.as_str())
                .with("route", route)
                .with("reason", &why);
            if left_out > 0 {
                draft = draft.with("not_audited_before", left_out);
            }
            self.service.audit(draft).await;
        }
        (status, format!("refused: {why}\n")).into_response()
    }

    /// Counts an authentic request that jitpe does not act on (another workspace, a payload it
    /// cannot use) and returns `text`, the answer for the user.
    pub fn turn_away(&self, route: &str, result: &str, text: impl Into<Text>) -> Text {
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
        route: &str,
        actor: Actor,
        text: &str,
        dedupe: Option<String>,
    ) -> Text {
        let parsed = match command::parse(text) {
            Ok(c) => c,
            Err(e) => return self.turn_away(route, "refused", e.to_string()),
        };
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
        self.within_deadline(route, work, late.to_string()).await
    }

    /// Runs a click on a card button. `origin` is where the platform says the button was; the
    /// service accepts it only from the card jitpe posted for request `id`.
    pub async fn click(
        &self,
        route: &str,
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
        self.within_deadline(route, work, late).await
    }

    /// Refuses a click before it reaches a request (not jitpe's button, a clicker the platform
    /// does not vouch for): counted and audited; returns `why` for the clicker.
    pub async fn refuse_click(
        &self,
        route: &str,
        actor: &Actor,
        id: Option<RequestId>,
        why: impl Into<Text>,
    ) -> Text {
        let why = why.into();
        self.service.refuse_click(actor, id, &why.to_string()).await;
        self.turn_away(route, "refused", why)
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
    /// not finished by the deadline ([`ACK_DEADLINE`]) (the task goes on; cards and DMs carry the outcome).
    async fn within_deadline<F>(&self, route: &str, work: F, late: String) -> Text
    where
        F: Future<Output = crate::service::Result<Reply>> + Send + 'static,
    {
        match tokio::time::timeout(self.deadline, tokio::spawn(work)).await {
            Ok(Ok(Ok(reply))) => self.turn_away(route, "ok", reply.text),
            Ok(Ok(Err(e))) => self.turn_away(route, "refused", user_text(&e)),
            Ok(Err(join)) => {
                warn!(error = %join, %route, "request task failed");
                self.turn_away(
                    route,
                    "error",
                    "jitpe failed to handle that; nothing more was done. The operators can see why in its log.",
                )
            }
            Err(_) => self.turn_away(route, "late", late),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{POLICY, approver, requester, t0};
    use crate::domain::grant::PlannedBinding;
    use crate::domain::ids::InstanceId;
    use crate::domain::policy::Policy;
    use crate::domain::policy_config::RawPolicy;
    use crate::domain::request::State;
    use crate::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef};
    use crate::service::ChatTargets;
    use crate::store::memory::MemStore;
    use crate::testing::ManualClock;

    /// A cluster whose API never answers.
    struct Hanging;

    #[async_trait::async_trait]
    impl Cluster for Hanging {
        async fn apply(&self, _: &[PlannedBinding]) -> Result<(), ClusterError> {
            std::future::pending().await
        }
        async fn delete_objects(&self, _: &[ObjectRef]) -> Result<usize, ClusterError> {
            std::future::pending().await
        }
        async fn list_managed(
            &self,
            _: &InstanceId,
            _: Option<RequestId>,
        ) -> Result<Vec<ManagedObject>, ClusterError> {
            std::future::pending().await
        }
        async fn exists(&self, _: &ClusterObject) -> Result<bool, ClusterError> {
            std::future::pending().await
        }
    }

    /// A cluster whose `apply` waits until the test opens the gate.
    struct Gated {
        gate: Semaphore,
    }

    impl Default for Gated {
        fn default() -> Self {
            Self {
                gate: Semaphore::new(0),
            }
        }
    }

    #[async_trait::async_trait]
    impl Cluster for Gated {
        async fn apply(&self, _: &[PlannedBinding]) -> Result<(), ClusterError> {
            let _open = self.gate.acquire().await;
            Ok(())
        }
        async fn delete_objects(&self, _: &[ObjectRef]) -> Result<usize, ClusterError> {
            Ok(0)
        }
        async fn list_managed(
            &self,
            _: &InstanceId,
            _: Option<RequestId>,
        ) -> Result<Vec<ManagedObject>, ClusterError> {
            Ok(Vec::new())
        }
        async fn exists(&self, _: &ClusterObject) -> Result<bool, ClusterError> {
            Ok(true)
        }
    }

    fn inbound() -> Inbound {
        inbound_over(Arc::new(Hanging))
    }

    fn inbound_over(cluster: Arc<dyn Cluster>) -> Inbound {
        let raw: RawPolicy = toml::from_str(POLICY).expect("fixture policy");
        let policy = Arc::new(Policy::try_from(raw).expect("valid fixture policy"));
        let clock = Arc::new(ManualClock::at(t0()));
        let store = Arc::new(MemStore::new());
        let service = Service::new(store, cluster, clock, policy, ChatTargets::default());
        Inbound::new(service, Arc::new(Metrics::default()))
    }

    fn card(id: RequestId) -> CardRef {
        CardRef {
            platform: Platform::Slack,
            channel: "CAPPROVERS".into(),
            message_id: format!("1.{id}"),
        }
    }

    /// A shorter deadline than Slack's, so the test takes a fraction of a second.
    const DEADLINE: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_click_that_outlasts_the_deadline_is_answered_in_time_and_still_finishes_its_work() {
        let inbound = inbound().with_ack_deadline(DEADLINE);
        let reply = inbound
            .command("/t", requester(), "request debug shop 15m INC-1 x", None)
            .await
            .to_string();
        assert!(reply.starts_with("Request #1"), "{reply}");
        let id = RequestId(1);
        inbound.service.store().put_card(id, &card(id)).unwrap();
        let started = tokio::time::Instant::now();
        let answer = inbound
            .click("/t", approver(), id, CardAction::Approve, card(id))
            .await
            .to_string();
        assert_eq!(
            answer,
            "Working on #1; the card will update when it is done."
        );
        let waited = started.elapsed();
        assert!(waited >= DEADLINE && waited < ACK_DEADLINE, "{waited:?}");
        // The approval was committed before the cluster call that hangs.
        assert_eq!(
            inbound.service.get(id).await.unwrap().state,
            State::Approved
        );
    }

    #[tokio::test]
    async fn the_same_invocation_delivered_twice_is_one_request() {
        let inbound = inbound();
        let mut replies = Vec::new();
        for _ in 0..2 {
            let key = Some("trigger-1".to_string());
            let text = "request debug shop 15m INC-1 x";
            replies.push(
                inbound
                    .command("/t", requester(), text, key)
                    .await
                    .to_string(),
            );
        }
        assert!(replies[0].starts_with("Request #1"), "{}", replies[0]);
        assert!(replies[1].contains("already received"), "{}", replies[1]);
        let fresh = inbound
            .command("/t", requester(), "request debug shop 15m INC-1 x", None)
            .await
            .to_string();
        assert!(fresh.starts_with("Request #2"), "{fresh}");
    }

    #[tokio::test]
    async fn when_every_place_is_taken_a_command_is_shed_at_once_and_can_be_retried() {
        let cluster = Arc::new(Gated::default());
        let inbound = inbound_over(cluster.clone())
            .with_max_in_flight(1)
            .with_ack_deadline(DEADLINE);
        let text = "request debug shop 15m INC-1 x";
        let first = inbound
            .command("/t", requester(), text, None)
            .await
            .to_string();
        assert!(first.starts_with("Request #1"), "{first}");
        let id = RequestId(1);
        inbound.service.store().put_card(id, &card(id)).unwrap();
        // The approval's activation waits on the cluster and keeps the only place.
        let click = inbound.click("/t", approver(), id, CardAction::Approve, card(id));
        assert!(click.await.to_string().starts_with("Working on #1"));
        let started = std::time::Instant::now();
        let shed = inbound
            .command("/t", requester(), text, None)
            .await
            .to_string();
        assert_eq!(shed, BUSY);
        assert!(started.elapsed() < DEADLINE, "shed without waiting");
        assert_eq!(
            inbound.service.store().list().unwrap().len(),
            1,
            "nothing stored"
        );
        let shed_click = inbound.click("/t", approver(), id, CardAction::Deny, card(id));
        assert_eq!(shed_click.await.to_string(), BUSY);
        // Once the cluster answers, the place is free and the same command goes through.
        cluster.gate.add_permits(1);
        let mut retried = String::new();
        for _ in 0..100 {
            retried = inbound
                .command("/t", requester(), text, None)
                .await
                .to_string();
            if retried != BUSY {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(retried.starts_with("Request #2"), "{retried}");
        assert_eq!(inbound.service.get(id).await.unwrap().state, State::Active);
    }
}
