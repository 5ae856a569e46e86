//! Block Kit rendering of the neutral [`RequestView`]: the approval card, its fallback text and
//! mrkdwn escaping. Pure functions, so the JSON can be checked without HTTP.
//!
//! Layout only: every word of status comes from [`RequestView::status`] and
//! [`RequestView::summary`], which the Mattermost adapter reuses, so the platforms cannot drift.
//!
//! ```text
//! section  jit_summary_<id>_v<revision>   request lines (mrkdwn) + one Status field
//! actions  jit_review_<id>_v<revision>    one button per view.actions (omitted when final)
//! ```

use crate::domain::identity::{Actor, Platform};
use crate::domain::text::{Text, utc_minute};
use crate::domain::view::{CardAction, RequestView};
use jiff::Timestamp;
use serde_json::{Value, json};

/// Longest section `text` Slack accepts, in characters.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Longest section field Slack accepts, in characters.
pub const MAX_FIELD_TEXT: usize = 2000;
/// Longest top-level `text` we send; Slack advises staying under about 4000 characters.
pub const MAX_MESSAGE_TEXT: usize = 3000;
/// Longest button label.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Longest confirm dialog body.
pub const MAX_CONFIRM_TEXT: usize = 300;
/// Prefix of every jitpe `action_id`; the rest is [`CardAction::as_str`].
pub const ACTION_ID_PREFIX: &str = "jit_";

/// Marks text that was cut short.
const ELLIPSIS: char = '…';

/// The `action_id` of a button (`jit_approve`, `jit_deny`, `jit_revoke`).
pub fn action_id(action: CardAction) -> String {
    format!("{ACTION_ID_PREFIX}{}", action.as_str())
}

/// The action behind an `action_id` from a `block_actions` payload; `None` for anything else.
pub fn parse_action_id(action_id: &str) -> Option<CardAction> {
    action_id
        .strip_prefix(ACTION_ID_PREFIX)
        .and_then(CardAction::parse)
}

/// How Slack mentions `actor` in mrkdwn: `<@U…>` for Slack users, the text form
/// (`system:jitpe`, `mattermost:…`) for anyone else.
pub fn mention(actor: &Actor) -> String {
    match actor.platform {
        Platform::Slack => format!("<@{}>", actor.id),
        _ => actor.to_string(),
    }
}

/// Escapes the three characters mrkdwn treats as control characters, so user-typed text cannot
/// mention `@channel`, hide a link behind other words or break the layout.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The one function that turns a [`Text`] into Slack mrkdwn: jitpe's words and typed words
/// are both [`escape`]d (jitpe never means a link or a broadcast), people become mentions. A
/// typed `<@U…>` therefore stays text: only jitpe names people.
pub fn render_text(text: &Text) -> String {
    text.render_timed(escape, escape, mention, date)
}

/// A moment as Slack's date token, which each reader's client shows in their own time zone
/// (`today 11:04 PM`); the fallback, for clients that cannot, is UTC to the minute.
pub fn date(t: Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        t.as_second(),
        utc_minute(t)
    )
}

/// Cuts escaped mrkdwn to at most `max` characters, ending with `…` when cut. The cut never
/// splits a character, an entity (`&amp;`) or a `<…>` token, which Slack would render raw.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..end];
    // An `&` or `<` after the last `;` or `>` starts a token the cut left open.
    if let Some(open) = head.rfind(['&', '<']) {
        if !head[open..].contains([';', '>']) {
            head = &head[..open];
        }
    }
    format!("{head}{ELLIPSIS}")
}

/// The notification and screen-reader text of a card: the neutral one-line summary.
pub fn fallback_text(view: &RequestView) -> String {
    clip(&render_text(&view.summary()), MAX_MESSAGE_TEXT)
}

/// The Block Kit `blocks` of a card. Block ids carry the revision because Slack wants new ids
/// when a message is updated.
pub fn card_blocks(view: &RequestView) -> Value {
    let mut blocks = vec![summary_section(view)];
    if !view.actions.is_empty() {
        let elements: Vec<Value> = view.actions.iter().map(|a| button(view, *a)).collect();
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("jit_review_{}_v{}", view.id, view.revision),
            "elements": elements,
        }));
    }
    Value::Array(blocks)
}

