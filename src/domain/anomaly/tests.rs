//! The rules and the matcher: shipped defaults, site overrides, windows, grants.

use super::fixtures::call;
use super::*;
use crate::domain::fixtures as f;
use crate::domain::ids::RequestId;
use crate::domain::request::{AccessRequest, State};
use jiff::Timestamp;

fn parse_rules(
    toml_text: &str,
) -> Result<RevocationRules, Vec<crate::domain::policy::ConfigIssue>> {
    let raw: RawRevocation = toml::from_str(toml_text).expect("toml");
    RevocationRules::try_from(raw)
}

fn active(id: u64, user: &str, ns: &str, role: &str) -> AccessRequest {
    let mut r = f::in_state(State::Active);
    r.id = RequestId(id);
    r.subject.user = user.into();
    r.namespace = ns.parse().unwrap();
    r.role = role.parse().unwrap();
    r.activated_at = Some(Timestamp::from_second(900).unwrap());
    r
}

fn at(mut c: ApiCall, second: i64) -> Observation {
    c.at = Timestamp::from_second(second).unwrap();
    Observation::Call(c)
}

#[test]
fn the_shipped_rules_are_all_on_and_printable() {
    let r = RevocationRules::default();
    let names: Vec<&str> = r.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "secrets",
            "rbac-change",
            "pods-exec",
            "ingress-delete-under-debug",
            "forbidden-burst"
        ]
    );
    let burst = r.rules.last().unwrap().describe();
    assert!(
        burst.contains("403") && burst.contains("5 times within 2m"),
        "{burst}"
    );
    assert!(r.falco.describe().contains("critical"));
}

#[test]
fn a_site_switches_a_shipped_rule_off_tunes_another_and_adds_its_own() {
    let r = parse_rules(
        r#"
        [rules.secrets]
        enabled = false
        [rules.forbidden-burst]
        count = 10
        [rules.no-configmap-writes]
        verbs = ["update", "patch"]
        resources = ["configmaps"]
        namespace = "outside"
        "#,
    )
    .unwrap();
    assert_eq!(r.disabled, ["secrets"]);
    let burst = r
        .rules
        .iter()
        .find(|r| r.name == "forbidden-burst")
        .unwrap();
    assert_eq!(
        (burst.count, burst.codes.as_slice()),
        (10, [403].as_slice())
    );
    let own = r.rules.last().unwrap();
    assert_eq!(
        (own.name.as_str(), own.namespace),
        ("no-configmap-writes", Scope::Outside)
    );
}

#[test]
fn bad_rules_are_refused_with_the_key_and_what_to_write() {
    let issues = parse_rules(
        r#"
        [rules.Bad_Name]
        verbs = ["get"]
        [rules.everything]
        namespace = "inside"
        [rules.odd]
        verbs = ["GET"]
        resources = ["/x"]
        codes = [42]
        count = 0
        window = "soon"
        roles = ["Not A Role"]
        [falco]
        min_priority = "loud"
        "#,
    )
    .unwrap_err();
    let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
    let has = |k: &str, m: &str| text.iter().any(|t| t.starts_with(k) && t.contains(m));
    assert!(
        has("policy.revocation.rules.Bad_Name", "lowercase"),
        "{text:?}"
    );
    assert!(
        has("policy.revocation.rules.everything", "matches every call"),
        "{text:?}"
    );
    assert!(
        has("policy.revocation.rules.odd.verbs", "not a Kubernetes verb"),
        "{text:?}"
    );
    assert!(
        has("policy.revocation.rules.odd.resources", "[group/]resource"),
        "{text:?}"
    );
    assert!(
        has("policy.revocation.rules.odd.codes", "not an HTTP status"),
        "{text:?}"
    );
    assert!(
        has("policy.revocation.rules.odd.count", "1 to 10000"),
        "{text:?}"
    );
    assert!(has("policy.revocation.rules.odd.window", ""), "{text:?}");
    assert!(has("policy.revocation.rules.odd.roles", ""), "{text:?}");
    assert!(
        has("policy.revocation.falco.min_priority", "informational"),
        "{text:?}"
    );
}

#[test]
fn a_secret_read_by_a_grantee_revokes_her_grant_once() {
    let grants = [
        active(1, "alice", "shop", "debug"),
        active(2, "bob", "shop", "debug"),
    ];
    let index = GrantIndex::of(&grants);
    let rules = RevocationRules::default();
    let mut m = Matcher::default();
    let read = at(call("get", "", "secrets", ""), 1_000);
    let v = m.observe(&rules, &index, &read);
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].request_id, v[0].rule.as_str()),
        (RequestId(1), "secrets")
    );
    assert_eq!(v[0].evidence, ["403 get secrets shop/web (audit 01234567)"]);
    assert!(m.observe(&rules, &index, &read).is_empty(), "revoked once");
}

