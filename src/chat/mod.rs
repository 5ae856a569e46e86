//! The chat platforms, one folder each, both directions together: the inbound routes (slash
//! commands and button clicks, verified before anything is parsed, then run through the shared
//! [`inbound`] pipeline) and the outbound adapter of the [`crate::ports::Chat`] port (cards,
//! DMs, audit lines). Each platform has one `build` that the wiring calls.

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod inbound;
pub mod mattermost;
pub mod slack;

use crate::ports::Chat;
use axum::Router;
use std::sync::Arc;

/// One enabled platform: its routes and its outgoing adapter.
pub struct ChatPlatform {
    /// The platform's routes, ready to merge into the server's router.
    pub router: Router,
    /// Its side of the [`Chat`] port, for the outbox and the audit feed.
    pub chat: Arc<dyn Chat>,
}
