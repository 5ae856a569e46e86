//! Test doubles: an in-memory cluster, a recording chat, a manual clock and a token reviewer, for
//! service, router and benchmark code. Compiled only for the crate's own tests and with the `testing` feature
//! (which `tests/` and `benches/` turn on), so none of it ships in the release binary. The real
//! Kubernetes behaviour is tested against a real apiserver (`tests/kube_real.rs`); these only
//! record what the service asked for.

use crate::domain::grant::{INSTANCE_LABEL, PlannedBinding};
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::{InstanceId, RequestId};
use crate::domain::text::Text;
use crate::domain::view::RequestView;
use crate::ports::{
    CardRef, Chat, ChatError, Clock, Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef,
};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// A cluster that keeps objects in a map and can be told to fail. Like the real adapter, it
/// lists by the instance label, so tests of two instances on one cluster mean something.
#[derive(Default)]
pub struct FakeCluster {
    objects: Mutex<BTreeMap<ObjectRef, (Option<String>, ManagedObject)>>,
    fail_apply: Mutex<Option<ClusterError>>,
    fail_delete: Mutex<Option<ClusterError>>,
    missing: Mutex<BTreeSet<ClusterObject>>,
}

impl FakeCluster {
    /// Makes every `apply` fail with `err` until cleared with `None`.
    pub fn fail_apply(&self, err: Option<ClusterError>) {
        *self.fail_apply.lock().expect("lock") = err;
    }

    /// Makes every delete fail with `err` until cleared with `None`.
    pub fn fail_delete(&self, err: Option<ClusterError>) {
        *self.fail_delete.lock().expect("lock") = err;
    }

    /// Makes `exists` answer `false` for `object` (every ClusterRole and Namespace exists until
    /// then).
    pub fn mark_missing(&self, object: ClusterObject) {
        self.missing.lock().expect("lock").insert(object);
    }

    /// The objects held now, of every instance.
    pub fn objects(&self) -> Vec<ManagedObject> {
        let objects = self.objects.lock().expect("lock");
        objects.values().map(|(_, o)| o.clone()).collect()
    }

    /// Inserts an object of `instance` directly, as if someone else created it.
    pub fn insert(&self, instance: &InstanceId, obj: ManagedObject) {
        let value = (Some(instance.to_string()), obj);
        let mut objects = self.objects.lock().expect("lock");
        objects.insert(value.1.object_ref(), value);
    }

    /// Removes every object of a request, as if someone else deleted them.
    pub fn remove_request(&self, id: RequestId) {
        self.objects
            .lock()
            .expect("lock")
            .retain(|_, (_, o)| o.request_id != Some(id));
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        if let Some(e) = self.fail_apply.lock().expect("lock").clone() {
            return Err(e);
        }
        for b in plan {
            let expires_at = b
                .annotations
                .get(crate::domain::grant::EXPIRES_AT_ANNOTATION)
                .and_then(|s| s.parse().ok());
            let request_id = crate::domain::grant::request_id_of(&b.labels);
            let instance = b.labels.get(INSTANCE_LABEL).cloned();
            let mut objects = self.objects.lock().expect("lock");
            for o in b.objects() {
                let managed = ManagedObject {
                    kind: o.kind,
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                    request_id,
                    expires_at,
                };
                objects.insert(o, (instance.clone(), managed));
            }
        }
        Ok(())
    }

    async fn delete_objects(&self, refs: &[ObjectRef]) -> Result<usize, ClusterError> {
        if let Some(e) = self.fail_delete.lock().expect("lock").clone() {
            return Err(e);
        }
        let mut objects = self.objects.lock().expect("lock");
        Ok(refs.iter().filter(|r| objects.remove(r).is_some()).count())
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        let objects = self.objects.lock().expect("lock");
        let ours = |(i, o): &&(Option<String>, ManagedObject)| {
            i.as_deref() == Some(instance.as_str())
                && request.is_none_or(|r| o.request_id == Some(r))
        };
        Ok(objects
            .values()
            .filter(ours)
            .map(|(_, o)| o.clone())
            .collect())
    }

    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        Ok(!self.missing.lock().expect("lock").contains(object))
    }
}

/// One call a [`RecordingChat`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCall {
    /// A card was posted.
    PostCard {
        /// Channel.
        channel: String,
        /// What it showed.
        view: RequestView,
    },
    /// A card was updated.
    UpdateCard {
        /// Which.
        card: CardRef,
        /// What it shows now.
        view: RequestView,
    },
    /// A DM.
    Direct {
        /// To whom.
        user: Actor,
        /// Text.
        text: String,
    },
    /// A channel line.
    Line {
        /// Channel.
        channel: String,
        /// Text.
        text: String,
    },
}

/// A chat platform that records every call and can be told to fail.
pub struct RecordingChat {
    platform: Platform,
    calls: Mutex<Vec<ChatCall>>,
    fail: Mutex<Option<ChatError>>,
    attempts: std::sync::atomic::AtomicUsize,
}

