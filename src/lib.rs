//! jitpe: just-in-time Kubernetes access granted from Slack or Mattermost.
//!
//! ```text
//!  chat/{slack,mattermost} (verify, parse) ──▶ service ──▶ domain (pure decide)
//!                                                │
//!         ports: Chat, Cluster, Store, Clock ◀── chat/*, kube/, store/, clock
//!  workers/ (expiry, reconcile, outbox, audit_feed) run on one runner; app.rs wires it all
//! ```
//!
//! See `ARCHITECTURE.md` for what each folder may import.

pub mod admin;
pub mod app;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
/// The inbound routes' parsing for the fuzz targets in `fuzz/`; not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod kube;
pub mod metrics;
pub mod ports;
pub mod service;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod web;
pub mod workers;
