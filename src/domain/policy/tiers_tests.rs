//! Risk tiers: what they tighten, how several combine, and how bad tiers are refused.

use super::*;
use crate::domain::fixtures::{POLICY, PROD_TIER, approver, requester, tiered_text};

/// The fixture policy with a fourth approver (so tightened approvals stay reachable), the
/// `auto` role approved by the group, and two tiers: `prod` on `payments`, and `pci` on
/// `payments` and `shop-pay*`.
fn tiered() -> String {
    tiered_text(&format!(
        r#"{PROD_TIER}reason_pattern = "^(INC|CHG)-[0-9]+ "
[tiers.pci]
namespaces = ["payments", "shop-pay*"]
min_approvals = 3
max_duration = "40m"
reason_pattern = "PCI"
"#
    ))
}

fn parse(text: &str) -> Result<Policy, PolicyErrors> {
    let raw: RawPolicy = toml::from_str(text).expect("the test policy is TOML");
    Policy::try_from(raw)
}

fn prod_only() -> Policy {
    let text = tiered();
    let cut = text.find("[tiers.pci]").expect("pci tier in the fixture");
    parse(&text[..cut]).expect("the prod-only policy is valid")
}

fn ns(n: &str) -> Namespace {
    Namespace::parse(n).unwrap()
}

