//! The direct messages a requester gets, one per [`Notice`]. Written at the moment they are
//! sent (`now`), so a time can also be said as how far off it is ("ends in 5 min, at …"), which
//! a card, shown for hours, never says.

use super::RequestView;
use crate::domain::request::Notice;
use crate::domain::text::{Text, relative};
use jiff::Timestamp;

/// The direct message text for a notice about `view`, sent at `now`.
pub fn notice_text(notice: &Notice, view: &RequestView, now: Timestamp) -> Text {
    let what = format!("#{} ({} on {})", view.id, view.role, view.target);
    let ours = |s: String| Text::ours(s);
    // ` until 22:04 (in 15 min)`, when the grant has an end.
    let until = |prefix: &str| match view.expires_at {
        Some(t) => Text::ours(format!(" {prefix} "))
            .time(t)
            .and(format!(" ({})", relative(now, t))),
        None => Text::default(),
    };
    match notice {
        Notice::Approved => ours(format!(
            "Your request {what} was approved: access is active"
        ))
        .then(until("until"))
        .and("."),
        Notice::Denied { by } => ours(format!("Your request {what} was denied by "))
            .person(by)
            .and("."),
        Notice::ExpiringSoon => ours(format!("Your access {what} ends "))
            .then(ends_soon(view, now))
            .and(format!(
                ". `/jit extend {} <duration> <reason>` asks for more time.",
                view.id
            )),
        Notice::Expired => ours(format!("Your access {what} has expired and was removed.")),
        Notice::Revoked { by, reason } => ours(format!("Your access {what} was revoked by "))
            .person(by)
            .and(": ")
            .typed(reason.as_str())
            .and("."),
        Notice::RevokedByRule { rule, reason } => ours(format!(
            "Your access {what} was revoked at once by jitpe's rule "
        ))
        .typed(rule.as_str())
        .and(", because of what was done with it: ")
        .typed(reason.as_str())
        .and(". The approvers were alerted; ask them if this was a mistake."),
        Notice::TimedOut => ours(format!(
            "Your request {what} timed out: nobody decided in time. Ask again if you still need it."
        )),
        Notice::Failed { error } => ours(format!(
            "Your request {what} was approved but access could not be granted: "
        ))
        .typed(error.as_str())
        .and(". Nothing was left behind."),
        Notice::Extended => ours(format!("Your access {what} was extended"))
            .then(until("until"))
            .and("."),
        Notice::ExtensionDenied { by } => ours(format!("The extension of {what} was denied by "))
            .person(by)
            .and("; access still ends")
            .then(until("at"))
            .and("."),
        Notice::ExtensionTimedOut => ours(format!(
            "Nobody decided on the extension of {what}; access still ends"
        ))
        .then(until("at"))
        .and("."),
        Notice::CardUndelivered { error } => ours(format!(
            "Your request {what} could not be shown to the approvers: "
        ))
        .typed(error.as_str())
        .and(format!(
            ". They may not know of it: tell them, or withdraw it with `/jit cancel {}`.",
            view.id
        )),
    }
}

/// `in 5 min, at 22:04`: how soon first, since that is what the warning is about.
fn ends_soon(view: &RequestView, now: Timestamp) -> Text {
    match view.expires_at {
        Some(t) => Text::ours(format!("{}, at ", relative(now, t))).time(t),
        None => Text::ours("soon"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{approver, in_state};
    use crate::domain::request::State;

    fn plain(t: &Text) -> String {
        t.render(str::to_string, str::to_string, |a| format!("<{}>", a.id))
    }

    #[test]
    fn notices_name_the_request_and_who_acted() {
        let v = RequestView::of(&in_state(State::Denied), 2);
        let now = Timestamp::UNIX_EPOCH;
        let text = plain(&notice_text(&Notice::Denied { by: approver() }, &v, now));
        assert_eq!(
            text,
            "Your request #7 (debug on shop) was denied by <UAPP1>."
        );
    }

    #[test]
    fn an_end_is_said_as_how_soon_and_when() {
        let v = RequestView::of(&in_state(State::Active), 3);
        let end = v.expires_at.expect("an active grant ends");
        let now = end.checked_sub(jiff::SignedDuration::from_mins(5)).unwrap();
        let soon = plain(&notice_text(&Notice::ExpiringSoon, &v, now));
        let at = crate::domain::text::utc_minute(end);
        assert!(
            soon.starts_with(&format!(
                "Your access #7 (debug on shop) ends in 5 min, at {at}. `/jit extend 7"
            )),
            "{soon}"
        );
        let approved = plain(&notice_text(&Notice::Approved, &v, now));
        assert!(
            approved.ends_with(&format!("access is active until {at} (in 5 min).")),
            "{approved}"
        );
        let still = plain(&notice_text(&Notice::ExtensionTimedOut, &v, now));
        assert!(
            still.ends_with(&format!("access still ends at {at} (in 5 min).")),
            "{still}"
        );
    }
}
