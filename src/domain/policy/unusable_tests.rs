//! Roles that could never be granted are refused with their keys: approvals nobody can reach,
//! ClusterRoles jitpe may not bind, scoped rules its RBAC or admission policy would refuse, and
//! fixed namespaces closed to it.

use super::*;

/// A one-role policy: `role` is the body of `[roles.r]` (bindings and rules included), after the
/// identities alice (`slack:UA`, `mattermost:…a`) and bob (`slack:UB`).
fn errors(role: &str) -> Vec<String> {
    let text = format!(
        r#"
        [namespaces]
        allow = ["shop"]
        deny = ["shop-secret"]
        [[identities]]
        kube_user = "alice"
        chat = ["slack:UA", "mattermost:aliceaaaaaaaaaaaaaaaaaaaaa"]
        [[identities]]
        kube_user = "bob"
        chat = ["slack:UB"]
        [roles.r]
        default_duration = "15m"
        max_duration = "1h"
        {role}
        "#
    );
    let raw: RawPolicy = toml::from_str(&text).expect("test policy is TOML");
    match Policy::try_from(raw) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|i| i.to_string()).collect(),
    }
}

const BIND_DEBUG: &str = r#"
[[roles.r.bindings]]
cluster_role = "jitpe-ingress-debug"
"#;

fn with_binding(role: &str) -> String {
    format!("{role}\n{BIND_DEBUG}")
}

fn has(errs: &[String], key: &str, text: &str) -> bool {
    errs.iter()
        .any(|e| e.starts_with(&format!("{key}: ")) && e.contains(text))
}

#[test]
fn approvals_beyond_the_distinct_approvers_are_refused() {
    let errs = errors(&with_binding(
        r#"approvals = 4
        approvers = ["slack:UX", "slack:UY"]"#,
    ));
    assert!(
        has(&errs, "policy.roles.r.approvals", "at most 2"),
        "{errs:#?}"
    );
}

#[test]
fn an_approver_who_requests_loses_their_own_vote() {
    // Two approvers, two approvals: alice's own request can collect only bob's.
    let errs = errors(&with_binding(
        r#"approvals = 2
        approvers = ["slack:UA", "slack:UB"]"#,
    ));
    let why = "a request by `alice` can collect at most 1";
    assert!(has(&errs, "policy.roles.r.approvals", why), "{errs:#?}");
    let allowed = errors(&with_binding(
        r#"approvals = 2
        allow_self_approval = true
        approvers = ["slack:UA", "slack:UB"]"#,
    ));
    assert_eq!(allowed, Vec::<String>::new());
}

#[test]
fn two_chat_ids_of_one_person_are_one_approver() {
    let errs = errors(&with_binding(
        r#"approvals = 2
        approvers = ["slack:UA", "mattermost:aliceaaaaaaaaaaaaaaaaaaaaa", "slack:UX"]"#,
    ));
    assert!(
        has(&errs, "policy.roles.r.approvals", "2 people"),
        "{errs:#?}"
    );
}

#[test]
fn approvals_reachable_by_every_requester_are_accepted() {
    // Unmapped approvers never request; three people leave two for anyone's request.
    for approvers in [
        r#"["slack:UX", "slack:UY"]"#,
        r#"["slack:UA", "slack:UB", "slack:UX"]"#,
    ] {
        let role = format!("approvals = 2\napprovers = {approvers}");
        assert_eq!(errors(&with_binding(&role)), Vec::<String>::new());
    }
}

#[test]
fn a_misspelt_cluster_role_is_refused_with_a_suggestion() {
    let errs = errors(
        r#"approvers = ["slack:UX"]
        [[roles.r.bindings]]
        cluster_role = "jitpe-ingres-debug"
        [[roles.r.bindings]]
        cluster_role = "cluster-admin""#,
    );
    let key = "policy.roles.r.bindings[0].cluster_role";
    assert!(
        has(&errs, key, "did you mean `jitpe-ingress-debug`"),
        "{errs:#?}"
    );
    let key = "policy.roles.r.bindings[1].cluster_role";
    assert!(has(&errs, key, "not a ClusterRole jitpe may bind"));
    for role in GRANTABLE_CLUSTER_ROLES {
        let ok =
            format!("approvers = [\"slack:UX\"]\n[[roles.r.bindings]]\ncluster_role = \"{role}\"");
        assert_eq!(errors(&ok), Vec::<String>::new(), "{role}");
    }
}

