//! Table tests over every (state, event) pair, the voting rules, and property tests of the
//! lifecycle's invariants.

use super::*;
use crate::domain::duration::format_duration;
use crate::domain::fixtures::*;
use crate::domain::ids::ResourceName;
use crate::domain::request::State::*;
use proptest::prelude::*;

/// Each event kind, with the time at which it is applied to the `debug` fixture (created at 0,
/// approved at 60, active until 960, warned at 660, pending until 3600).
fn events() -> Vec<(&'static str, Event, Timestamp)> {
    vec![
        ("approve", Event::Approve { by: approver() }, at(100)),
        ("deny", Event::Deny { by: approver() }, at(100)),
        ("cancel", Event::Cancel { by: requester() }, at(100)),
        (
            "revoke",
            Event::Revoke {
                by: approver(),
                reason: "done".into(),
            },
            at(100),
        ),
        (
            "extend",
            Event::RequestExtension {
                by: requester(),
                duration: Duration::from_secs(600),
                reason: "more".into(),
            },
            at(100),
        ),
        (
            "activated",
            Event::Activated {
                expires_at: at(1000),
            },
            at(100),
        ),
        (
            "activation_failed",
            Event::ActivationFailed {
                error: "403".into(),
            },
            at(100),
        ),
        ("expire", Event::Expire, at(960)),
        ("pending_timeout", Event::PendingTimeout, at(3600)),
        ("extension_timeout", Event::ExtensionTimeout, at(3600)),
        ("warn", Event::WarnExpiry, at(660)),
    ]
}

/// The expected next state for (state, event), `None` meaning refused.
fn expected(state: State, event: &str) -> Option<State> {
    match (state, event) {
        (Pending, "approve") => Some(Approved),
        (Pending, "deny") => Some(Denied),
        (Pending, "cancel") => Some(Cancelled),
        (Pending, "pending_timeout") => Some(TimedOut),
        (Approved, "revoke") => Some(Revoked),
        (Approved, "activated") => Some(Active),
        (Approved, "activation_failed") => Some(Failed),
        (Active, "revoke") => Some(Revoked),
        (Active, "extend") => Some(Active),
        (Active, "expire") => Some(Expired),
        (Active, "warn") => Some(Active),
        _ => None,
    }
}

#[test]
fn every_state_and_event_pair_has_the_expected_outcome() {
    let p = policy();
    for state in ALL_STATES {
        let req = in_state(state);
        assert_eq!(req.state, state);
        for (name, event, now) in events() {
            let got = decide(&req, &event, &p, now);
            match (expected(state, name), got) {
                (Some(next), Ok(t)) => {
                    assert_eq!(t.request.state, next, "{state:?} + {name}");
                    assert_eq!(t.audit.request_id, Some(req.id));
                }
                (None, Err(e)) => assert!(!e.to_string().is_empty()),
                (want, got) => panic!("{state:?} + {name}: expected {want:?}, got {got:?}"),
            }
        }
    }
}

#[test]
fn final_states_refuse_everything_and_say_so() {
    let p = policy();
    for state in ALL_STATES.into_iter().filter(|s| s.is_final()) {
        let req = in_state(state);
        assert_eq!(req.next_deadline(), None, "{state:?} leaves no deadline");
        let err = decide(&req, &Event::Approve { by: approver2() }, &p, at(100)).unwrap_err();
        assert!(err.to_string().contains("already"), "{err}");
    }
}

#[test]
fn two_approver_role_needs_two_distinct_approvers() {
    let p = policy();
    let req = submit(RequestId(1), new_request("change", 30), &p, t0(), 0)
        .unwrap()
        .request;
    let one = decide(&req, &Event::Approve { by: approver() }, &p, at(10)).unwrap();
    assert_eq!(one.request.state, Pending);
    assert_eq!(one.effects, vec![Effect::UpdateCard]);
    assert_eq!(one.audit.details["votes"], "1 of 2");
    let again = decide(&one.request, &Event::Approve { by: approver() }, &p, at(11));
    assert_eq!(again.unwrap_err(), DomainError::AlreadyVoted(RequestId(1)));
    let two = decide(
        &one.request,
        &Event::Approve { by: approver2() },
        &p,
        at(12),
    )
    .unwrap();
    assert_eq!(two.request.state, Approved);
    assert!(two.effects.contains(&Effect::ApplyBindings));
}

