//! Entry points for the fuzz targets in `fuzz/`, only built with the `fuzzing` feature.
//!
//! Each function runs the same decoding and checks as an inbound route once the request is
//! authenticated (Slack's signature, Mattermost's command token, the observation routes' bearer
//! token), up to where the route hands over to the service or the intake queue, and renders the answers it can give on its own, so a panic anywhere on
//! that path is found. They live next to each route (`chat::*::routes::fuzzing`) so nothing
//! private to the routes has to become public; this module only gathers them.
//!
//! The pure parsers need no entry point: [`crate::domain::command::parse`],
//! [`crate::domain::duration::parse_duration`], [`crate::chat::slack::verify::verify_slack`] and
//! [`crate::chat::mattermost::sign::ButtonContext::verify`] are public already.

pub use crate::chat::fuzzing::{ClickOutcome, SlashOutcome};

/// Slack's routes: [`slack::slash_command`], [`slack::interaction`].
pub mod slack {
    pub use crate::chat::slack::routes::fuzzing::{interaction, slash_command};
}

/// Mattermost's routes: [`mattermost::slash_command`], [`mattermost::action`].
pub mod mattermost {
    pub use crate::chat::mattermost::routes::fuzzing::{action, slash_command};
}

/// The systems API: [`api::create`].
pub mod api {
    pub use crate::web::api::fuzzing::create;
}

/// The observation routes: [`observe::k8s_audit`], [`observe::falco`].
pub mod observe {
    pub use crate::web::observe::fuzzing::{falco, k8s_audit};
    pub use crate::web::observe::{MAX_FIELD_CHARS, MAX_OUTPUT_CHARS};
}
