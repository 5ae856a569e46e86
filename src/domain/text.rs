//! Text jitpe sends to people, with what someone typed kept apart from jitpe's own words.
//!
//! A reason, a revoke note or an echoed word is [`Span::Typed`]; a person jitpe names is
//! [`Span::Person`]; everything else is [`Span::Ours`]. Each platform has one function that
//! turns a [`Text`] into its markup (`chat/slack/blocks.rs` `render_text`,
//! `chat/mattermost/render.rs` `render_text`): typed spans are escaped there, and only there, so
//! no typed link, image or mention reaches a reader live, whichever message carries it.

use super::identity::Actor;
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

    /// Appends another text.
    pub fn then(mut self, other: Text) -> Self {
        self.spans.extend(other.spans);
        self
    }

    /// The spans, in order, for a platform's renderer.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Renders with `ours`, `typed` and `person` for the three kinds of span.
    pub fn render(
        &self,
        ours: impl Fn(&str) -> String,
        typed: impl Fn(&str) -> String,
        person: impl Fn(&Actor) -> String,
    ) -> String {
        self.spans
            .iter()
            .map(|s| match s {
                Span::Ours(t) => ours(t),
                Span::Typed(t) => typed(t),
                Span::Person(a) => person(a),
            })
            .collect()
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
    fn plain_display_shows_everything_as_written() {
        let text = Text::ours("x ").typed("<y>").then(Text::ours(" z"));
        assert_eq!(text.to_string(), "x <y> z");
    }
}