#[test]
fn calls_before_the_grant_or_by_other_users_revoke_nothing() {
    let index = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let rules = RevocationRules::default();
    let mut m = Matcher::default();
    assert!(
        m.observe(&rules, &index, &at(call("get", "", "secrets", ""), 800))
            .is_empty()
    );
    let mut carol = call("get", "", "secrets", "");
    carol.user = "carol".into();
    assert!(m.observe(&rules, &index, &at(carol, 1_000)).is_empty());
    let mut read = call("get", "networking.k8s.io", "ingresses", "");
    read.code = Some(200);
    assert!(m.observe(&rules, &index, &at(read, 1_000)).is_empty());
}

#[test]
fn an_impersonated_grantee_is_matched_under_her_own_name() {
    let index = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let mut c = call("create", "", "pods", "exec");
    c.user = "admin".into();
    c.impersonated = Some("alice".into());
    let v = Matcher::default().observe(&RevocationRules::default(), &index, &at(c, 1_000));
    assert_eq!(v[0].rule, "pods-exec");
    assert!(
        v[0].evidence[0].contains("as alice by admin"),
        "{:?}",
        v[0].evidence
    );
}

#[test]
fn an_ingress_delete_revokes_a_debug_grant_but_not_a_change_grant() {
    let rules = RevocationRules::default();
    let delete = at(call("delete", "networking.k8s.io", "ingresses", ""), 1_000);
    let debug = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let v = Matcher::default().observe(&rules, &debug, &delete);
    assert_eq!(v[0].rule, "ingress-delete-under-debug");
    let mut ok = call("delete", "networking.k8s.io", "ingresses", "");
    ok.code = Some(200);
    let change = GrantIndex::of(&[active(2, "alice", "shop", "change")]);
    assert!(
        Matcher::default()
            .observe(&rules, &change, &at(ok, 1_000))
            .is_empty()
    );
}

#[test]
fn a_forbidden_burst_revokes_only_when_it_reaches_the_count_within_the_window() {
    let rules = RevocationRules::default(); // 5 within 2m
    let index = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let mut m = Matcher::default();
    let forbidden = || call("list", "", "configmaps", "");
    // Four within the window, then a gap: the fifth is too late to join the first.
    for s in [1_000, 1_010, 1_020, 1_030] {
        assert!(m.observe(&rules, &index, &at(forbidden(), s)).is_empty());
    }
    assert!(
        m.observe(&rules, &index, &at(forbidden(), 1_125))
            .is_empty()
    );
    // The last five (1010..1135) are within 2 minutes.
    let v = m.observe(&rules, &index, &at(forbidden(), 1_130));
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].rule.as_str(), v[0].evidence.len()),
        ("forbidden-burst", 5)
    );
}

#[test]
fn rule_scopes_compare_the_call_with_the_grant_namespace() {
    let rules =
        parse_rules("[rules.outside-reads]\nverbs = [\"get\"]\nnamespace = \"outside\"\n").unwrap();
    let index = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let mut m = Matcher::default();
    let mut inside = call("get", "", "configmaps", "");
    inside.code = Some(200);
    assert!(
        m.observe(&rules, &index, &at(inside.clone(), 1_000))
            .is_empty()
    );
    let mut outside = inside;
    outside.namespace = Some("payments".into());
    assert_eq!(
        m.observe(&rules, &index, &at(outside, 1_000))[0].rule,
        "outside-reads"
    );
}

#[test]
fn falco_alerts_revoke_the_named_user_at_the_chosen_priority() {
    let index = GrantIndex::of(&[active(1, "alice", "shop", "debug")]);
    let rules = RevocationRules::default(); // critical or more severe
    let alert = |p: FalcoPriority, user: Option<&str>| {
        Observation::Falco(FalcoAlert {
            rule: "K8s Secret Get Successfully".into(),
            priority: p,
            at: Timestamp::from_second(1_000).unwrap(),
            user: user.map(str::to_string),
            namespace: Some("shop".into()),
            output: "secret read".into(),
        })
    };
    let mut m = Matcher::default();
    assert!(
        m.observe(
            &rules,
            &index,
            &alert(FalcoPriority::Warning, Some("alice"))
        )
        .is_empty()
    );
    assert!(
        m.observe(&rules, &index, &alert(FalcoPriority::Critical, None))
            .is_empty()
    );
    let v = m.observe(
        &rules,
        &index,
        &alert(FalcoPriority::Critical, Some("alice")),
    );
    assert_eq!(v[0].rule, "falco:K8s Secret Get Successfully");
    let by_ns = parse_rules("[falco]\nmatch_namespace = true\n").unwrap();
    let v = Matcher::default().observe(&by_ns, &index, &alert(FalcoPriority::Emergency, None));
    assert_eq!(v[0].request_id, RequestId(1));
}

#[test]
fn the_matcher_forgets_grants_that_ended_and_can_be_rearmed() {
    let grants = [active(1, "alice", "shop", "debug")];
    let index = GrantIndex::of(&grants);
    let rules = RevocationRules::default();
    let mut m = Matcher::default();
    let read = at(call("get", "", "secrets", ""), 1_000);
    assert_eq!(m.observe(&rules, &index, &read).len(), 1);
    m.rearm(RequestId(1));
    assert_eq!(
        m.observe(&rules, &index, &read).len(),
        1,
        "a failed revocation fires again"
    );
    m.retain(&GrantIndex::default());
    assert!(m.is_empty());
}
