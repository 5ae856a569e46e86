//! TEMPORARY stub.
use std::time::Duration;
#[derive(Debug, thiserror::Error)]
#[error("bad duration")]
pub struct DurationError;
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let n: u64 = s.trim_end_matches('m').parse().map_err(|_| DurationError)?;
    Ok(Duration::from_secs(n * 60))
}
pub fn format_duration(d: Duration) -> String {
    format!("{}s", d.as_secs())
}
