//! The card's tier and label lines, built from what was stored on the request.

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

#[test]
fn a_systems_labels_are_on_its_card_as_typed_text() {
    let mut req = in_state(State::Pending);
    let raw = [("run", "77"), ("pipeline-url", "https://ci.example/<b>")];
    req.labels = crate::domain::request::Labels::parse(
        raw.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap();
    let v = RequestView::of(&req, 1);
    // Typed spans rendered through their own escaper, ours as they are.
    let card = v
        .card_status()
        .render(str::to_string, |t| format!("[{t}]"), |a| a.id.clone());
    assert!(
        card.ends_with("\nLabels: [pipeline-url=https://ci.example/<b>], [run=77]"),
        "{card}"
    );
    req.labels = Default::default();
    assert!(!plain(&RequestView::of(&req, 1).card_status()).contains("Labels"));
}
