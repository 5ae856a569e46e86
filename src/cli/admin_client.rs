//! The read-only commands' way in while `jitpe serve` holds the store: HTTP/1.1 over its admin
//! socket (`crate::admin`). Synchronous to its callers, like the store: each call runs its
//! async part on the runtime with `Handle::block_on`, so it is used from a blocking thread.
//!
//! The audit log comes as JSON Lines read frame by frame, each line decoded and handed on before
//! the next frame is read: memory stays at one frame and one line whatever the log's length.
//! Hashes are checked here, by the same code as on the store; `serve` only reads.

use super::view::StoreView;
use crate::admin::{GRANTS_PATH, HEAD_PATH, Head, RECORDS_PATH};
use crate::domain::audit::AuditRecord;
use crate::domain::request::AccessRequest;
use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::runtime::Handle;

/// Longest wait to connect and for an answer's head.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next part of a streamed answer.
const FRAME_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest whole answer (the head, the open requests) and largest audit record line.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A running `serve`'s admin socket.
pub struct AdminClient {
    socket: PathBuf,
    runtime: Handle,
}

impl AdminClient {
    /// A client of the socket at `socket`; connects per call, on `runtime`.
    pub fn new(socket: PathBuf, runtime: Handle) -> Self {
        Self { socket, runtime }
    }

    /// `GET target`: the answer once its head says 200.
    fn get(&self, target: &str) -> anyhow::Result<Response<Incoming>> {
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(ANSWER_TIMEOUT, request(&self.socket, target)).await
        });
        match answer {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => Err(e.context(self.unreachable())),
            Err(_) => Err(anyhow!(
                "{}: no answer within {} s",
                self.unreachable(),
                ANSWER_TIMEOUT.as_secs()
            )),
        }
    }

    /// A whole answer, decoded from JSON.
    fn json<T: serde::de::DeserializeOwned>(&self, target: &str) -> anyhow::Result<T> {
        let body = self.get(target)?.into_body();
        let bytes = self
            .runtime
            .block_on(Limited::new(body, MAX_ANSWER).collect())
            .map_err(|e| anyhow!("the running jitpe's answer broke off: {e}"))?
            .to_bytes();
        serde_json::from_slice(&bytes).context(
            "the running jitpe's answer is not what this jitpe expects: run the same version as \
             serve",
        )
    }

    /// What to check when the socket does not answer: who may use it, and where.
    fn unreachable(&self) -> String {
        let owner = std::fs::metadata(&self.socket)
            .map(|m| format!(" (the socket belongs to uid {})", m.uid()))
            .unwrap_or_default();
        format!(
            "the store is in use (jitpe serve may be running) but its admin socket {} did not \
             answer. Only the user jitpe serve runs as, and root, may use it{owner}, and only \
             while server.admin_socket is not \"off\". Run this as that user, or where the store \
             is not in use (scale jitpe to 0, or use a copy of the data directory)",
            self.socket.display()
        )
    }
}

/// One request on a connection of its own: `Err` if the socket did not answer, `Ok(Err)` if
/// jitpe answered with an error.
async fn request(
    socket: &Path,
    target: &str,
) -> anyhow::Result<anyhow::Result<Response<Incoming>>> {
    let stream = UnixStream::connect(socket).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("starting HTTP on the socket")?;
    // Drives the connection until the answer has been read.
    tokio::spawn(connection);
    let request = Request::get(target)
        .header(hyper::header::HOST, "jitpe-admin")
        .body(Empty::<Bytes>::new())?;
    let answer = sender
        .send_request(request)
        .await
        .context("the socket closed without an answer")?;
    if answer.status().is_success() {
        return Ok(Ok(answer));
    }
    let status = answer.status();
    let text = Limited::new(answer.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Ok(Err(anyhow!("the running jitpe answered {status}: {text}")))
}

impl StoreView for AdminClient {
    /// The head first, then the records stored up to it: `serve` keeps appending meanwhile, and
    /// this is the prefix of the chain that the head vouches for.
    fn audit_log(
        &self,
        hash: bool,
        each: &mut dyn FnMut(&AuditRecord, bool) -> anyhow::Result<()>,
    ) -> anyhow::Result<Option<(u64, String)>> {
        let head: Option<Head> = self.json(HEAD_PATH)?;
        let target = match &head {
            Some(h) => format!("{RECORDS_PATH}?to={}", h.seq.saturating_add(1)),
            None => RECORDS_PATH.to_string(),
        };
        let mut body = self.get(&target)?.into_body();
        let mut lines = Lines::default();
        loop {
            let frame = self
                .runtime
                .block_on(tokio::time::timeout(FRAME_TIMEOUT, body.frame()));
            let frame = match frame {
                Err(_) => bail!("the running jitpe stopped sending the audit log"),
                Ok(None) => break,
                Ok(Some(frame)) => frame.map_err(|e| {
                    anyhow!("the running jitpe broke off the audit log ({e}); its log says why")
                })?,
            };
            if let Ok(data) = frame.into_data() {
                lines.push(&data, &mut |line| {
                    let rec: AuditRecord = serde_json::from_slice(line)
                        .context("the running jitpe sent an audit record this jitpe cannot read")?;
                    let ok = !hash || rec.hash_matches();
                    each(&rec, ok)
                })?;
            }
        }
        lines.finish()?;
        Ok(head.map(|h| (h.seq, h.hash)))
    }

    fn open_requests(&self) -> anyhow::Result<Vec<AccessRequest>> {
        self.json(GRANTS_PATH)
    }
}

/// Splits a byte stream into lines, holding only the unfinished one.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Calls `each` on every line `data` completes.
    fn push(
        &mut self,
        mut data: &[u8],
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        while let Some(end) = data.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                each(&data[..end])?;
            } else {
                self.partial.extend_from_slice(&data[..end]);
                each(&std::mem::take(&mut self.partial))?;
            }
            data = &data[end + 1..];
        }
        if self.partial.len() + data.len() > MAX_ANSWER {
            bail!("the running jitpe sent an audit record longer than {MAX_ANSWER} bytes");
        }
        self.partial.extend_from_slice(data);
        Ok(())
    }

    /// Fails if the stream ended inside a line.
    fn finish(self) -> anyhow::Result<()> {
        if !self.partial.is_empty() {
            bail!("the audit log from the running jitpe ended inside a record");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_frames_come_out_whole_and_a_cut_one_is_an_error() {
        let mut got = Vec::new();
        let mut lines = Lines::default();
        for frame in [&b"ab"[..], b"c\nd", b"", b"e\n\nf\n"] {
            lines
                .push(frame, &mut |l| {
                    got.push(String::from_utf8(l.to_vec()).unwrap());
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(got, ["abc", "de", "", "f"]);
        lines.finish().unwrap();
        let mut cut = Lines::default();
        cut.push(b"{\"seq\":1", &mut |_| Ok(())).unwrap();
        assert!(cut.finish().is_err());
    }
}
