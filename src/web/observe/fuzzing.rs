//! The observation routes' decoding without the queue, for the fuzz targets (feature
//! `fuzzing`; see [`crate::fuzzing`]). A child of `web::observe`, so the wire types stay private.

use super::{falco, k8s_audit};
use crate::domain::anomaly::Observation;
use jiff::Timestamp;

/// `POST /k8s/audit` on a body whose token checked out: the calls it queues, or why it is
/// refused. The Unix epoch stands in for the time of events without timestamps.
pub fn k8s_audit(body: &[u8]) -> Result<Vec<Observation>, String> {
    k8s_audit::decode(body, Timestamp::UNIX_EPOCH).map_err(|r| r.to_string())
}

/// `POST /falco` on a body whose token checked out: the alert it queues, or why it is refused.
pub fn falco(body: &[u8]) -> Result<Observation, String> {
    falco::decode(body).map_err(|r| r.to_string())
}
