//! Mattermost: the `/jit` slash command and button callbacks in (`routes`), REST v4 calls out
//! (`client`, wire types and error mapping in `api`), rendering of the neutral view (`render`)
//! and the HMAC-signed button contexts that stand in for the authentication Mattermost does not
//! give its callbacks (`sign`).

pub mod api;
pub mod client;
pub mod render;
pub mod routes;
pub mod sign;

pub use client::{MattermostChat, MattermostConfig};
