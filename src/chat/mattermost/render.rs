//! Mattermost rendering of the neutral [`RequestView`]: the card as a message attachment, its
//! buttons, and the neutralising of user-typed text. Pure functions, so the JSON can be checked
//! without HTTP. Every word of status comes from [`RequestView::status`] and
//! [`RequestView::summary`], shared with Slack.
//!
//! ```text
//! props.attachments[0] = {fallback, color, title: "JIT access request #42",
//!                         text: Requester / Role / Duration / Reason [/ Extension] / Status,
//!                         actions: one button per view.actions (omitted when final)}
//! ```
//!
//! Mattermost renders Markdown and no HTML, so nothing is HTML-escaped. What user text must not
//! do is ping (`@channel`, `@all`, `@here`, `@someone`), hide a link or load an image, or fake a
//! card line with a line break. [`neutralise`] puts a zero-width joiner after every `@` (the
//! server's mention parser splits words there; the text looks the same), backslash-escapes the
//! Markdown punctuation that builds links, images and emphasis, and turns line breaks into spaces.

use crate::domain::identity::Actor;
use crate::domain::request::State;
use crate::domain::text::Text;
use crate::domain::view::{CardAction, RequestView};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// Longest `message` current servers accept (`PostMessageMaxRunesV2`), in characters.
pub const MAX_MESSAGE_CHARS: usize = 16_383;
/// Longest user-typed reason shown on a card; longer ones are cut with `…`.
pub const MAX_REASON_CHARS: usize = 2_000;
/// Longest `fallback` (notification text).
pub const MAX_FALLBACK_CHARS: usize = 1_000;

/// Inserted after `@` so no mention or broadcast is recognised.
const ZERO_WIDTH_JOINER: char = '\u{200D}';
/// Marks text that was cut short.
const ELLIPSIS: char = '…';
/// Markdown punctuation that can build a link or image (`[`, `]`, `<`), emphasis, code, a table
/// or a heading. Parentheses stay: without `[…]` they cannot make a link, and `(502s)` reads
/// better unescaped in notifications and raw views.
const MARKDOWN: &[char] = &['\\', '`', '*', '_', '~', '[', ']', '<', '>', '|', '#', '!'];

/// How jitpe names a Mattermost user in text: the id-based text form (`mattermost:<id>`).
///
/// Mattermost mentions only by username, which can be renamed; jitpe keeps identity id-based
/// and does not look usernames up, so cards name users without notifying them.
pub fn mention(actor: &Actor) -> String {
    actor.to_string()
}

/// Makes every `@` inert, so text can neither mention a user nor broadcast to a channel.
pub fn defuse_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        out.push(c);
        if c == '@' {
            out.push(ZERO_WIDTH_JOINER);
        }
    }
    out
}

/// The one function that turns a [`Text`] into Mattermost Markdown: typed words are
/// [`neutralise`]d, jitpe's own words keep their code spans but cannot mention anyone, people
/// are named without a notification.
pub fn render_text(text: &Text, zone: &TimeZone) -> String {
    text.render_timed(
        defuse_mentions,
        neutralise,
        |a| neutralise(&mention(a)),
        |t| local_minute(t, zone),
    )
}

/// `2026-12-01 23:04 CET`: Mattermost has no per-reader time, so a moment is said to the minute
/// in the zone jitpe is configured with (`mattermost.time_zone`, default UTC), and names it.
pub fn local_minute(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// User text for one line of a card: inert mentions, escaped Markdown, no line breaks.
pub fn neutralise(text: &str) -> String {
    escape(text, false)
}

/// User text over several lines (audit lines): like [`neutralise`] but keeps line breaks.
pub fn neutralise_lines(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if keep_lines => out.push('\n'),
            c if c.is_control() => out.push(' '),
            c if MARKDOWN.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(ZERO_WIDTH_JOINER);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span: backslash escapes do not work inside one, so backticks and line breaks are
/// replaced instead, and `@` is defused anyway.
fn code(text: &str) -> String {
    let inner: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", defuse_mentions(&inner))
}

/// Cuts raw text to at most `max` characters, ending with `…` when cut. Cut before escaping,
/// so an escape sequence is never split.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{head}{ELLIPSIS}")
}

/// The attachment colour: orange waits for someone, green is live access, red ended badly,
/// grey ended quietly.
pub fn color(view: &RequestView) -> &'static str {
    match view.state {
        State::Pending => "#FFA500",
        State::Active if view.extension.is_some() => "#FFA500",
        State::Approved | State::Active => "#2E7D32",
        State::Denied | State::Failed | State::Revoked => "#C62828",
        State::Expired | State::TimedOut | State::Cancelled => "#757575",
    }
}

