//! What the inbound routes make of a body before the service runs, as the fuzz targets see it
//! (feature `fuzzing`; the entry points are gathered in [`crate::fuzzing`]).

use crate::domain::command::{Command, CommandError};
use crate::domain::identity::Actor;
use crate::domain::ids::RequestId;
use crate::domain::view::CardAction;
use crate::ports::CardRef;

/// What a slash-command route makes of a body before the service runs.
#[derive(Debug)]
pub enum SlashOutcome {
    /// Not a readable form: refused with 400.
    Malformed,
    /// Slack's certificate check: 200 and nothing else.
    SslCheck,
    /// Answered by the route itself: another command, or no valid user id.
    TurnedAway,
    /// `/jit` by `actor`; `parsed` is what goes to the service, or the error it is told.
    Command {
        /// The invoking user.
        actor: Actor,
        /// The parsed text after `/jit`.
        parsed: Result<Command, CommandError>,
    },
}

/// What a button route makes of a body before the service runs.
#[derive(Debug)]
pub enum ClickOutcome {
    /// Not readable JSON or form: refused with 400.
    Malformed,
    /// Not a button click (another Slack interaction type): 200 and nothing else.
    Ignored,
    /// Refused by the route: no single action, no valid user, or a context that does not verify.
    Refused,
    /// A button that is not one of jitpe's, answered by the route.
    Foreign,
    /// A click on `action` of request `id` by `actor`, from the post at `origin`.
    Click {
        /// The clicker.
        actor: Actor,
        /// The request of the card.
        id: RequestId,
        /// The button.
        action: CardAction,
        /// Where the platform says the button was.
        origin: CardRef,
    },
}