#[test]
fn any_deny_wins_even_after_an_approval() {
    let p = policy();
    let req = submit(RequestId(1), new_request("change", 30), &p, t0(), 0)
        .unwrap()
        .request;
    let one = decide(&req, &Event::Approve { by: approver() }, &p, at(10))
        .unwrap()
        .request;
    let denied = decide(&one, &Event::Deny { by: approver2() }, &p, at(11)).unwrap();
    assert_eq!(denied.request.state, Denied);
    assert_eq!(denied.request.ended_by, Some(approver2()));
}

#[test]
fn requester_cannot_approve_their_own_request() {
    let p = policy();
    let mut raw: crate::domain::policy::RawPolicy = toml::from_str(POLICY).unwrap();
    raw.groups.get_mut("sre").unwrap().push("slack:UREQ".into());
    let p2 = Policy::try_from(raw).unwrap();
    let req = in_state(Pending);
    let err = decide(&req, &Event::Approve { by: requester() }, &p2, at(10)).unwrap_err();
    assert_eq!(err, DomainError::SelfApproval);
    let err = decide(&req, &Event::Approve { by: requester() }, &p, at(10)).unwrap_err();
    assert!(matches!(err, DomainError::NotAnApprover(_)));
}

#[test]
fn one_person_on_two_platforms_is_one_requester_and_one_vote() {
    // Rachel (slack:UREQ) also approves as her Mattermost account; ann votes twice likewise.
    let mut raw: crate::domain::policy::RawPolicy = toml::from_str(POLICY).unwrap();
    let rachel_mm = Actor::new(Platform::Mattermost, "mmrequester00000000000000a");
    let ann_mm = "mattermost:mmann0000000000000000000000a";
    raw.identities[1].chat.push(ann_mm.into());
    let sre = raw.groups.get_mut("sre").unwrap();
    sre.extend([rachel_mm.to_string(), ann_mm.to_string()]);
    let p = Policy::try_from(raw).unwrap();
    let req = submit(RequestId(1), new_request("change", 30), &p, t0(), 0)
        .unwrap()
        .request;
    let own = decide(&req, &Event::Approve { by: rachel_mm }, &p, at(10)).unwrap_err();
    assert_eq!(own, DomainError::SelfApproval);
    let one = decide(&req, &Event::Approve { by: approver() }, &p, at(11)).unwrap();
    let ann_again = Event::Approve {
        by: ann_mm.parse().unwrap(),
    };
    let twice = decide(&one.request, &ann_again, &p, at(12)).unwrap_err();
    assert_eq!(twice, DomainError::AlreadyVoted(RequestId(1)));
}

#[test]
fn self_approval_counts_when_the_role_allows_it() {
    let mut raw: crate::domain::policy::RawPolicy = toml::from_str(POLICY).unwrap();
    raw.groups.get_mut("sre").unwrap().push("slack:UREQ".into());
    raw.roles.get_mut("debug").unwrap().allow_self_approval = true;
    let p = Policy::try_from(raw).unwrap();
    let t = decide(
        &in_state(Pending),
        &Event::Approve { by: requester() },
        &p,
        at(10),
    )
    .unwrap();
    assert_eq!(t.request.state, Approved);
}

#[test]
fn non_approvers_cannot_approve_deny_or_revoke() {
    let p = policy();
    for e in [
        Event::Approve { by: stranger() },
        Event::Deny { by: stranger() },
    ] {
        assert!(matches!(
            decide(&in_state(Pending), &e, &p, at(10)),
            Err(DomainError::NotAnApprover(_))
        ));
    }
    let e = Event::Revoke {
        by: stranger(),
        reason: "x".into(),
    };
    assert!(matches!(
        decide(&in_state(Active), &e, &p, at(100)),
        Err(DomainError::NotRequesterOrApprover(_))
    ));
}

#[test]
fn requester_and_the_shell_may_revoke() {
    let p = policy();
    for by in [
        requester(),
        Actor::new(Platform::Cli, "root"),
        Actor::system(),
    ] {
        let e = Event::Revoke {
            by,
            reason: "anomaly".into(),
        };
        let t = decide(&in_state(Active), &e, &p, at(100)).unwrap();
        assert_eq!(t.request.state, Revoked);
        assert_eq!(t.effects[0], Effect::DeleteBindings, "delete comes first");
    }
}