/// The plain-text summary Mattermost shows in notifications (`fallback`).
pub fn fallback(view: &RequestView) -> String {
    let line: String = view
        .summary()
        .render(str::to_string, str::to_string, mention)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    defuse_mentions(&clip(&line, MAX_FALLBACK_CHARS))
}

/// The Markdown body of the card.
pub fn card_text(view: &RequestView, zone: &TimeZone) -> String {
    let mut text = format!(
        "**Requester:** {}\n**Role:** {} in {}\n**Duration:** {}\n**Reason:** {}",
        neutralise(&mention(&view.requester)),
        code(&view.role),
        code(&view.target),
        neutralise(&view.duration),
        neutralise(&clip(&view.reason, MAX_REASON_CHARS)),
    );
    if let Some((duration, reason)) = &view.extension {
        text += &format!(
            "\n**Extension requested:** +{} because {}",
            neutralise(duration),
            neutralise(&clip(reason, MAX_REASON_CHARS)),
        );
    }
    text += &format!("\n**Status:** {}", render_text(&view.card_status(), zone));
    text
}

/// The `props` of a card post: one attachment, with `buttons` unless there are none.
pub fn card_props(view: &RequestView, buttons: Vec<Value>, zone: &TimeZone) -> Value {
    let mut attachment = json!({
        "fallback": fallback(view),
        "color": color(view),
        "title": format!("JIT access request #{}", view.id),
        "text": card_text(view, zone),
    });
    if !buttons.is_empty() {
        attachment["actions"] = Value::Array(buttons);
    }
    json!({"attachments": [attachment]})
}

/// One button. Its `id` is [`CardAction::as_str`]: Mattermost routes clicks by
/// `/actions/{id:[A-Za-z0-9]+}`, so no prefix with `_` or `-` is possible. Mattermost buttons
/// have no confirmation dialog, unlike Slack's.
pub fn button(view: &RequestView, action: CardAction, integration: Value) -> Value {
    // While an extension is pending, Approve/Deny decide the extension, not the grant.
    let ext = if view.extension.is_some() && action != CardAction::Revoke {
        " extension"
    } else {
        ""
    };
    let (name, style) = match action {
        CardAction::Approve => ("Approve", "success"),
        CardAction::Deny => ("Deny", "danger"),
        CardAction::Revoke => ("Revoke", "danger"),
    };
    json!({
        "id": action.as_str(),
        "type": "button",
        "name": format!("{name}{ext}"),
        "style": style,
        "integration": integration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Platform;

    #[test]
    fn broadcasts_and_mentions_are_defused_but_look_the_same() {
        let out = neutralise("@channel @all @here ping @alice");
        assert!(!out.contains("@c") && !out.contains("@a") && !out.contains("@h"));
        assert_eq!(
            out.replace(ZERO_WIDTH_JOINER, ""),
            "@channel @all @here ping @alice"
        );
    }

    #[test]
    fn links_images_emphasis_and_line_breaks_cannot_be_smuggled_into_a_card_line() {
        assert_eq!(
            neutralise("![x](http://t/p.png) [docs](https://evil) *b*\n**Status:** APPROVED"),
            r"\!\[x\](http://t/p.png) \[docs\](https://evil) \*b\* \*\*Status:\*\* APPROVED"
        );
        assert_eq!(neutralise_lines("a\nb\r\tc"), "a\nb  c");
    }

    #[test]
    fn code_spans_cannot_be_closed_early() {
        assert_eq!(code("de`bug\n@all"), "`de'bug @\u{200D}all`");
    }

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 3), "éé…");
    }

    #[test]
    fn users_are_named_by_their_immutable_id() {
        let a = Actor::new(Platform::Mattermost, "rd49ehbqyjytddasoownkuqrxe");
        assert_eq!(mention(&a), "mattermost:rd49ehbqyjytddasoownkuqrxe");
    }

    #[test]
    fn a_moment_is_shown_in_the_configured_zone_and_names_it() {
        let t: Timestamp = "2026-12-01T22:04:31Z".parse().unwrap();
        assert_eq!(local_minute(t, &TimeZone::UTC), "2026-12-01 22:04 UTC");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(local_minute(t, &berlin), "2026-12-01 23:04 CET");
        let text = Text::ours("ends ").time(t);
        assert_eq!(render_text(&text, &berlin), "ends 2026-12-01 23:04 CET");
    }
}
