//! The break-glass spool: how `jitpe revoke` reaches a running `jitpe serve`.
//!
//! While `serve` holds the store, the command line cannot write the record, so it writes a note
//! (who, why, which request) into `<store>/breakglass/` and then deletes the bindings itself, so
//! access ends at once. The running jitpe applies each note as a revocation by that operator
//! (see `workers::breakglass`), before its reconcile sweep could take the missing bindings for
//! "removed outside jitpe". The directory lives inside the store's, so it is on the same volume
//! wherever the store is mounted. Notes are written to a temporary name, synced and renamed, so
//! a reader never sees half a note.

use crate::domain::ids::RequestId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The spool's directory name inside the store directory.
const DIR: &str = "breakglass";
/// A finished note's file name ends with this; temporary files do not.
const SUFFIX: &str = ".json";
/// Larger files are not notes jitpe wrote: they are set aside unread.
const MAX_NOTE_BYTES: u64 = 16 * 1024;

/// One break-glass revocation, as the operator asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// The request whose access was ended.
    pub request_id: RequestId,
    /// The local user who ran `jitpe revoke`.
    pub operator: String,
    /// The reason given with `--reason`.
    pub reason: String,
    /// When the command ran.
    pub at: Timestamp,
}

/// A file in the spool: a note, or why it could not be read as one.
#[derive(Debug)]
pub struct Spooled {
    /// The file.
    pub path: PathBuf,
    /// The note, or what is wrong with the file.
    pub note: Result<Note, String>,
}

/// The spool directory of the store in `store_dir`.
pub fn spool_dir(store_dir: &Path) -> PathBuf {
    store_dir.join(DIR)
}

/// Writes `note` into the spool of the store in `store_dir`, atomically; returns its path.
pub fn write(store_dir: &Path, note: &Note) -> io::Result<PathBuf> {
    let dir = spool_dir(store_dir);
    fs::create_dir_all(&dir)?;
    let stem = format!(
        "{}-{}-{}",
        note.at.as_nanosecond(),
        note.request_id,
        std::process::id()
    );
    let tmp = dir.join(format!("{stem}.tmp"));
    let path = dir.join(format!("{stem}{SUFFIX}"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(note)?)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    // The rename is durable only once the directory is synced.
    fs::File::open(&dir)?.sync_all()?;
    Ok(path)
}

/// Every finished note in the spool, oldest first (names start with the time). A missing spool
/// is an empty one.
pub fn read_all(store_dir: &Path) -> io::Result<Vec<Spooled>> {
    let dir = spool_dir(store_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(SUFFIX))
        {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| Spooled {
            note: read_note(&path),
            path,
        })
        .collect())
}

fn read_note(path: &Path) -> Result<Note, String> {
    let len = fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_NOTE_BYTES {
        return Err(format!("{len} bytes, more than a note ({MAX_NOTE_BYTES})"));
    }
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a break-glass note: {e}"))
}

/// Removes a note once it is recorded.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Renames a file that is not a note to `<name>.rejected`, so it is reported once and kept for
/// whoever investigates.
pub fn reject(path: &Path) -> io::Result<()> {
    let mut rejected = path.as_os_str().to_owned();
    rejected.push(".rejected");
    fs::rename(path, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: u64) -> Note {
        Note {
            request_id: RequestId(id),
            operator: "alice".into(),
            reason: "INC-5 break glass".into(),
            at: Timestamp::from_second(1_800_000_000 + id as i64).unwrap(),
        }
    }

    #[test]
    fn notes_are_read_back_oldest_first_and_a_missing_spool_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_all(dir.path()).unwrap().is_empty());
        write(dir.path(), &note(7)).unwrap();
        write(dir.path(), &note(3)).unwrap();
        let read: Vec<_> = read_all(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.note.unwrap())
            .collect();
        assert_eq!(read, vec![note(3), note(7)]);
    }

    #[test]
    fn temporary_files_are_ignored_and_garbage_is_reported_then_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_dir(dir.path());
        fs::create_dir_all(&spool).unwrap();
        fs::write(spool.join("1-1-1.tmp"), b"{").unwrap();
        fs::write(spool.join("2-2-2.json"), b"{\"request_id\":2}").unwrap();
        let read = read_all(dir.path()).unwrap();
        assert_eq!(read.len(), 1);
        let err = read[0].note.as_ref().unwrap_err();
        assert!(err.contains("not a break-glass note"), "{err}");
        reject(&read[0].path).unwrap();
        assert!(read_all(dir.path()).unwrap().is_empty());
        assert!(spool.join("2-2-2.json.rejected").exists());
    }
}
