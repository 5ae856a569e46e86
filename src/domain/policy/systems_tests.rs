//! `[[policy.systems]]`: validation with keys, first-match rules, the ServiceAccount as grantee,
//! and auto-approval from the system's own rule only.

use crate::domain::error::DomainError;
use crate::domain::fixtures::{POLICY, new_request, t0};
use crate::domain::identity::{Actor, Platform, ServiceAccountName};
use crate::domain::ids::{Namespace, RoleName};
use crate::domain::lifecycle::accept;
use crate::domain::policy::{Policy, RawPolicy};
use crate::domain::request::State;
use std::time::Duration;

const SYSTEMS: &str = r#"
[[systems]]
description = "deploy pipeline"
service_accounts = ["system:serviceaccount:ci:deployer", "system:serviceaccount:ci-*:release-*"]
roles = ["change"]
namespaces = ["shop"]
auto_approve = { max_duration = "30m", per_day = 2 }
[[systems]]
service_accounts = ["system:serviceaccount:ci:*"]
roles = ["debug", "change"]
namespaces = ["shop-*", "shop"]
"#;

fn parse(extra: &str) -> Result<Policy, Vec<String>> {
    let raw: RawPolicy = toml::from_str(&format!("{POLICY}{extra}")).expect("TOML");
    Policy::try_from(raw).map_err(|e| e.0.iter().map(|i| i.to_string()).collect())
}

fn policy() -> Policy {
    parse(SYSTEMS).expect("valid")
}

fn sa(username: &str) -> Actor {
    Actor::service_account(&ServiceAccountName::parse(username).unwrap())
}

fn ask(p: &Policy, who: &str, role: &str, ns: &str, minutes: u64) -> Result<State, DomainError> {
    let mut new = new_request(role, minutes);
    new.requester = sa(who);
    new.namespace = Namespace::parse(ns).unwrap();
    let accepted = accept(new, p, t0(), 0)?;
    let t = accepted.submit(crate::domain::ids::RequestId(7));
    assert_eq!(
        t.request.subject.user, who,
        "the ServiceAccount is the grantee"
    );
    Ok(t.request.state)
}

#[test]
fn the_first_matching_rule_decides_and_its_auto_approval_applies() {
    let p = policy();
    let deployer = "system:serviceaccount:ci:deployer";
    assert_eq!(ask(&p, deployer, "change", "shop", 20), Ok(State::Approved));
    // Longer than the rule's auto-approval: still allowed, but waits for the role's approvers.
    assert_eq!(ask(&p, deployer, "change", "shop", 60), Ok(State::Pending));
    // Only the second rule allows debug: no auto-approval there.
    assert_eq!(
        ask(&p, deployer, "debug", "shop-eu", 10),
        Ok(State::Pending)
    );
    let release = "system:serviceaccount:ci-eu:release-7";
    assert_eq!(ask(&p, release, "change", "shop", 10), Ok(State::Approved));
}

#[test]
fn the_daily_limit_of_a_system_rule_holds() {
    let p = policy();
    let mut new = new_request("change", 10);
    new.requester = sa("system:serviceaccount:ci:deployer");
    let state = |today| accept(new.clone(), &p, t0(), today).unwrap();
    assert!(format!("{:?}", state(1)).contains("auto_approved: true"));
    assert!(format!("{:?}", state(2)).contains("auto_approved: false"));
}

