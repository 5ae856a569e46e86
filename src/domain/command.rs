//! TEMPORARY stub.
use super::ids::{Namespace, RequestId, ResourceName, RoleName};
use std::time::Duration;
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Request {
        role: RoleName,
        namespace: Namespace,
        resource: Option<ResourceName>,
        duration: Option<Duration>,
        reason: String,
    },
    List,
    Status {
        id: RequestId,
    },
    Revoke {
        id: RequestId,
    },
    Extend {
        id: RequestId,
        duration: Duration,
        reason: String,
    },
    Cancel {
        id: RequestId,
    },
    Help,
}
pub fn help_text() -> &'static str {
    "help"
}
