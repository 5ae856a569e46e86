//! Telling a locked store directory apart from other failures to open it.
//!
//! sled takes an exclusive `flock` on `<dir>/db` while a database is open, but reports a held
//! lock only as an untyped I/O error with text. So the store checks the lock itself first, with
//! the same call sled makes, and reads the answer from the operating system's error code.

use fs2::FileExt;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// How long a held lock is waited for: sled releases it when its background flusher stops, a
/// moment after the last handle is dropped, so a restart in the same process (or right after a
/// process exited) may still see it.
const WAIT: Duration = Duration::from_secs(2);
/// How often the lock is checked again while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Waits up to [`WAIT`] for the lock on the store in `dir` to be free; `false` if another handle
/// still holds it. A directory without a database, or one that cannot be checked, counts as free:
/// sled's own open then reports what is wrong with it.
pub(super) fn wait_until_free(dir: &Path) -> bool {
    let mut waited = Duration::ZERO;
    while is_held(dir) {
        if waited >= WAIT {
            return false;
        }
        std::thread::sleep(POLL);
        waited += POLL;
    }
    true
}

/// Whether some open handle holds the lock on `<dir>/db` right now. Taking the lock and
/// dropping the file releases it again at once, so sled can take it next.
pub(super) fn is_held(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join("db")) else {
        return false;
    };
    match file.try_lock_exclusive() {
        Ok(()) => false,
        Err(e) => e.raw_os_error() == fs2::lock_contended_error().raw_os_error(),
    }
}