#[test]
fn unknown_service_accounts_and_combinations_no_rule_gives_are_refused() {
    let p = policy();
    let other = ask(
        &p,
        "system:serviceaccount:web:frontend",
        "debug",
        "shop",
        10,
    );
    assert!(
        matches!(&other, Err(DomainError::UnknownSystem(who)) if who == "system:serviceaccount:web:frontend"),
        "{other:?}"
    );
    assert!(
        other
            .unwrap_err()
            .to_string()
            .contains("[[policy.systems]]")
    );
    let release = "system:serviceaccount:ci-eu:release-7";
    let wrong_ns = ask(&p, release, "change", "payments", 10);
    assert!(
        matches!(wrong_ns, Err(DomainError::SystemNotAllowed { .. })),
        "{wrong_ns:?}"
    );
    let wrong_role = ask(&p, release, "debug", "shop", 10);
    assert!(matches!(
        wrong_role,
        Err(DomainError::SystemNotAllowed { .. })
    ));
    // The namespace rules of the policy still hold for systems.
    let denied = ask(
        &p,
        "system:serviceaccount:ci:deployer",
        "debug",
        "shop-secret",
        10,
    );
    assert!(matches!(denied, Err(DomainError::NamespaceNotAllowed(_))));
    // The role's own limits too.
    let long = ask(
        &p,
        "system:serviceaccount:ci:deployer",
        "change",
        "shop",
        600,
    );
    assert!(matches!(long, Err(DomainError::DurationTooLong { .. })));
}

#[test]
fn a_system_never_qualifies_for_a_roles_auto_approval_of_people() {
    let p = parse(
        r#"
[[systems]]
service_accounts = ["system:serviceaccount:ci:*"]
roles = ["auto"]
namespaces = ["shop"]
"#,
    )
    .unwrap();
    let role = p.role(&RoleName::parse("auto").unwrap()).unwrap();
    let who = sa("system:serviceaccount:ci:x");
    let rules = p.rules(role, &Namespace::parse("shop").unwrap());
    assert!(!p.auto_approves(&rules, &who, Duration::from_secs(60), 0));
    assert_eq!(
        ask(&p, "system:serviceaccount:ci:x", "auto", "shop", 5),
        Ok(State::Pending)
    );
}

#[test]
fn systems_are_not_chat_users_so_they_can_never_be_approvers() {
    let errs = parse(
        r#"
[roles.extra]
default_duration = "5m"
max_duration = "5m"
approvers = ["kubernetes:system:serviceaccount:ci:deployer"]
[[roles.extra.bindings]]
cluster_role = "jitpe-ingress-debug"
"#,
    )
    .unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.starts_with("policy.roles.extra.approvers") && e.contains("not a chat user")),
        "{errs:#?}"
    );
    assert!(!sa("system:serviceaccount:ci:deployer").is_chat_user());
    assert_ne!(
        sa("system:serviceaccount:ci:deployer").platform,
        Platform::Slack
    );
}

#[test]
fn every_mistake_in_a_system_rule_is_reported_with_its_key() {
    let errs = parse(
        r#"
[[systems]]
service_accounts = ["ci:deployer", "system:serviceaccount:*:deployer", "system:serviceaccount:ci:Bad"]
roles = ["nope"]
namespaces = ["Shop"]
auto_approve = { max_duration = "soon", per_day = 0 }
[[systems]]
"#,
    )
    .unwrap_err();
    for (key, says) in [
        (
            "policy.systems[0].service_accounts",
            "`ci:deployer` is not a ServiceAccount pattern",
        ),
        ("policy.systems[0].service_accounts", "every namespace"),
        (
            "policy.systems[0].service_accounts",
            "`system:serviceaccount:ci:Bad`",
        ),
        (
            "policy.systems[0].roles",
            "`nope` is not a role of this policy",
        ),
        ("policy.systems[0].namespaces", "`Shop`"),
        ("policy.systems[0].auto_approve.max_duration", ""),
        ("policy.systems[0].auto_approve.per_day", "at least 1"),
        ("policy.systems[1].service_accounts", "must not be empty"),
        ("policy.systems[1].roles", "must not be empty"),
        ("policy.systems[1].namespaces", "must not be empty"),
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(key) && e.contains(says)),
            "{key}: {says} missing from {errs:#?}"
        );
    }
}

#[test]
fn a_chat_user_is_unaffected_by_system_rules() {
    let p = policy();
    let t = accept(new_request("auto", 10), &p, t0(), 0).unwrap();
    assert!(format!("{t:?}").contains("auto_approved: true"));
    assert_eq!(p.systems().len(), 2);
    assert_eq!(p.systems()[0].description, "deploy pipeline");
    assert_eq!(p.systems()[1].description, "policy.systems[1]");
}
