//! Slack: `/jit` slash commands and interactivity in (`routes`, with the v0 signature check in
//! `verify`), Web API calls out (`client`), Block Kit rendering of the neutral view (`blocks`),
//! and ephemeral answers to clicks through `response_url` (`respond`).

pub mod blocks;
pub mod client;
pub mod respond;
pub mod routes;
pub mod verify;

pub use client::{SlackChat, SlackConfig};