/// The request section: fixed lines first, then the user-typed reasons sharing what is left of
/// the 3000-character budget, so a long reason is cut rather than the card refused.
fn summary_section(view: &RequestView) -> Value {
    let fixed = format!(
        "*JIT access request* #{}\n*Requester:* {}\n*Role:* `{}` in `{}`\n*Duration:* {}\n*Reason:* ",
        view.id,
        mention(&view.requester),
        escape(&view.role),
        escape(&view.target),
        escape(&view.duration),
    );
    let ext_label = view
        .extension
        .as_ref()
        .map(|(d, _)| format!("\n*Extension requested:* +{} because ", escape(d)));
    let label_len = fixed.chars().count() + ext_label.as_ref().map_or(0, |l| l.chars().count());
    let texts = if ext_label.is_some() { 2 } else { 1 };
    let budget = MAX_SECTION_TEXT.saturating_sub(label_len) / texts;
    let mut text = fixed + &clip(&escape(&view.reason), budget);
    if let (Some(label), Some((_, reason))) = (ext_label, &view.extension) {
        text += &label;
        text += &clip(&escape(reason), budget);
    }
    let status = format!("*Status:*\n{}", render_text(&view.card_status()));
    json!({
        "type": "section",
        "block_id": format!("jit_summary_{}_v{}", view.id, view.revision),
        "text": {"type": "mrkdwn", "text": text},
        "fields": [{"type": "mrkdwn", "text": clip(&status, MAX_FIELD_TEXT)}],
    })
}

/// One button; Deny and Revoke ask for confirmation because they cannot be undone.
fn button(view: &RequestView, action: CardAction) -> Value {
    // While an extension is pending, Approve/Deny decide the extension, not the grant.
    let ext = if view.extension.is_some() {
        " extension"
    } else {
        ""
    };
    let what = format!("#{} ({} on {})", view.id, view.role, view.target);
    let (label, style, confirm) = match action {
        CardAction::Approve => (format!("Approve{ext}"), "primary", None),
        CardAction::Deny if view.extension.is_some() => (
            format!("Deny{ext}"),
            "danger",
            Some((
                "Deny the extension?",
                format!("Deny more time for {what}? Access still ends as planned."),
                "Deny",
            )),
        ),
        CardAction::Deny => (
            "Deny".to_string(),
            "danger",
            Some((
                "Deny access?",
                format!("Deny request {what}? One deny is enough to end it."),
                "Deny",
            )),
        ),
        CardAction::Revoke => (
            "Revoke".to_string(),
            "danger",
            Some((
                "Revoke access?",
                format!("End access {what} now?"),
                "Revoke",
            )),
        ),
    };
    let mut b = json!({
        "type": "button",
        "action_id": action_id(action),
        "value": view.id.to_string(),
        "style": style,
        "text": plain(&label, MAX_BUTTON_TEXT),
    });
    if let Some((title, body, yes)) = confirm {
        b["confirm"] = json!({
            "title": plain(title, 100),
            "text": plain(&body, MAX_CONFIRM_TEXT),
            "confirm": plain(yes, 30),
            "deny": plain("Cancel", 30),
            "style": "danger",
        });
    }
    b
}

/// A `plain_text` object cut to `max` characters (plain text needs no escaping).
fn plain(text: &str, max: usize) -> Value {
    let text = if text.chars().count() > max {
        let head: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{head}{ELLIPSIS}")
    } else {
        text.to_string()
    };
    json!({"type": "plain_text", "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_the_three_mrkdwn_control_characters() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape("<!channel>"), "&lt;!channel&gt;");
    }

    #[test]
    fn only_jitpe_names_people_typed_mentions_broadcasts_and_links_stay_text() {
        let by = Actor::new(Platform::Slack, "U0APP");
        let text = Text::ours("by ")
            .person(&by)
            .and(": ")
            .typed("<@U0APR001> <!here> <https://evil|docs> a&b");
        assert_eq!(
            render_text(&text),
            "by <@U0APP>: &lt;@U0APR001&gt; &lt;!here&gt; &lt;https://evil|docs&gt; a&amp;b"
        );
    }

    #[test]
    fn clipping_never_splits_an_entity_a_token_or_a_character() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcd&amp;efgh", 7), "abcd…");
        assert_eq!(clip("ab <@U123> cd", 8), "ab …");
        assert_eq!(clip("ééééé", 3), "éé…");
        assert_eq!(clip("a&amp;bcdef", 9), "a&amp;bc…");
    }

    #[test]
    fn action_ids_round_trip_and_foreign_ids_are_ignored() {
        for a in [CardAction::Approve, CardAction::Deny, CardAction::Revoke] {
            assert_eq!(parse_action_id(&action_id(a)), Some(a));
        }
        assert_eq!(action_id(CardAction::Approve), "jit_approve");
        assert_eq!(parse_action_id("approve"), None);
        assert_eq!(parse_action_id("jit_escalate"), None);
    }

    #[test]
    fn slack_users_are_mentioned_and_others_are_named() {
        assert_eq!(mention(&Actor::new(Platform::Slack, "U1")), "<@U1>");
        assert_eq!(mention(&Actor::system()), "system:jitpe");
    }
}