fn role(n: &str) -> RoleName {
    RoleName::parse(n).unwrap()
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn keys(e: &PolicyErrors) -> Vec<&str> {
    e.0.iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn a_tier_adds_approvals_and_caps_the_maximum_only_in_its_namespaces() {
    let p = prod_only();
    let debug = p.role(&role("debug")).unwrap();
    let prod = p.rules(debug, &ns("payments"));
    assert_eq!(prod.tier_names(), ["prod"]);
    assert_eq!(prod.approvals_needed(), 2);
    assert_eq!(prod.max_duration(), minutes(20));
    assert_eq!(prod.capped_by(), Some("prod"));
    let shop = p.rules(debug, &ns("shop"));
    assert!(shop.tiers.is_empty());
    assert_eq!(shop.approvals_needed(), 1);
    assert_eq!(shop.max_duration(), minutes(60));
    assert_eq!(shop.capped_by(), None);
}

#[test]
fn a_duration_the_role_allows_but_the_tier_does_not_is_refused_naming_the_tier_and_its_max() {
    let p = prod_only();
    let reason = "INC-1 502s";
    let err = p
        .admit(
            &requester(),
            &role("debug"),
            &ns("payments"),
            None,
            Some(minutes(45)),
            reason,
        )
        .unwrap_err();
    assert!(
        matches!(err, DomainError::TierDurationTooLong { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("tier `prod`"), "{text}");
    assert!(text.contains("at most 20m"), "{text}");
    let elsewhere = p.admit(
        &requester(),
        &role("debug"),
        &ns("shop"),
        None,
        Some(minutes(45)),
        reason,
    );
    assert_eq!(elsewhere.unwrap().duration, minutes(45));
    let role_limit = p
        .admit(
            &requester(),
            &role("debug"),
            &ns("shop"),
            None,
            Some(minutes(90)),
            reason,
        )
        .unwrap_err();
    assert!(
        matches!(role_limit, DomainError::DurationTooLong { .. }),
        "{role_limit:?}"
    );
}

#[test]
fn the_default_duration_is_capped_to_the_tier_maximum() {
    let p = prod_only();
    let reason = "CHG-7 rotate the certificate";
    let change = |n: &str| p.admit(&requester(), &role("change"), &ns(n), None, None, reason);
    assert_eq!(change("payments").unwrap().duration, minutes(20));
    assert_eq!(change("shop").unwrap().duration, minutes(30));
    let debug = p.role(&role("debug")).unwrap();
    assert_eq!(
        p.rules(debug, &ns("payments")).default_duration(),
        minutes(15)
    );
}

#[test]
fn auto_approval_is_off_in_the_tier_and_still_on_elsewhere() {
    let p = prod_only();
    let auto = p.role(&role("auto")).unwrap();
    let here = p.rules(auto, &ns("payments"));
    let elsewhere = p.rules(auto, &ns("shop"));
    assert!(!p.auto_approves(&here, &requester(), minutes(10), 0));
    assert!(p.auto_approves(&elsewhere, &requester(), minutes(10), 0));
}

#[test]
fn the_tier_reason_pattern_is_enforced_with_its_own_message_besides_the_roles() {
    let p = prod_only();
    let admit = |r: &str, reason: &str| {
        p.admit(&requester(), &role(r), &ns("payments"), None, None, reason)
    };
    let err = admit("debug", "502s on /checkout, INC-4411").unwrap_err();
    assert!(
        matches!(err, DomainError::TierReasonPattern { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("tier `prod`") && text.contains("^(INC|CHG)-[0-9]+ "),
        "{text}"
    );
    assert!(admit("debug", "INC-4411 502s on /checkout").is_ok());
    // The role's own pattern still applies, with the role's message.
    let own = admit("change", "CHG-1 x").map(|_| ());
    assert_eq!(own, Ok(()));
    let p2 = parse(&tiered().replace(
        r#"reason_pattern = "[A-Z]+-[0-9]+""#,
        r#"reason_pattern = "TICKET""#,
    ))
    .unwrap();
    let err = p2
        .admit(
            &requester(),
            &role("change"),
            &ns("payments"),
            None,
            None,
            "INC-1 PCI",
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::ReasonPattern { .. }), "{err:?}");
}

#[test]
fn several_tiers_combine_strictest_wins() {
    let p = parse(&tiered()).unwrap();
    let auto = p.role(&role("auto")).unwrap();
    let both = p.rules(auto, &ns("payments"));
    assert_eq!(both.tier_names(), ["pci", "prod"]);
    assert_eq!(both.approvals_needed(), 3, "pci's floor beats prod's 1 + 1");
    assert_eq!(
        both.max_duration(),
        minutes(20),
        "prod's maximum is shorter"
    );
    assert_eq!(both.capped_by(), Some("prod"));
    assert!(
        both.auto_approve().is_none(),
        "prod turns auto-approval off"
    );
    assert_eq!(both.reason_patterns().count(), 2);
    let reason = "INC-1 PCI card data";
    assert!(
        p.admit(
            &requester(),
            &role("auto"),
            &ns("payments"),
            None,
            None,
            reason
        )
        .is_ok()
    );
    let err = p
        .admit(
            &requester(),
            &role("auto"),
            &ns("payments"),
            None,
            None,
            "INC-1 no",
        )
        .unwrap_err();
    assert!(err.to_string().contains("tier `pci`"), "{err}");
    let pci_only = p.rules(auto, &ns("shop-pay"));
    assert_eq!(pci_only.tier_names(), ["pci"]);
    assert_eq!(
        pci_only.max_duration(),
        minutes(30),
        "the role's 30m is below pci's 40m"
    );
    assert_eq!(pci_only.capped_by(), None);
    assert!(
        pci_only.auto_approve().is_some(),
        "pci keeps the role's auto-approval"
    );
}

#[test]
fn bad_tiers_are_refused_each_under_its_dotted_key() {
    let text = POLICY.to_string()
        + r#"
[tiers.prod]
namespaces = ["Prod_*"]
max_duration = "0m"
reason_pattern = "(["
[tiers.empty]
[tiers."Bad Name"]
namespaces = ["prod"]
"#;
    let err = parse(&text).unwrap_err();
    let keys = keys(&err);
    for key in [
        "policy.tiers.prod.namespaces",
        "policy.tiers.prod.max_duration",
        "policy.tiers.prod.reason_pattern",
        "policy.tiers.empty.namespaces",
        "policy.tiers.Bad Name",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}

#[test]
fn a_tier_whose_approvals_can_never_be_collected_names_tier_and_role() {
    let text =
        POLICY.to_string() + "[tiers.prod]\nnamespaces = [\"payments\"]\nmin_approvals = 3\n";
    let err = parse(&text).unwrap_err();
    let issue = err
        .0
        .iter()
        .find(|i| i.key == "policy.tiers.prod.min_approvals" && i.message.contains("role `debug`"))
        .unwrap_or_else(|| panic!("no min_approvals issue for debug in {err}"));
    assert!(
        issue.message.contains("tier `prod` role `debug` needs 3"),
        "{}",
        issue.message
    );
    assert!(issue.message.contains("at most 2"), "{}", issue.message);
    let extra =
        POLICY.to_string() + "[tiers.prod]\nnamespaces = [\"payments\"]\nextra_approvals = 1\n";
    let err = parse(&extra).unwrap_err();
    assert!(
        keys(&err).contains(&"policy.tiers.prod.extra_approvals"),
        "{err}"
    );
    assert!(err.to_string().contains("role `change`"), "{err}");
}

#[test]
fn a_tier_cannot_loosen_a_role() {
    let text = POLICY.to_string() + "[tiers.lax]\nnamespaces = [\"shop\"]\nmax_duration = \"8h\"\n";
    let p = parse(&text).unwrap();
    let debug = p.role(&role("debug")).unwrap();
    let rules = p.rules(debug, &ns("shop"));
    assert_eq!(rules.max_duration(), minutes(60));
    assert_eq!(rules.approvals_needed(), 1);
    assert!(p.is_approver(debug, &approver()));
}
