//! `/jit help` per person: a requester sees their roles and terms, an approver also what they
//! approve, an unmapped person why they cannot ask, and tiers show where rules are stricter.

use super::*;
use crate::domain::fixtures::{
    PROD_TIER, approver, policy, policy_of, requester, stranger, tiered_text,
};

/// The help as plain text, typed spans marked `[…]` so the tests see what gets escaped.
fn plain(policy: &Policy, who: &Actor) -> String {
    help_for(policy, who).render(str::to_string, |t| format!("[{t}]"), |a| a.to_string())
}

#[test]
fn a_requester_sees_the_grammar_every_role_with_its_terms_and_the_namespaces() {
    let text = plain(&policy(), &requester());
    assert!(text.starts_with(help_text()), "the grammar first:\n{text}");
    assert!(
        text.contains("• `debug`: [Read Ingresses] — 15m by default, at most 1h, 1 approval\n"),
        "{text}"
    );
    assert!(
        text.contains("• `change` — 30m by default, at most 2h, 2 approvals; the reason must match `[A-Z]+-[0-9]+`"),
        "{text}"
    );
    assert!(
        text.contains("• `auto` — 10m by default, at most 30m, 1 approval; approved at once for you up to 15m, 2 a day"),
        "auto-approval that applies to this requester: {text}"
    );
    assert!(
        text.contains("*Namespaces:* `shop`, `shop-*`, `payments`, never `shop-secret`"),
        "{text}"
    );
    assert!(!text.contains("You approve"), "{text}");
}

#[test]
fn auto_approval_is_shown_only_to_whom_it_applies_and_approvers_see_what_they_approve() {
    let text = plain(&policy(), &approver());
    assert!(!text.contains("approved at once for you"), "{text}");
    assert!(
        text.contains("*You approve* requests for `auto`, `change`, `debug`;")
            || text.contains("*You approve* requests for `debug`, `change`, `auto`;"),
        "{text}"
    );
}

#[test]
fn an_unmapped_person_is_told_why_they_cannot_ask_and_sees_no_roles() {
    let text = plain(&policy(), &stranger());
    assert!(text.contains("not mapped to a Kubernetes user"), "{text}");
    assert!(text.contains("`slack:USTRANGER`"), "{text}");
    assert!(!text.contains("Roles you may request"), "{text}");
}

#[test]
fn tiers_say_where_the_rules_are_stricter() {
    let p = policy_of(&tiered_text(&format!(
        "{PROD_TIER}reason_pattern = \"^INC-[0-9]+\"\n"
    )));
    let text = plain(&p, &requester());
    assert!(
        text.contains("*Stricter in* `payments` (tier `prod`, [production]): 1 more approval(s), at most 20m, never approved at once, the reason must also match `^INC-[0-9]+`"),
        "{text}"
    );
}
