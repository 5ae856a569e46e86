//! One place that turns service errors into text a chat user can act on. Internal details go
//! to the log, not to chat.

use crate::ports::{ClusterError, StoreError};
use crate::service::Error;
use tracing::error;

/// The message shown to the user for a failed command or click.
pub fn user_text(e: &Error) -> String {
    match e {
        Error::Domain(d) => d.to_string(),
        Error::Store(StoreError::Conflict(id)) => {
            format!("request #{id} changed while you clicked; look at the card and try again")
        }
        Error::Store(other) => {
            error!(error = %other, "store failure");
            "jitpe could not save that (storage failure); nothing was changed. The operators can see the details in jitpe's log.".into()
        }
        Error::Cluster(ClusterError::Unavailable(_)) => {
            "Kubernetes did not answer; nothing was changed yet. jitpe retries deadlines by itself; try again in a minute.".into()
        }
        Error::Cluster(other) => {
            error!(error = %other, "cluster refused");
            format!("Kubernetes refused the change: {other}. Ask the jitpe operators to check jitpe's RBAC.")
        }
        Error::Contended(_) => e.to_string(),
    }
}
