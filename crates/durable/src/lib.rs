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
//! - [`replace_dir`]: put a directory built under a [`temp_path`] in place of an existing one, so
//!   that at every instant, crash or not, the destination is a whole directory (old or new);
//!   [`recover_dir`] finishes what a crash interrupted on systems without an atomic exchange,
//!   and [`remove_stale_temps`] clears the temporaries of writers that ended.
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

/// Prefix of the name an old directory waits under while [`replace_dir`] moves the new one in,
/// where the two cannot be exchanged atomically (`.old-<name>` beside it). Unlike
/// [`TEMP_PREFIX`] leftovers, such a directory may be the only whole copy after a crash: give it
/// to [`recover_dir`], never delete it.
pub const ASIDE_PREFIX: &str = ".old-";

/// The name the old `dest` waits under during the fallback of [`replace_dir`].
pub fn aside_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map_or_else(|| "dir".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!("{ASIDE_PREFIX}{name}"))
}

/// How [`replace_dir_observed`] swaps an existing destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// One atomic `renameat2(RENAME_EXCHANGE)` where the system and file system support it
    /// (Linux), else the fallback.
    IfSupported,
    /// Always the portable fallback: the old directory is renamed aside, then the new one in.
    Never,
}

/// A step of [`replace_dir_observed`], reported right after it is durable (the parent directory
/// fsynced): what a crash at that instant leaves on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceStep {
    /// `dest` and the staged directory were exchanged: `dest` is the new directory, the staged
    /// name holds the old one, which is removed next.
    Exchanged,
    /// Fallback: the old `dest` is at [`aside_path`] and `dest` does not exist;
    /// [`recover_dir`] renames it back.
    MovedAside,
    /// The staged directory is `dest` now (by a plain rename: `dest` did not exist, or the
    /// fallback moved it aside, and then the old copy is still at [`aside_path`]).
    RenamedIn,
}

/// Replaces directory `dest` with the complete directory `staged` (built beside it, e.g. at
/// [`temp_path`]`(dest)`, with its files fsynced), or renames `staged` to `dest` if there is no
/// `dest` yet. A reader, or a restart after a crash, finds `dest` whole: the old one or the new
/// one. The old directory is deleted afterwards.
///
/// On Linux this is one `renameat2(RENAME_EXCHANGE)`, so `dest` exists at every instant. Where
/// that is unavailable (other systems, file systems without it) the old `dest` is renamed to
/// [`aside_path`] first and the new one renamed in after; a crash in between leaves no `dest`
/// but a whole copy aside, which [`recover_dir`] (run before any cleanup of leftovers) puts back.
///
/// # Errors
/// The first I/O error. One before the swap leaves `dest` as it was and `staged` for the caller
/// to remove; a failed fsync after it leaves the new `dest` in place.
pub fn replace_dir(staged: &Path, dest: &Path) -> io::Result<()> {
    replace_dir_observed(staged, dest, Exchange::IfSupported, &mut |_| {})
}

/// [`replace_dir`], choosing how to exchange and calling `observe` after each durable step
/// (fault-injection tests stop the process there to check what a crash leaves).
///
/// # Errors
/// As [`replace_dir`].
pub fn replace_dir_observed(
    staged: &Path,
    dest: &Path,
    exchange: Exchange,
    observe: &mut dyn FnMut(ReplaceStep),
) -> io::Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // An earlier replacement of `dest` that a crash interrupted: make `dest` whole first.
    recover_dir(dest)?;
    if !present(dest) {
        fs::rename(staged, dest)?;
        sync_dir(parent)?;
        observe(ReplaceStep::RenamedIn);
        return Ok(());
    }
    if exchange == Exchange::IfSupported {
        match rename_exchange(staged, dest) {
            Ok(()) => {
                sync_dir(parent)?;
                observe(ReplaceStep::Exchanged);
                // The staged name now holds the old directory. Failing to delete it does not
                // undo the replacement: it stays as a temporary leftover for the caller's cleanup.
                let _ = fs::remove_dir_all(staged);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(e) => return Err(e),
        }
    }
    let aside = aside_path(dest);
    fs::rename(dest, &aside)?;
    sync_dir(parent)?;
    observe(ReplaceStep::MovedAside);
    if let Err(e) = fs::rename(staged, dest) {
        // Put the old directory back, so that `dest` is the old one as documented.
        let _ = fs::rename(&aside, dest);
        let _ = sync_dir(parent);
        return Err(e);
    }
    sync_dir(parent)?;
    observe(ReplaceStep::RenamedIn);
    let _ = fs::remove_dir_all(&aside);
    Ok(())
}

