//! The card's tier line, built from what was stored on the request.

use super::*;
use crate::domain::fixtures::*;
use crate::domain::request::AppliedTier;

fn plain(t: &Text) -> String {
    t.render(str::to_string, str::to_string, |a| format!("<{}>", a.id))
}

#[test]
fn a_card_shows_the_stored_tiers_with_their_approvals_and_maximum() {
    let mut req = in_state(State::Pending);
    assert_eq!(RequestView::of(&req, 1).tier, None);
    req.tiers = vec![
        AppliedTier {
            name: "prod".into(),
            description: "production".into(),
        },
        AppliedTier {
            name: "pci".into(),
            description: String::new(),
        },
    ];
    req.approvals_needed = 2;
    req.max_duration = Some(std::time::Duration::from_secs(1800));
    let v = RequestView::of(&req, 1);
    let card = plain(&v.card_status());
    assert!(
        card.ends_with("\nTier: prod (production), pci — 2 approvals, max 30m"),
        "{card}"
    );
    assert!(plain(&v.status()).starts_with("PENDING, 0 of 2 approvals"));
    assert!(
        !plain(&v.status()).contains("Tier"),
        "/jit status stays one line"
    );
}
