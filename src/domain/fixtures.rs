//! Test fixtures for the domain: a policy and requests in every state.

use super::identity::{Actor, Platform};
use super::ids::{Namespace, RequestId, RoleName};
use super::lifecycle::{NewRequest, decide, submit};
use super::policy::Policy;
use super::policy::RawPolicy;
use super::request::{AccessRequest, Event, State};
use jiff::Timestamp;
use std::time::Duration;

/// A policy with `debug` (1 approval), `change` (2 approvals, scopable) and `auto` roles.
pub const POLICY: &str = r#"
pending_ttl = "60m"
expiry_warning = "5m"
[namespaces]
allow = ["shop", "shop-*", "payments"]
deny = ["shop-secret"]
[groups]
sre = ["slack:UAPP1", "slack:UAPP2", "mattermost:mmapprover000000000000000a"]
[[identities]]
kube_user = "rachel"
chat = ["slack:UREQ", "mattermost:mmrequester00000000000000a"]
[[identities]]
kube_user = "ann"
chat = ["slack:UAPP1"]
[[identities]]
kube_user = "ben"
chat = ["slack:UAPP2"]
[roles.debug]
description = "Read Ingresses"
default_duration = "15m"
max_duration = "60m"
approvals = 1
approver_groups = ["sre"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-controller-logs"
namespace = "ingress-nginx"
[roles.change]
default_duration = "30m"
max_duration = "120m"
approvals = 2
approver_groups = ["sre"]
reason_pattern = "[A-Z]+-[0-9]+"
[[roles.change.bindings]]
cluster_role = "jitpe-ingress-change"
[[roles.change.scoped_rules]]
api_groups = ["networking.k8s.io"]
resources = ["ingresses"]
verbs = ["get", "update", "patch"]
[roles.auto]
default_duration = "10m"
max_duration = "30m"
approvers = ["slack:UAPP1", "slack:UAPP2"]
[[roles.auto.bindings]]
cluster_role = "jitpe-ingress-debug"
[roles.auto.auto_approve]
users = ["slack:UREQ"]
max_duration = "15m"
per_day = 2
"#;

/// [`POLICY`] with a fourth approver (so a role can collect one more approval) and the `auto`
/// role approved by the group, followed by `tiers` (`[tiers.<name>]` tables): the base of the
/// risk tier tests.
/// Tier `prod` on `payments`: one more approval, at most 20 minutes, no auto-approval. Tests
/// append keys of their own (a `reason_pattern`) or further tiers.
pub const PROD_TIER: &str = r#"
[tiers.prod]
namespaces = ["payments"]
extra_approvals = 1
max_duration = "20m"
auto_approve = false
description = "production"
"#;

pub fn tiered_text(tiers: &str) -> String {
    POLICY
        .replace(
            r#"sre = ["slack:UAPP1", "#,
            r#"sre = ["slack:UAPP3", "slack:UAPP1", "#,
        )
        .replace(
            r#"approvers = ["slack:UAPP1", "slack:UAPP2"]"#,
            r#"approver_groups = ["sre"]"#,
        )
        + tiers
}

/// The valid policy of `text`.
pub fn policy_of(text: &str) -> Policy {
    let raw: RawPolicy = toml::from_str(text).expect("the test policy is TOML");
    Policy::try_from(raw).expect("the test policy is valid")
}

pub fn policy() -> Policy {
    let raw: RawPolicy = toml::from_str(POLICY).expect("fixture policy parses");
    Policy::try_from(raw).expect("fixture policy is valid")
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

pub fn requester() -> Actor {
    Actor::new(Platform::Slack, "UREQ")
}

pub fn approver() -> Actor {
    Actor::new(Platform::Slack, "UAPP1")
}

pub fn approver2() -> Actor {
    Actor::new(Platform::Slack, "UAPP2")
}

pub fn stranger() -> Actor {
    Actor::new(Platform::Slack, "USTRANGER")
}

pub fn new_request(role: &str, minutes: u64) -> NewRequest {
    NewRequest {
        requester: requester(),
        role: RoleName::parse(role).unwrap(),
        namespace: Namespace::parse("shop").unwrap(),
        resource: None,
        duration: Some(Duration::from_secs(minutes * 60)),
        reason: "INC-4411 502s on /checkout".into(),
        labels: Default::default(),
    }
}

/// A `debug` request (1 approval, 15 minutes) driven into `state`.
pub fn in_state(state: State) -> AccessRequest {
    let p = policy();
    let pending = submit(RequestId(7), new_request("debug", 15), &p, t0(), 0)
        .unwrap()
        .request;
    let step = |r: &AccessRequest, e: Event, now| decide(r, &e, &p, now).unwrap().request;
    let approved = || step(&pending, Event::Approve { by: approver() }, at(60));
    let active = || {
        step(
            &approved(),
            Event::Activated {
                expires_at: at(60 + 900),
            },
            at(60),
        )
    };
    match state {
        State::Pending => pending,
        State::Approved => approved(),
        State::Active => active(),
        State::Expired => step(&active(), Event::Expire, at(960)),
        State::Denied => step(&pending, Event::Deny { by: approver() }, at(60)),
        State::TimedOut => step(&pending, Event::PendingTimeout, at(3600)),
        State::Cancelled => step(&pending, Event::Cancel { by: requester() }, at(60)),
        State::Failed => step(
            &approved(),
            Event::ActivationFailed {
                error: "forbidden".into(),
            },
            at(61),
        ),
        State::Revoked => step(
            &active(),
            Event::Revoke {
                by: approver(),
                reason: "done".into(),
            },
            at(120),
        ),
    }
}

pub const ALL_STATES: [State; 9] = [
    State::Pending,
    State::Approved,
    State::Active,
    State::Expired,
    State::Denied,
    State::TimedOut,
    State::Cancelled,
    State::Failed,
    State::Revoked,
];