/// Completes a [`replace_dir`] of `dest` that a crash interrupted in its fallback: if `dest` is
/// missing but [`aside_path`]`(dest)` exists, that (whole, old) directory is renamed back to
/// `dest`; if both exist, the new `dest` was already in place and the old copy is removed.
/// Returns whether anything was found to recover. Run it before deleting [`TEMP_PREFIX`]
/// leftovers, and only where no other process is replacing `dest`.
///
/// # Errors
/// If the rename or the removal fails.
pub fn recover_dir(dest: &Path) -> io::Result<bool> {
    let aside = aside_path(dest);
    if !present(&aside) {
        return Ok(false);
    }
    if present(dest) {
        fs::remove_dir_all(&aside)?;
    } else {
        fs::rename(&aside, dest)?;
        sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(true)
}

/// Removes what interrupted writers of `dest` left beside it: the entries named
/// `.tmp-<dest's name>-<pid>-<n>` ([`temp_path`]) of processes that no longer run. Entries of
/// this process and of running ones are kept (they may be writing now); where it cannot tell
/// whether a process runs (not Linux), it removes nothing. Returns how many were removed.
/// [`ASIDE_PREFIX`] copies are not touched: run [`recover_dir`] for those.
///
/// # Errors
/// If the directory cannot be listed or a leftover cannot be removed.
pub fn remove_stale_temps(dest: &Path) -> io::Result<usize> {
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Ok(0) };
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let prefix = format!("{TEMP_PREFIX}{name}-");
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // Exactly `<pid>-<n>` after the prefix: `.tmp-export-2-7-0` belongs to `export-2`.
        let Some((pid, n)) = file_name.strip_prefix(&prefix).and_then(|rest| rest.split_once('-')) else { continue };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), n.parse::<u64>()) else { continue };
        if pid == std::process::id() || !process_gone(pid) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?
        } else {
            fs::remove_file(&path)?
        }
        removed += 1;
    }
    if removed > 0 {
        sync_dir(parent)?;
    }
    Ok(removed)
}

/// Whether process `pid` is known to have ended.
fn process_gone(pid: u32) -> bool {
    if cfg!(target_os = "linux") { !Path::new(&format!("/proc/{pid}")).exists() } else { false }
}

