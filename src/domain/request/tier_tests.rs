//! Risk tiers through the lifecycle: a tier's approvals, auto-approval and maximum hold for new
//! requests and extensions, and what applied is stored on the request.

use super::*;
use crate::domain::fixtures::*;

/// The fixture policy with a fourth approver (so one more approval stays reachable for every
/// role), `auto` approved by the group, and tier `prod` on `payments`.
fn tiered() -> Policy {
    policy_of(&tiered_text(PROD_TIER))
}

fn in_ns(role: &str, minutes: u64, ns: &str) -> NewRequest {
    NewRequest {
        namespace: Namespace::parse(ns).unwrap(),
        ..new_request(role, minutes)
    }
}

fn approve(req: &AccessRequest, by: Actor, p: &Policy, now: Timestamp) -> Transition {
    decide(req, &Event::Approve { by }, p, now).unwrap()
}

#[test]
fn a_prod_request_needs_one_more_approval_and_stores_its_tier() {
    let p = tiered();
    let t = submit(RequestId(1), in_ns("debug", 15, "payments"), &p, t0(), 0).unwrap();
    let req = t.request;
    assert_eq!(req.approvals_needed, 2);
    assert_eq!(req.tiers.len(), 1);
    assert_eq!(req.tiers[0].name, "prod");
    assert_eq!(req.tiers[0].description, "production");
    assert_eq!(req.max_duration, Some(Duration::from_secs(1200)));
    assert_eq!(
        t.audit.details.get("tiers").map(String::as_str),
        Some("prod")
    );
    let once = approve(&req, approver(), &p, at(10)).request;
    assert_eq!(
        once.state,
        State::Pending,
        "one approval is not enough in prod"
    );
    let twice = approve(&once, approver2(), &p, at(20)).request;
    assert_eq!(twice.state, State::Approved);
}

#[test]
fn outside_the_tier_one_approval_still_does_and_nothing_is_stored() {
    let p = tiered();
    let req = submit(RequestId(1), in_ns("debug", 15, "shop"), &p, t0(), 0)
        .unwrap()
        .request;
    assert!(req.tiers.is_empty());
    assert_eq!(req.max_duration, None);
    assert_eq!(
        approve(&req, approver(), &p, at(10)).request.state,
        State::Approved
    );
}

#[test]
fn a_duration_the_role_allows_is_refused_in_the_tier() {
    let p = tiered();
    let err = submit(RequestId(1), in_ns("debug", 45, "payments"), &p, t0(), 0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tier `prod`") && text.contains("at most 20m"),
        "{text}"
    );
    assert!(submit(RequestId(1), in_ns("debug", 45, "shop"), &p, t0(), 0).is_ok());
}

#[test]
fn auto_approval_is_off_in_the_tier_and_on_elsewhere() {
    let p = tiered();
    let prod = submit(RequestId(1), in_ns("auto", 10, "payments"), &p, t0(), 0).unwrap();
    assert_eq!(prod.request.state, State::Pending);
    assert!(!prod.request.auto_approved);
    let shop = submit(RequestId(2), in_ns("auto", 10, "shop"), &p, t0(), 0).unwrap();
    assert_eq!(shop.request.state, State::Approved);
    assert!(shop.request.auto_approved);
}

#[test]
fn an_extension_over_the_tier_maximum_is_refused_naming_the_tier() {
    let p = tiered();
    let pending = submit(RequestId(1), in_ns("debug", 15, "payments"), &p, t0(), 0)
        .unwrap()
        .request;
    let approved = approve(
        &approve(&pending, approver(), &p, at(10)).request,
        approver2(),
        &p,
        at(20),
    );
    let active = decide(
        &approved.request,
        &Event::Activated {
            expires_at: at(20 + 900),
        },
        &p,
        at(20),
    )
    .unwrap()
    .request;
    let extend = |minutes: u64| Event::RequestExtension {
        by: requester(),
        duration: Duration::from_secs(minutes * 60),
        reason: "INC-1 still broken".into(),
    };
    // 15m left; the role alone would allow 45m more, the tier only 5m.
    let err = decide(&active, &extend(10), &p, at(20)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tier `prod` allows role `debug` at most 20m"),
        "{text}"
    );
    assert!(text.contains("extend by at most 5m"), "{text}");
    assert!(decide(&active, &extend(5), &p, at(20)).is_ok());
}

#[test]
fn a_record_stored_before_tiers_still_loads() {
    let req = in_state(State::Active);
    let mut json: serde_json::Value = serde_json::to_value(&req).unwrap();
    let obj = json.as_object_mut().unwrap();
    assert!(!obj.contains_key("tiers"), "no tier, nothing written");
    obj.remove("max_duration");
    let back: AccessRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, req);
}
