//! Logging: structured `tracing` output, level from `RUST_LOG` (default `info`), JSON when
//! `JITPE_LOG_FORMAT=json`; text has colour codes only when standard error is a terminal, so a
//! pod's log (and whatever collects it) gets plain text. Secrets never reach a log line: config
//! types redact them in `Debug`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("JITPE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