impl RecordingChat {
    /// A recorder for `platform`.
    pub fn new(platform: Platform) -> Self {
        Self {
            platform,
            calls: Mutex::new(Vec::new()),
            fail: Mutex::new(None),
            attempts: Default::default(),
        }
    }

    /// Calls made so far, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Everything received so far.
    pub fn calls(&self) -> Vec<ChatCall> {
        self.calls.lock().expect("lock").clone()
    }

    /// Makes every call fail with `err` until cleared.
    pub fn fail(&self, err: Option<ChatError>) {
        *self.fail.lock().expect("lock") = err;
    }

    fn record(&self, call: ChatCall) -> Result<(), ChatError> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(e) = self.fail.lock().expect("lock").clone() {
            return Err(e);
        }
        self.calls.lock().expect("lock").push(call);
        Ok(())
    }
}

#[async_trait]
impl Chat for RecordingChat {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn approvers_channel(&self) -> &str {
        "CAPPROVERS"
    }

    fn audit_channel(&self) -> &str {
        "CAUDIT"
    }

    async fn post_card(&self, channel: &str, view: &RequestView) -> Result<CardRef, ChatError> {
        self.record(ChatCall::PostCard {
            channel: channel.into(),
            view: view.clone(),
        })?;
        let n = self.calls.lock().expect("lock").len();
        Ok(CardRef {
            platform: self.platform,
            channel: channel.into(),
            message_id: format!("1700000000.{n:06}"),
        })
    }

    async fn update_card(&self, card: &CardRef, view: &RequestView) -> Result<(), ChatError> {
        self.record(ChatCall::UpdateCard {
            card: card.clone(),
            view: view.clone(),
        })
    }

    async fn direct_message(&self, user: &Actor, text: &Text) -> Result<(), ChatError> {
        self.record(ChatCall::Direct {
            user: user.clone(),
            text: text.to_string(),
        })
    }

    async fn post_line(&self, channel: &str, text: &str) -> Result<(), ChatError> {
        self.record(ChatCall::Line {
            channel: channel.into(),
            text: text.into(),
        })
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn at(t: Timestamp) -> Self {
        Self(Mutex::new(t))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: std::time::Duration) {
        let mut t = self.0.lock().expect("manual clock lock is never poisoned");
        let d = SignedDuration::try_from(d).expect("test durations fit a SignedDuration");
        *t = t.checked_add(d).expect("test clock stays in range");
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        *self.0.lock().expect("manual clock lock is never poisoned") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("manual clock lock is never poisoned")
    }
}

/// A token reviewer that knows a fixed set of tokens, each for one username and for the
/// audience `jitpe` only, like a TokenReview of projected tokens; it refuses any other token or
/// audience and can be told it cannot be asked. It counts the reviews it was asked for.
#[derive(Default)]
pub struct FakeTokenReviewer {
    tokens: Mutex<BTreeMap<String, String>>,
    unavailable: Mutex<bool>,
    calls: Mutex<usize>,
}

impl FakeTokenReviewer {
    /// Accepts `token` as `username` from now on.
    pub fn accept(&self, token: &str, username: &str) {
        let mut tokens = self.tokens.lock().expect("lock");
        tokens.insert(token.to_string(), username.to_string());
    }

    /// Makes every review fail to ask (as when the apiserver does not answer) until cleared.
    pub fn set_unavailable(&self, unavailable: bool) {
        *self.unavailable.lock().expect("lock") = unavailable;
    }

    /// How many reviews were asked for.
    pub fn calls(&self) -> usize {
        *self.calls.lock().expect("lock")
    }
}

#[async_trait]
impl crate::ports::TokenReviewer for FakeTokenReviewer {
    async fn review(
        &self,
        token: &crate::config::Secret,
        audiences: &[String],
    ) -> Result<crate::ports::Reviewed, crate::ports::TokenError> {
        use crate::ports::{Reviewed, TokenError};
        *self.calls.lock().expect("lock") += 1;
        if *self.unavailable.lock().expect("lock") {
            return Err(TokenError::Unavailable("the fake apiserver is down".into()));
        }
        if !audiences
            .iter()
            .any(|a| a == crate::ports::DEFAULT_AUDIENCE)
        {
            return Err(TokenError::Refused(
                "token audiences is invalid for the target audiences".into(),
            ));
        }
        let tokens = self.tokens.lock().expect("lock");
        let username = tokens
            .get(token.expose())
            .ok_or_else(|| TokenError::Refused("invalid bearer token".into()))?;
        Ok(Reviewed {
            username: username.clone(),
            uid: format!("uid-{username}"),
            groups: Vec::new(),
            audiences: vec![crate::ports::DEFAULT_AUDIENCE.to_string()],
        })
    }
}
