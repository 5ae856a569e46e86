//! Shared test support: routers over fakes, signed requests, fake chat servers, the real apiserver.
#![allow(dead_code)]

pub mod fake_slack;
pub mod world;