#[test]
fn a_fixed_namespace_closed_to_jitpe_is_refused() {
    for (ns, why) in [
        ("kube-system", "system namespaces"),
        ("kube-node-lease", "system namespaces"),
        ("shop-secret", "policy.namespaces.deny"),
    ] {
        let errs = errors(&format!(
            "approvers = [\"slack:UX\"]\n[[roles.r.bindings]]\n\
             cluster_role = \"jitpe-ingress-controller-logs\"\nnamespace = \"{ns}\""
        ));
        let key = "policy.roles.r.bindings[0].namespace";
        assert!(has(&errs, key, why), "{ns}: {errs:#?}");
    }
}

/// A scoped rule (`api_groups`, `resources`, `verbs` as TOML arrays) of a role that is
/// otherwise valid.
fn scoped(groups: &str, resources: &str, verbs: &str) -> Vec<String> {
    errors(&with_binding(&format!(
        "approvers = [\"slack:UX\"]\n[[roles.r.scoped_rules]]\n\
         api_groups = {groups}\nresources = {resources}\nverbs = {verbs}"
    )))
}

#[test]
fn the_scoped_rule_jitpe_can_write_is_accepted() {
    let all_verbs = r#"["get", "list", "watch", "update", "patch"]"#;
    let errs = scoped(r#"["networking.k8s.io"]"#, r#"["ingresses"]"#, all_verbs);
    assert_eq!(errs, Vec::<String>::new());
}

#[test]
fn scoped_rules_the_cluster_would_refuse_are_refused_with_their_keys() {
    let (net, ing, get) = (r#"["networking.k8s.io"]"#, r#"["ingresses"]"#, r#"["get"]"#);
    let key = "policy.roles.r.scoped_rules[0]";
    let rows = [
        ((r#"[""]"#, r#"["secrets"]"#, get), "api_groups", "``"),
        ((net, r#"["secrets"]"#, get), "resources", "`secrets`"),
        (
            (r#"[""]"#, r#"["pods/exec"]"#, r#"["create"]"#),
            "resources",
            "`pods/exec`",
        ),
        (
            (r#"[""]"#, r#"["serviceaccounts/token"]"#, r#"["create"]"#),
            "resources",
            "token",
        ),
        ((net, r#"["*"]"#, get), "resources", "`*`"),
        (
            (net, r#"["ingresses/status"]"#, get),
            "resources",
            "ingresses/status",
        ),
        (
            (r#"["rbac.authorization.k8s.io"]"#, ing, get),
            "api_groups",
            "rbac",
        ),
        (
            (net, r#"["rolebindings"]"#, get),
            "resources",
            "`rolebindings`",
        ),
        (
            (net, r#"["clusterroles"]"#, r#"["bind"]"#),
            "verbs",
            "`bind`",
        ),
        ((net, ing, r#"["escalate"]"#), "verbs", "`escalate`"),
        ((net, ing, r#"["impersonate"]"#), "verbs", "`impersonate`"),
        ((net, ing, r#"["*"]"#), "verbs", "`*`"),
        ((net, ing, r#"["get", "delete"]"#), "verbs", "`delete`"),
        ((net, ing, "[]"), "verbs", "none given"),
        (("[]", ing, get), "api_groups", "none given"),
        ((net, "[]", get), "resources", "none given"),
    ];
    let mut wrong = Vec::new();
    for ((groups, resources, verbs), part, text) in rows {
        let errs = scoped(groups, resources, verbs);
        if !has(&errs, &format!("{key}.{part}"), text) {
            wrong.push(format!("{groups} {resources} {verbs}: {errs:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
