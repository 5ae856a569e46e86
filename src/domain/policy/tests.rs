//! Policy validation and checks.

use super::*;
use crate::domain::fixtures::*;
use crate::domain::ids::Namespace;
use crate::domain::policy::RawPolicy;

fn errors(toml_text: &str) -> Vec<String> {
    let raw: RawPolicy = toml::from_str(toml_text).expect("test policy is TOML");
    match Policy::try_from(raw) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|i| i.to_string()).collect(),
    }
}

#[test]
fn the_fixture_policy_is_valid() {
    let p = policy();
    assert_eq!(p.roles().count(), 3);
    assert_eq!(p.identity_count(), 4);
}

#[test]
fn every_mistake_is_reported_with_its_key() {
    let errs = errors(
        r#"
        pending_ttl = "soon"
        [namespaces]
        allow = ["Shop"]
        [[identities]]
        kube_user = "system:admin"
        chat = ["slack:U1"]
        [roles.debug]
        default_duration = "15m"
        max_duration = "10m"
        approvals = 0
        approver_groups = ["nobody"]
        reason_pattern = "(["
        [[roles.debug.bindings]]
        cluster_role = "view"
        namespace = "Bad_NS"
        "#,
    );
    let keys = [
        "policy.pending_ttl",
        "policy.namespaces.allow",
        "policy.identities[0].kube_user",
        "policy.roles.debug.default_duration",
        "policy.roles.debug.approvals",
        "policy.roles.debug.approver_groups",
        "policy.roles.debug.reason_pattern",
        "policy.roles.debug.bindings[0].namespace",
    ];
    for key in keys {
        assert!(
            errs.iter().any(|e| e.starts_with(key)),
            "{key} missing from {errs:#?}"
        );
    }
}

#[test]
fn a_chat_id_mapped_twice_is_refused_because_it_is_ambiguous() {
    let errs = errors(
        r#"
        [namespaces]
        allow = ["shop"]
        [[identities]]
        kube_user = "a"
        chat = ["slack:U1"]
        [[identities]]
        kube_user = "b"
        chat = ["slack:U1"]
        [roles.debug]
        default_duration = "15m"
        max_duration = "60m"
        approvers = ["slack:U2"]
        [[roles.debug.bindings]]
        cluster_role = "view"
        "#,
    );
    assert!(
        errs.iter().any(|e| e.contains("mapped more than once")),
        "{errs:?}"
    );
}

#[test]
fn kubernetes_groups_are_refused_because_a_grant_binds_exactly_the_requester() {
    let errs = errors(
        r#"
        [namespaces]
        allow = ["shop"]
        [[identities]]
        kube_user = "carol"
        kube_groups = ["shop-developers"]
        chat = ["slack:U1"]
        [roles.debug]
        default_duration = "15m"
        max_duration = "60m"
        approvers = ["slack:U2"]
        [[roles.debug.bindings]]
        cluster_role = "view"
        "#,
    );
    let refusal = "policy.identities[0].kube_groups: jitpe grants exactly the requester";
    assert!(errs.iter().any(|e| e.starts_with(refusal)), "{errs:?}");
}

#[test]
fn an_empty_policy_denies_by_default_and_says_what_to_add() {
    let errs = errors("");
    assert!(errs.iter().any(|e| e.starts_with("policy.roles")));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("policy.namespaces.allow"))
    );
}

#[test]
fn namespace_patterns_allow_and_deny_wins() {
    let p = policy();
    let ns = |s: &str| Namespace::parse(s).unwrap();
    assert!(p.namespaces().allows(&ns("shop")));
    assert!(p.namespaces().allows(&ns("shop-eu")));
    assert!(p.namespaces().allows(&ns("payments")));
    assert!(!p.namespaces().allows(&ns("shop-secret")), "deny wins");
    assert!(
        !p.namespaces().allows(&ns("kube-system")),
        "not allowed is denied"
    );
    assert!(
        !p.namespaces().allows(&ns("xshop")),
        "patterns are anchored"
    );
}

#[test]
fn approvers_come_from_users_and_groups() {
    let p = policy();
    let debug = p.role(&RoleName::parse("debug").unwrap()).unwrap();
    assert!(p.is_approver(debug, &approver()));
    assert!(!p.is_approver(debug, &requester()));
    assert!(p.is_any_approver(&approver2()));
    assert!(!p.is_any_approver(&stranger()));
}

#[test]
fn identities_match_platform_and_id_never_names() {
    let p = policy();
    assert_eq!(p.subject_for(&requester()).unwrap().user, "rachel");
    let same_id_other_platform = Actor::new(Platform::Mattermost, "UREQ");
    assert!(p.subject_for(&same_id_other_platform).is_err());
}

#[test]
fn prerequisites_name_every_cluster_role_and_fixed_namespace_with_its_key() {
    use crate::domain::policy::ClusterObject;
    let p = policy();
    let debug: Vec<_> = p
        .prerequisites()
        .into_iter()
        .filter(|r| r.role.as_str() == "debug")
        .map(|r| (r.key, r.object))
        .collect();
    let key = |s: &str| format!("policy.roles.debug.bindings[{s}");
    assert_eq!(
        debug,
        vec![
            (
                key("0].cluster_role"),
                ClusterObject::ClusterRole("jitpe-ingress-debug".into())
            ),
            (
                key("1].cluster_role"),
                ClusterObject::ClusterRole("jitpe-ingress-controller-logs".into())
            ),
            (
                key("1].namespace"),
                ClusterObject::Namespace("ingress-nginx".into())
            ),
        ]
    );
}
