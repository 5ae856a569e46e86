//! Who wrote an Ingress, from the audit stream: the watch worker notes every Ingress write call
//! the apiserver's audit webhook reports, and the change feed asks here who made a change it
//! saw. Bounded: at most [`CAPACITY`] calls, each kept [`KEEP`].
//!
//! The audit policy logs Ingress writes at `RequestResponse`, so a call carries the object's
//! resourceVersion after the write (`ApiCall::resource_version`) and matches the watch event of
//! that write exactly. Without it (a policy at `Metadata`), the latest unclaimed write to the
//! same Ingress within [`WINDOW`] is taken.

use crate::domain::anomaly::ApiCall;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The most write calls remembered; the oldest is forgotten first.
pub const CAPACITY: usize = 4096;

/// How long a call is remembered.
pub const KEEP: Duration = Duration::from_secs(300);

/// How recent a call without a resourceVersion must be to be taken as the writer.
pub const WINDOW: Duration = Duration::from_secs(30);

/// The verbs that write an Ingress.
const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];

/// Who made a write: the authenticated user, and the user it impersonated if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// `user.username` of the audit event.
    pub user: String,
    /// `impersonatedUser.username`, if the caller impersonated someone.
    pub impersonated: Option<String>,
}

impl Writer {
    /// Whether `user` is this writer, directly or impersonated (as the rules match grantees).
    pub fn is(&self, user: &str) -> bool {
        self.user == user || self.impersonated.as_deref() == Some(user)
    }
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.impersonated {
            Some(i) => write!(f, "{i} (impersonated by {})", self.user),
            None => f.write_str(&self.user),
        }
    }
}

#[derive(Debug)]
struct Entry {
    namespace: String,
    name: Option<String>,
    resource_version: Option<String>,
    writer: Writer,
    noted: Instant,
    claimed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    heard: Option<Instant>,
}

/// The recent Ingress writers, shared by the watch worker (which notes) and the change feed
/// (which asks). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RecentWriters {
    inner: Arc<Mutex<Inner>>,
}

impl RecentWriters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // NB: every critical section leaves the queue consistent, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes `call` if it is a successful write of a namespaced Ingress (verb create, update,
    /// patch or delete, group `networking.k8s.io`, resource `ingresses`, no subresource, status
    /// 2xx or none); any other call is ignored. Either way it shows the audit stream is alive.
    pub fn note(&self, call: &ApiCall) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.heard = Some(now);
        let ok = call.code.is_none_or(|c| (200..300).contains(&c));
        let write = call.group == "networking.k8s.io"
            && call.resource == "ingresses"
            && call.subresource.is_empty()
            && WRITE_VERBS.contains(&call.verb.as_str());
        let Some(namespace) = call.namespace.clone().filter(|_| ok && write) else {
            return;
        };
        expire(&mut inner.entries, now);
        if inner.entries.len() >= CAPACITY {
            inner.entries.pop_front();
        }
        inner.entries.push_back(Entry {
            namespace,
            name: call.name.clone(),
            resource_version: call.resource_version.clone(),
            writer: Writer {
                user: call.user.clone(),
                impersonated: call.impersonated.clone(),
            },
            noted: now,
            claimed: false,
        });
    }

    /// Marks the audit stream alive without a call to note (the watch worker calls it for each
    /// batch it receives), so the feed knows waiting for a writer is worth it.
    pub fn heard(&self) {
        self.lock().heard = Some(Instant::now());
    }

    /// Whether the audit stream delivered anything within [`KEEP`]: if not, nobody will name
    /// a writer and the feed should not wait for one.
    pub fn listening(&self) -> bool {
        self.lock().heard.is_some_and(|h| h.elapsed() < KEEP)
    }

    /// Who wrote Ingress `namespace/name` at `resource_version`: the call with exactly that
    /// version, else the latest unclaimed call to that Ingress without a version within
    /// [`WINDOW`]. The call found is claimed, so one write never names the writer of two changes.
    pub fn who(&self, namespace: &str, name: &str, resource_version: &str) -> Option<Writer> {
        let now = Instant::now();
        let mut inner = self.lock();
        expire(&mut inner.entries, now);
        let exact = inner.entries.iter().rposition(|e| {
            !e.claimed
                && e.namespace == namespace
                && e.resource_version.as_deref() == Some(resource_version)
        });
        let found = exact.or_else(|| {
            inner.entries.iter().rposition(|e| {
                !e.claimed
                    && e.resource_version.is_none()
                    && e.namespace == namespace
                    && e.name.as_deref() == Some(name)
                    && now.duration_since(e.noted) <= WINDOW
            })
        })?;
        let entry = &mut inner.entries[found];
        entry.claimed = true;
        Some(entry.writer.clone())
    }
}

