//! Shared test support: routers over fakes, signed requests, fake chat servers, the real
//! apiserver. Each test binary includes it with `mod common;` and uses a part of it.
#![allow(dead_code)]

pub mod audit;
pub mod audit_direct;
pub mod driver;
pub mod fake_mattermost;
pub mod fake_slack;
pub mod grants;
pub mod install;
pub mod kube;
pub mod live;
pub mod manifests;
pub mod outbox_rig;
pub mod world;
