//! The two transitions that dynamic revocation adds: a revocation rule ends a grant (decided by
//! `domain::anomaly`, carried out like any revoke: bindings deleted before the record), and the
//! use report written onto a grant once it has ended. Neither needs the request's role, so a
//! grant whose role has left the policy is still revoked and reported.

use super::transition::{Transition, draft};
use super::{AccessRequest, Effect, Notice, State};
use crate::domain::DomainError;
use crate::domain::anomaly::Usage;
use crate::domain::identity::Actor;
use jiff::Timestamp;

/// Longest evidence kept in the audit record; the matching calls are compact lines, and a
/// burst rule keeps at most its `count` of them, but a site may set a large count.
const MAX_EVIDENCE_CHARS: usize = 2_000;

/// A revocation rule matched: an Approved or Active grant ends now, as jitpe.
pub(super) fn rule_revoke(
    req: &AccessRequest,
    rule: &str,
    evidence: &[String],
    now: Timestamp,
) -> Result<Transition, DomainError> {
    if !matches!(req.state, State::Approved | State::Active) {
        return Err(DomainError::AlreadyDecided {
            id: req.id,
            state: req.state,
        });
    }
    let by = Actor::system();
    let first = evidence.first().map_or("", String::as_str);
    let more = match evidence.len() {
        0 | 1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    let reason = format!("rule {rule}: {first}{more}");
    let mut next = req.clone();
    next.state = State::Revoked;
    next.ended_at = Some(now);
    next.ended_by = Some(by.clone());
    next.end_reason = Some(reason.clone());
    next.revoked_by_rule = Some(rule.to_string());
    next.extension = None;
    let notice = Notice::RevokedByRule {
        rule: rule.to_string(),
        reason: reason.clone(),
    };
    let audit = draft(&by, "revoked", &next)
        .with("rule", rule)
        .with("reason", &reason)
        .with("evidence", clip(&evidence.join("; "), MAX_EVIDENCE_CHARS));
    Ok(Transition {
        request: next,
        effects: vec![
            Effect::DeleteBindings,
            Effect::UpdateCard,
            Effect::Notify(notice),
            Effect::Alert,
        ],
        audit,
    })
}

/// The use report of a grant that was active and has ended; written once.
pub(super) fn report_usage(req: &AccessRequest, usage: &Usage) -> Result<Transition, DomainError> {
    let reportable = req.state.is_final() && req.activated_at.is_some() && req.usage.is_none();
    if !reportable {
        return Err(DomainError::AlreadyDecided {
            id: req.id,
            state: req.state,
        });
    }
    let mut next = req.clone();
    next.usage = Some(usage.clone());
    let audit = draft(&Actor::system(), "usage_report", &next)
        .with("summary", usage.summary())
        .with("requests", usage.requests)
        .with("forbidden", usage.forbidden);
    Ok(Transition {
        request: next,
        effects: vec![Effect::UpdateCard],
        audit,
    })
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{at, in_state, policy};
    use crate::domain::lifecycle::decide;
    use crate::domain::request::Event;

    fn rule_event() -> Event {
        Event::RuleRevoke {
            rule: "secrets".into(),
            evidence: vec![
                "403 get secrets shop/db (audit 01234567)".into(),
                "x".into(),
            ],
        }
    }

    #[test]
    fn a_rule_revokes_an_active_grant_bindings_first_with_alert_and_notice() {
        let t = decide(&in_state(State::Active), &rule_event(), &policy(), at(200)).unwrap();
        assert_eq!(t.request.state, State::Revoked);
        assert_eq!(t.request.revoked_by_rule.as_deref(), Some("secrets"));
        assert_eq!(t.effects[0], Effect::DeleteBindings);
        assert!(t.effects.contains(&Effect::Alert));
        let reason = t.request.end_reason.clone().unwrap();
        assert_eq!(
            reason,
            "rule secrets: 403 get secrets shop/db (audit 01234567) and 1 more"
        );
        assert_eq!(t.audit.details["rule"], "secrets");
        assert!(t.audit.details["evidence"].ends_with("; x"));
    }

    #[test]
    fn a_rule_cannot_revoke_an_ended_grant_and_a_revoked_grant_cannot_be_extended() {
        let revoked = decide(&in_state(State::Active), &rule_event(), &policy(), at(200))
            .unwrap()
            .request;
        assert!(decide(&revoked, &rule_event(), &policy(), at(201)).is_err());
        let extend = Event::RequestExtension {
            by: revoked.requester.clone(),
            duration: std::time::Duration::from_secs(600),
            reason: "more".into(),
        };
        assert!(decide(&revoked, &extend, &policy(), at(202)).is_err());
        assert!(decide(&in_state(State::Pending), &rule_event(), &policy(), at(10)).is_err());
    }

    #[test]
    fn the_use_report_is_written_once_on_a_grant_that_was_active_and_ended() {
        let ev = Event::ReportUsage {
            usage: Usage {
                requests: 3,
                ..Usage::default()
            },
        };
        let expired = in_state(State::Expired);
        let t = decide(&expired, &ev, &policy(), at(1_000)).unwrap();
        assert_eq!(t.request.usage.as_ref().map(|u| u.requests), Some(3));
        assert_eq!(t.effects, [Effect::UpdateCard]);
        assert!(t.audit.details["summary"].starts_with("3 API requests"));
        assert!(
            decide(&t.request, &ev, &policy(), at(1_001)).is_err(),
            "written once"
        );
        for state in [State::Active, State::Denied, State::Pending] {
            assert!(
                decide(&in_state(state), &ev, &policy(), at(1_000)).is_err(),
                "{state}"
            );
        }
    }
}