fn expire(entries: &mut VecDeque<Entry>, now: Instant) {
    while entries
        .front()
        .is_some_and(|e| now.duration_since(e.noted) > KEEP)
    {
        entries.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn call(verb: &str, name: &str, rv: Option<&str>, user: &str) -> ApiCall {
        ApiCall {
            audit_id: "a".into(),
            at: Timestamp::UNIX_EPOCH,
            user: user.into(),
            impersonated: None,
            verb: verb.into(),
            group: "networking.k8s.io".into(),
            resource: "ingresses".into(),
            subresource: String::new(),
            namespace: Some("shop".into()),
            name: Some(name.into()),
            code: Some(200),
            resource_version: rv.map(String::from),
        }
    }

    fn user(w: Option<Writer>) -> Option<String> {
        w.map(|w| w.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn the_exact_resource_version_wins_and_is_claimed_once() {
        let w = RecentWriters::default();
        assert!(!w.listening());
        w.note(&call("update", "web", Some("11"), "alice"));
        w.note(&call("patch", "web", Some("12"), "bob"));
        assert!(w.listening());
        assert_eq!(user(w.who("shop", "web", "11")), Some("alice".into()));
        assert_eq!(user(w.who("shop", "web", "11")), None, "claimed");
        assert_eq!(user(w.who("other", "web", "12")), None, "other namespace");
        assert_eq!(user(w.who("shop", "web", "12")), Some("bob".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn without_versions_the_latest_recent_writer_of_that_ingress_is_taken() {
        let w = RecentWriters::default();
        w.note(&call("update", "web", None, "alice"));
        w.note(&call("update", "api", None, "carol"));
        tokio::time::advance(WINDOW + Duration::from_secs(1)).await;
        assert_eq!(user(w.who("shop", "web", "5")), None, "too old");
        w.note(&call("delete", "web", None, "bob"));
        assert_eq!(user(w.who("shop", "web", "6")), Some("bob".into()));
        // A versioned call for another version is a different write, never a guess.
        w.note(&call("update", "web", Some("8"), "dave"));
        assert_eq!(user(w.who("shop", "web", "7")), None);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_failures_subresources_and_other_kinds_are_not_writes() {
        let w = RecentWriters::default();
        let mut forbidden = call("update", "web", Some("1"), "mallory");
        forbidden.code = Some(403);
        let mut status = call("update", "web", Some("2"), "nginx");
        status.subresource = "status".into();
        let mut secret = call("update", "web", Some("3"), "eve");
        secret.group = String::new();
        secret.resource = "secrets".into();
        for c in [
            &call("get", "web", Some("4"), "x"),
            &forbidden,
            &status,
            &secret,
        ] {
            w.note(c);
        }
        for rv in ["1", "2", "3", "4"] {
            assert_eq!(w.who("shop", "web", rv), None, "{rv}");
        }
        assert!(w.listening(), "any call shows the stream is alive");
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_and_old_calls_expire() {
        let w = RecentWriters::default();
        for n in 0..CAPACITY + 10 {
            w.note(&call("update", "web", Some(&n.to_string()), "alice"));
        }
        assert_eq!(w.lock().entries.len(), CAPACITY);
        assert_eq!(w.who("shop", "web", "0"), None, "the oldest was dropped");
        tokio::time::advance(KEEP + Duration::from_secs(1)).await;
        assert_eq!(w.who("shop", "web", "100"), None, "expired");
        assert!(w.lock().entries.is_empty() && !w.listening());
    }

    #[test]
    fn an_impersonating_writer_names_both() {
        let w = Writer {
            user: "admin".into(),
            impersonated: Some("alice".into()),
        };
        assert_eq!(w.to_string(), "alice (impersonated by admin)");
        assert!(w.is("alice") && w.is("admin") && !w.is("bob"));
    }
}
