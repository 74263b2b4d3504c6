//! Crash-safe writes: every file this project persists (checkpoints, exports, reports, pointers)
//! goes through here, so that a crash, a kill or a full disk never leaves a half-written file
//! where a reader expects a whole one.
//!
//! # Brief overview
//! - [`write_atomic`]: replace one file. The bytes go to a temporary file in the same directory
//!   (a unique name, so concurrent writers never share it), which is fsynced, renamed over the
//!   destination, and then the directory is fsynced so that the rename itself survives a crash.
//! - [`sync_dir`]: fsync a directory (after renames into it).
//! - [`temp_path`]: the unique temporary name used beside a destination, for callers that build
//!   a whole directory before renaming it into place.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("durable-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! durable::write_atomic(&dir.join("latest"), b"step-000000001000\n").unwrap();
//! assert_eq!(std::fs::read(dir.join("latest")).unwrap(), b"step-000000001000\n");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![deny(missing_docs)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of every temporary name this crate makes: a directory listing can tell leftovers of
/// an interrupted write from real entries.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A name beside `dest` that no other writer uses at the same time: `.tmp-<name>-<pid>-<n>` in
/// `dest`'s directory (`n` counts the calls in this process).
pub fn temp_path(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = format!("{TEMP_PREFIX}{name}-{}-{n}", std::process::id());
    match dest.parent() {
        Some(parent) => parent.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Replaces `path` with `bytes`: written to a temporary file in the same directory, fsynced,
/// renamed over `path`, then the directory fsynced. A reader sees the old file or the new one,
/// never a mix, and after a crash the file is whole (old or new).
///
/// # Errors
/// The first I/O error; the temporary file is removed then, and `path` is unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs directory `dir`, so that renames and removals in it survive a crash. A no-op where
/// directories cannot be opened for syncing (not Unix).
///
/// # Errors
/// If the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("pointer");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["pointer"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_unique_and_marked() {
        let a = temp_path(Path::new("/x/best"));
        let b = temp_path(Path::new("/x/best"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x")));
        assert!(a.file_name().unwrap().to_string_lossy().starts_with(".tmp-best-"));
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = scratch("fail");
        let path = dir.join("file");
        write_atomic(&path, b"old").unwrap();
        // A directory in the way: the rename fails, the old file stays.
        let blocked = dir.join("sub");
        fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(
            fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
