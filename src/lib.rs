//! jitpe: just-in-time Kubernetes access granted from Slack or Mattermost.
//!
//! ```text
//!  chat ──▶ web (verify) ──▶ service ──▶ domain (pure decide)
//!                              │
//!            ports: Chat, Cluster, Store, Clock ◀── adapters (slack, mattermost, kube, sled)
//! ```

pub mod adapters;
pub mod app;
mod app_chat;
pub mod cli;
pub mod config;
pub mod domain;
pub mod outbox;
pub mod ports;
pub mod scheduler;
pub mod service;
pub mod telemetry;
pub mod web;
