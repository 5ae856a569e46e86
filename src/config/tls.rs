//! `[server.tls]`: the https listener. Its certificate and key are read and checked here, so
//! `check-config` and a starting `serve` say at once which file is wrong, not the first
//! handshake.

use super::context::Ctx;
use super::raw::RawTls;
use super::settings::TlsSettings;
use crate::web::tls::{self, TlsFiles};

/// Default `server.tls.listen`: beside the plain listener's usual 8080.
pub const DEFAULT_TLS_LISTEN: &str = "0.0.0.0:8443";

/// The https listener of `raw`; `None` (with issues) when a file is missing or unusable.
pub(super) fn tls(cx: &mut Ctx<'_>, raw: RawTls) -> Option<TlsSettings> {
    let (listen, from) = cx.overridden("JITPE_TLS_LISTEN", raw.listen);
    let listen = cx.socket_addr(
        "server.tls.listen",
        listen.as_deref(),
        &from,
        DEFAULT_TLS_LISTEN,
    );
    let required = |cx: &mut Ctx<'_>, key: &str, path: Option<_>| {
        if path.is_none() {
            cx.issue(
                format!("server.tls.{key}"),
                "is required with [server.tls]: the path of a PEM file (`tls.crt` / `tls.key` of \
                 a Kubernetes TLS Secret); remove [server.tls] to serve plain HTTP only",
            );
        }
        path
    };
    let cert = required(cx, "cert_file", raw.cert_file);
    let key = required(cx, "key_file", raw.key_file);
    let files = TlsFiles {
        cert: cert?,
        key: key?,
    };
    if let Err(e) = tls::load(&files) {
        cx.issue("server.tls", e.to_string());
        return None;
    }
    Some(TlsSettings { listen, files })
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
