//! Text jitpe sends to people, with what someone typed kept apart from jitpe's own words.
//!
//! A reason, a revoke note or an echoed word is [`Span::Typed`]; a person jitpe names is
//! [`Span::Person`]; everything else is [`Span::Ours`]. Each platform has one function that
//! turns a [`Text`] into its markup (`chat/slack/blocks.rs` `render_text`,
//! `chat/mattermost/render.rs` `render_text`): typed spans are escaped there, and only there, so
//! no typed link, image or mention reaches a reader live, whichever message carries it.

use super::identity::Actor;
use jiff::Timestamp;
use std::fmt;

/// One piece of a [`Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// jitpe's own words; may use backtick code spans for commands (`/jit status 7`).
    Ours(String),
    /// Something a person typed (a reason, a word jitpe did not understand): always escaped.
    Typed(String),
    /// A person, shown as the platform's mention (or plain name) for them.
    Person(Actor),
    /// A moment, shown in each reader's own time zone where the platform can (Slack), else in
    /// the zone the platform is configured with (Mattermost).
    Time(Timestamp),
}

/// A message made of [`Span`]s, built left to right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    spans: Vec<Span>,
}

impl Text {
    /// Text that is all jitpe's own words.
    pub fn ours(s: impl Into<String>) -> Self {
        Self::default().and(s)
    }

    /// Appends jitpe's own words.
    pub fn and(mut self, s: impl Into<String>) -> Self {
        self.spans.push(Span::Ours(s.into()));
        self
    }

    /// Appends something a person typed.
    pub fn typed(mut self, s: impl Into<String>) -> Self {
        self.spans.push(Span::Typed(s.into()));
        self
    }

    /// Appends a person.
    pub fn person(mut self, a: &Actor) -> Self {
        self.spans.push(Span::Person(a.clone()));
        self
    }

    /// Appends a moment.
    pub fn time(mut self, t: Timestamp) -> Self {
        self.spans.push(Span::Time(t));
        self
    }

    /// Appends another text.
    pub fn then(mut self, other: Text) -> Self {
        self.spans.extend(other.spans);
        self
    }

    /// The spans, in order, for a platform's renderer.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Renders with `ours`, `typed` and `person` for the three kinds of span, and moments in
    /// UTC ([`utc_minute`]).
    pub fn render(
        &self,
        ours: impl Fn(&str) -> String,
        typed: impl Fn(&str) -> String,
        person: impl Fn(&Actor) -> String,
    ) -> String {
        self.render_timed(ours, typed, person, utc_minute)
    }

    /// [`Text::render`] with `time` for moments.
    pub fn render_timed(
        &self,
        ours: impl Fn(&str) -> String,
        typed: impl Fn(&str) -> String,
        person: impl Fn(&Actor) -> String,
        time: impl Fn(Timestamp) -> String,
    ) -> String {
        self.spans
            .iter()
            .map(|s| match s {
                Span::Ours(t) => ours(t),
                Span::Typed(t) => typed(t),
                Span::Person(a) => person(a),
                Span::Time(t) => time(*t),
            })
            .collect()
    }
}

/// `2026-12-01 22:04 UTC`: a moment to the minute, where no reader's zone is known.
pub fn utc_minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// How far `t` is from `now`, to the minute: `in 14 min`, `in 1 h 5 min`, `2 min ago`, `now`.
pub fn relative(now: Timestamp, t: Timestamp) -> String {
    let secs = t.as_second() - now.as_second();
    let minutes = (secs.abs() + 30) / 60;
    if minutes == 0 {
        return "now".to_string();
    }
    let span = match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    };
    match secs > 0 {
        true => format!("in {span}"),
        false => format!("{span} ago"),
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::ours(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::ours(s)
    }
}

/// Plain text, unescaped, people by their id: for logs and tests, never for a chat message.
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self.render(str::to_string, str::to_string, Actor::to_string);
        f.write_str(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::requester;

    #[test]
    fn each_span_goes_through_its_own_function_in_order() {
        let text = Text::ours("a ")
            .typed("<b>")
            .and(" c ")
            .person(&requester());
        let out = text.render(
            |s| format!("O({s})"),
            |s| format!("T({s})"),
            |a| format!("P({})", a.id),
        );
        assert_eq!(out, format!("O(a )T(<b>)O( c )P({})", requester().id));
    }

    #[test]
    fn moments_are_utc_to_the_minute_unless_a_platform_says_otherwise() {
        let t: Timestamp = "2026-12-01T22:04:31Z".parse().unwrap();
        let text = Text::ours("ends ").time(t);
        assert_eq!(text.to_string(), "ends 2026-12-01 22:04 UTC");
        let out = text.render_timed(
            str::to_string,
            str::to_string,
            |a| a.id.clone(),
            |t| t.as_second().to_string(),
        );
        assert_eq!(out, format!("ends {}", t.as_second()));
    }

    #[test]
    fn relative_times_round_to_the_minute_both_ways() {
        let now: Timestamp = "2026-12-01T22:00:00Z".parse().unwrap();
        let at = |secs: i64| {
            now.checked_add(jiff::SignedDuration::from_secs(secs))
                .unwrap()
        };
        assert_eq!(relative(now, at(0)), "now");
        assert_eq!(relative(now, at(29)), "now");
        assert_eq!(relative(now, at(14 * 60 + 10)), "in 14 min");
        assert_eq!(relative(now, at(5 * 60 - 20)), "in 5 min");
        assert_eq!(relative(now, at(3600)), "in 1 h");
        assert_eq!(relative(now, at(3900)), "in 1 h 5 min");
        assert_eq!(relative(now, at(-120)), "2 min ago");
    }

    #[test]
    fn plain_display_shows_everything_as_written() {
        let text = Text::ours("x ").typed("<y>").then(Text::ours(" z"));
        assert_eq!(text.to_string(), "x <y> z");
    }
}