#[test]
fn only_the_requester_can_cancel() {
    let e = Event::Cancel { by: approver() };
    let err = decide(&in_state(Pending), &e, &policy(), at(10)).unwrap_err();
    assert_eq!(err, DomainError::NotRequester("cancel"));
}

#[test]
fn duration_starts_at_activation_not_at_request() {
    let req = in_state(Active);
    assert_eq!(req.activated_at, Some(at(60)));
    assert_eq!(req.expires_at, Some(at(960)));
    assert_eq!(
        req.next_deadline(),
        Some(at(660)),
        "the warning comes first"
    );
}

#[test]
fn timed_events_are_refused_before_they_are_due() {
    let p = policy();
    let early = [
        (Active, Event::Expire, at(959)),
        (Pending, Event::PendingTimeout, at(3599)),
        (Active, Event::WarnExpiry, at(659)),
    ];
    for (state, event, now) in early {
        assert_eq!(
            decide(&in_state(state), &event, &p, now).unwrap_err(),
            DomainError::NotDue(RequestId(7))
        );
    }
}

#[test]
fn approving_after_the_pending_ttl_is_refused() {
    let err = decide(
        &in_state(Pending),
        &Event::Approve { by: approver() },
        &policy(),
        at(3600),
    )
    .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[test]
fn an_extension_needs_its_own_approval_and_moves_the_expiry() {
    let p = policy();
    let ext = Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(600),
        reason: "still broken".into(),
    };
    let asked = decide(&in_state(Active), &ext, &p, at(100)).unwrap();
    assert_eq!(asked.effects, vec![Effect::PostCard]);
    let again = decide(&asked.request, &ext, &p, at(101)).unwrap_err();
    assert_eq!(again, DomainError::ExtensionPending(RequestId(7)));
    let ok = decide(
        &asked.request,
        &Event::Approve { by: approver() },
        &p,
        at(200),
    )
    .unwrap();
    assert_eq!(ok.request.expires_at, Some(at(1560)));
    assert!(ok.request.extension.is_none());
    assert!(
        ok.effects.contains(&Effect::ApplyBindings),
        "annotations carry the new expiry"
    );
    let denied = decide(&asked.request, &Event::Deny { by: approver() }, &p, at(200)).unwrap();
    assert_eq!(denied.request.expires_at, Some(at(960)));
    assert_eq!(denied.request.state, Active);
}

#[test]
fn an_extension_beyond_the_role_maximum_is_refused() {
    let ext = Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(3000),
        reason: "x".into(),
    };
    let err = decide(&in_state(Active), &ext, &policy(), at(100)).unwrap_err();
    assert!(matches!(err, DomainError::ExtensionTooLong(_)), "{err}");
}

/// The advice counts the time already left: the old message offered the role's maximum, which
/// was refused again when asked for.
#[test]
fn a_too_long_extension_says_how_much_can_still_be_asked() {
    let req = in_state(Active);
    let p = policy();
    let role = p.role(&req.role).unwrap();
    let now = at(100);
    let left = req.time_left(now).unwrap();
    let ext = |secs| Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(secs),
        reason: "x".into(),
    };
    let err = decide(&req, &ext(role.max_duration.as_secs()), &p, now).unwrap_err();
    let room = (role.max_duration - left).as_secs() / 60 * 60;
    let advice = format!(
        "extend by at most {}",
        format_duration(Duration::from_secs(room))
    );
    assert!(err.to_string().ends_with(&advice), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("has {} left", format_duration(left))),
        "{err}"
    );
    decide(&req, &ext(room), &p, now).expect("the advised extension is accepted");
}

#[test]
fn a_grant_already_at_the_maximum_is_told_it_cannot_be_extended() {
    let p = policy();
    let mut req = in_state(Active);
    let role = p.role(&req.role).unwrap().clone();
    let now = at(100);
    req.expires_at = Some(now + jiff::SignedDuration::try_from(role.max_duration).unwrap());
    let ext = Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(60),
        reason: "x".into(),
    };
    let err = decide(&req, &ext, &p, now).unwrap_err();
    assert!(
        err.to_string().contains("cannot be extended further"),
        "{err}"
    );
}