/// Whether `path` names a directory entry (a dangling symlink counts).
fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Exchanges the directory entries `a` and `b` atomically (both must exist). An
/// [`io::ErrorKind::Unsupported`] error where the system or the file system cannot.
#[cfg(target_os = "linux")]
fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated strings that outlive the call; AT_FDCWD resolves
    // relative paths as rename(2) does.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // EINVAL: the file system does not support the flag; ENOSYS: a kernel before 3.15 (or a
    // sandbox without the call).
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Err(io::Error::new(io::ErrorKind::Unsupported, e)),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "no atomic directory exchange on this system"))
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
    fn stale_temporaries_of_ended_processes_are_removed_others_kept() {
        let dir = scratch("stale");
        let dest = dir.join("export");
        // pid 4194304 is above Linux's pid_max limit (2^22): never a running process.
        let dead = dir.join(format!("{TEMP_PREFIX}export-4194304-0"));
        let mine = temp_path(&dest);
        let other = dir.join(format!("{TEMP_PREFIX}export-2-4194304-0")); // belongs to `export-2`
        for d in [&dead, &mine, &other] {
            fs::create_dir_all(d.join("inner")).unwrap();
        }
        assert_eq!(remove_stale_temps(&dest).unwrap(), 1);
        assert!(!dead.exists() && mine.exists() && other.exists());
        fs::remove_dir_all(&dir).unwrap();
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

    /// A directory holding one file `id` with `text`.
    fn make(dir: &Path, text: &str) {
        fs::create_dir_all(dir).unwrap();
        write_atomic(&dir.join("id"), text.as_bytes()).unwrap();
    }

    fn id(dir: &Path) -> String {
        fs::read_to_string(dir.join("id")).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn replace_dir_puts_the_new_directory_in_place_and_leaves_nothing_else() {
        for exchange in [Exchange::IfSupported, Exchange::Never] {
            let dir = scratch(&format!("replace-dir-{exchange:?}"));
            let dest = dir.join("best");
            let staged = temp_path(&dest);
            make(&staged, "first");
            replace_dir_observed(&staged, &dest, exchange, &mut |_| {}).unwrap();
            assert_eq!(id(&dest), "first");
            let staged = temp_path(&dest);
            make(&staged, "second");
            replace_dir_observed(&staged, &dest, exchange, &mut |_| {}).unwrap();
            assert_eq!(id(&dest), "second");
            assert_eq!(names(&dir), ["best"], "{exchange:?}");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// A crash right after each step (here a panic out of the observer, which leaves the disk
    /// exactly as the step did) leaves a whole `dest` — at once with the exchange, after
    /// [`recover_dir`] with the fallback — holding the old or the new directory, and the
    /// leftovers are only temporaries.
    #[test]
    fn a_crash_at_any_step_leaves_a_whole_directory() {
        let cases = [
            (Exchange::IfSupported, ReplaceStep::Exchanged, "new"),
            (Exchange::Never, ReplaceStep::MovedAside, "old"),
            (Exchange::Never, ReplaceStep::RenamedIn, "new"),
        ];
        for (exchange, crash_at, expected) in cases {
            let dir = scratch(&format!("crash-{crash_at:?}"));
            let dest = dir.join("best");
            make(&dest, "old");
            let staged = temp_path(&dest);
            make(&staged, "new");
            let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                replace_dir_observed(&staged, &dest, exchange, &mut |step| {
                    if step == crash_at {
                        panic!("crash at {step:?}");
                    }
                })
            }));
            if crash_at == ReplaceStep::Exchanged && crashed.as_ref().is_ok_and(Result::is_ok) {
                // No RENAME_EXCHANGE on this file system: the fallback ran to the end.
                assert_eq!(id(&dest), "new");
                fs::remove_dir_all(&dir).unwrap();
                continue;
            }
            assert!(crashed.is_err(), "{crash_at:?} was never reached");
            if exchange == Exchange::IfSupported {
                assert_eq!(id(&dest), expected, "the exchange leaves dest whole at every instant");
            }
            recover_dir(&dest).unwrap();
            assert_eq!(id(&dest), expected, "{crash_at:?}");
            assert!(!aside_path(&dest).exists());
            // What remains besides `dest` is a temporary that a cleanup may delete.
            for name in names(&dir) {
                assert!(name == "best" || name.starts_with(TEMP_PREFIX), "{crash_at:?}: {name}");
            }
            // The next replacement works from this state.
            let again = temp_path(&dest);
            make(&again, "next");
            replace_dir_observed(&again, &dest, exchange, &mut |_| {}).unwrap();
            assert_eq!(id(&dest), "next");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn recover_dir_puts_the_old_copy_back_or_drops_it() {
        let dir = scratch("recover");
        let dest = dir.join("best");
        assert!(!recover_dir(&dest).unwrap(), "nothing to recover");
        make(&aside_path(&dest), "old");
        assert!(recover_dir(&dest).unwrap());
        assert_eq!(id(&dest), "old");
        make(&aside_path(&dest), "older");
        assert!(recover_dir(&dest).unwrap());
        assert_eq!(id(&dest), "old", "a whole dest wins over its aside copy");
        assert_eq!(names(&dir), ["best"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
