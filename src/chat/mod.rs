//! The chat platforms, one folder each, both directions together: the inbound routes (slash
//! commands and button clicks, verified before anything is parsed) and the outbound adapter of
//! the [`crate::ports::Chat`] port (cards, DMs, audit lines).

pub mod mattermost;
pub mod slack;