#[test]
fn submit_applies_the_policy_before_anything_is_stored() {
    let p = policy();
    let mut bad_ns = new_request("debug", 15);
    bad_ns.namespace = Namespace::parse("shop-secret").unwrap();
    let mut unmapped = new_request("debug", 15);
    unmapped.requester = stranger();
    let mut unknown = new_request("debug", 15);
    unknown.role = RoleName::parse("admin").unwrap();
    let mut scoped = new_request("debug", 15);
    scoped.resource = Some(ResourceName::parse("web").unwrap());
    let mut reason = new_request("change", 15);
    reason.reason = "because".into();
    let cases = [
        (bad_ns, "not open"),
        (unmapped, "not mapped"),
        (unknown, "`change`"),
        (new_request("debug", 61), "at most 1h"),
        (scoped, "cannot be limited"),
        (reason, "must match"),
    ];
    for (req, needle) in cases {
        let err = submit(RequestId(1), req, &p, t0(), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err} should contain {needle}");
    }
}

#[test]
fn auto_approval_is_limited_by_duration_and_daily_count() {
    let p = policy();
    let t = submit(RequestId(1), new_request("auto", 10), &p, t0(), 0).unwrap();
    assert_eq!(t.request.state, Approved);
    assert!(t.request.auto_approved);
    assert!(t.effects.contains(&Effect::ApplyBindings));
    let long = submit(RequestId(2), new_request("auto", 20), &p, t0(), 0).unwrap();
    assert_eq!(long.request.state, Pending);
    let many = submit(RequestId(3), new_request("auto", 10), &p, t0(), 2).unwrap();
    assert_eq!(many.request.state, Pending);
}

#[test]
fn default_duration_applies_when_none_is_typed() {
    let mut n = new_request("debug", 15);
    n.duration = None;
    let t = submit(RequestId(1), n, &policy(), t0(), 0).unwrap();
    assert_eq!(t.request.duration, Duration::from_secs(900));
}

fn arb_event() -> impl Strategy<Value = Event> {
    let who = prop_oneof![
        Just(requester()),
        Just(approver()),
        Just(approver2()),
        Just(stranger())
    ];
    prop_oneof![
        who.clone().prop_map(|by| Event::Approve { by }),
        who.clone().prop_map(|by| Event::Deny { by }),
        who.clone().prop_map(|by| Event::Cancel { by }),
        who.clone().prop_map(|by| Event::Revoke {
            by,
            reason: "r".into()
        }),
        (who, 1u64..3600).prop_map(|(by, s)| Event::RequestExtension {
            by,
            duration: Duration::from_secs(s),
            reason: "r".into()
        }),
        (0i64..20_000).prop_map(|s| Event::Activated { expires_at: at(s) }),
        Just(Event::ActivationFailed { error: "e".into() }),
        Just(Event::Expire),
        Just(Event::PendingTimeout),
        Just(Event::ExtensionTimeout),
        Just(Event::WarnExpiry),
    ]
}

proptest! {
    #[test]
    fn random_event_sequences_keep_the_invariants(
        role in prop_oneof![Just("debug"), Just("change")],
        steps in proptest::collection::vec((arb_event(), 0i64..600), 1..40),
    ) {
        let p = policy();
        let mut req = submit(RequestId(1), new_request(role, 15), &p, t0(), 0).unwrap().request;
        let mut now = t0();
        let mut activations = 0;
        for (event, dt) in steps {
            now = now.checked_add(jiff::SignedDuration::from_secs(dt)).unwrap();
            let Ok(t) = decide(&req, &event, &p, now) else { continue };
            if t.request.state == Active && req.state != Active {
                activations += 1;
                let approvers: std::collections::BTreeSet<_> = t.request.approvals.iter().map(|v| &v.by).collect();
                prop_assert!(approvers.len() >= t.request.approvals_needed, "activated without quorum");
                prop_assert!(!approvers.contains(&requester()), "requester counted as approver");
            }
            if matches!(t.request.state, Approved) && req.state == Pending {
                prop_assert!(t.request.approvals.len() >= t.request.approvals_needed);
            }
            if event == Event::Expire {
                prop_assert_ne!(t.request.state, Active, "still active after expiry");
            }
            req = t.request;
        }
        prop_assert!(activations <= 1, "two activations");
        if req.state == Active {
            let exp = req.expires_at.unwrap();
            let late = exp.max(now);
            let t = decide(&req, &Event::Expire, &p, late).unwrap();
            prop_assert_eq!(t.request.state, Expired);
        }
    }
}
