//! A run's `state.json`, written only by the run itself (`sweep run-one`, under the run's lock)
//! and by `sweep plan` (the first `pending` state), always with [`durable::write_atomic`]: a
//! reader sees the old state or the new one, and a killed run leaves a whole file.
//!
//! A run that was killed outright (SIGKILL, a node failure) stays `training` or `evaluating` in
//! its file; [`is_running`] tells such a stale state from a live one on the same machine by
//! its lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// A run's state in its directory.
pub const STATE_FILE: &str = "state.json";
/// The lock file a running `run-one` holds (an advisory `flock`, released when it exits).
pub const LOCK_FILE: &str = "lock";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Planned, never started.
    Pending,
    /// Training (or killed while training: see [`is_running`]).
    Training,
    /// Stopped by SIGUSR1/SIGTERM/Ctrl-C after writing a checkpoint: the next attempt resumes.
    Interrupted,
    /// Trained; evaluating on the held-out seeds.
    Evaluating,
    /// Trained and evaluated: never run again.
    Done,
    /// The last attempt failed (see `last_error`); the next attempt resumes from the checkpoint.
    Failed,
}

impl Status {
    /// The word used in `state.json` and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Training => "training",
            Status::Interrupted => "interrupted",
            Status::Evaluating => "evaluating",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }
}

/// One attempt at a run (one `run-one` process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// UTC start time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_at: String,
    /// UTC end time; absent while it runs (or if it was killed).
    pub ended_at: Option<String>,
    /// The machine it ran on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The Slurm array task (`<array job>_<task>`, restart count) if it ran under Slurm.
    pub slurm: Option<String>,
    /// The checkpoint step it resumed from; absent when it started from scratch.
    pub resumed_from_step: Option<u64>,
    /// How it ended: `done`, `interrupted at step N`, `failed: …`.
    pub outcome: Option<String>,
}

/// `runs/<id>/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunState {
    /// The run's id (`c<i>-s<seed>`).
    pub id: String,
    /// Where it stands.
    pub status: Status,
    /// Attempts started so far.
    pub attempts: u32,
    /// Training reached its last step (a later attempt only evaluates).
    pub trained: bool,
    /// The last attempt's error, when it failed or was interrupted.
    pub last_error: Option<String>,
    /// The last attempt's exit code (0 done, 75 checkpointed, 130 Ctrl-C, 2 failed).
    pub last_exit_code: Option<i32>,
    /// When it was planned (UTC).
    pub created_at: String,
    /// When the first attempt started.
    pub started_at: Option<String>,
    /// When this file was last written.
    pub updated_at: String,
    /// When it became done.
    pub finished_at: Option<String>,
    /// Every attempt, oldest first.
    pub history: Vec<Attempt>,
}

impl RunState {
    /// A pending run.
    pub fn new(id: &str) -> Self {
        let now = utc_now();
        Self {
            id: id.to_string(),
            status: Status::Pending,
            attempts: 0,
            trained: false,
            last_error: None,
            last_exit_code: None,
            created_at: now.clone(),
            started_at: None,
            updated_at: now,
            finished_at: None,
            history: Vec::new(),
        }
    }

    /// Reads `run_dir/state.json`.
    ///
    /// # Errors
    /// A missing or corrupt file.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}: corrupt run state", path.display()))
    }

    /// Writes `run_dir/state.json` atomically, stamping `updated_at`.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save(&mut self, run_dir: &Path) -> Result<()> {
        self.updated_at = utc_now();
        let path = run_dir.join(STATE_FILE);
        let text = serde_json::to_string_pretty(self)? + "\n";
        durable::write_atomic(&path, text.as_bytes()).with_context(|| format!("{}: cannot write", path.display()))
    }

    /// Starts attempt `attempts + 1`.
    pub fn begin_attempt(&mut self, resumed_from_step: Option<u64>) {
        self.attempts += 1;
        let now = utc_now();
        self.started_at.get_or_insert_with(|| now.clone());
        let slurm = std::env::var("SLURM_ARRAY_JOB_ID").ok().map(|job| {
            let task = std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_default();
            let restart = std::env::var("SLURM_RESTART_COUNT").unwrap_or_else(|_| "0".into());
            format!("{job}_{task} (restart {restart})")
        });
        self.history.push(Attempt {
            number: self.attempts,
            started_at: now,
            ended_at: None,
            host: hostname(),
            pid: std::process::id(),
            slurm,
            resumed_from_step,
            outcome: None,
        });
    }

    /// Ends the current attempt with `status`, its exit code and what happened.
    pub fn end_attempt(&mut self, status: Status, exit_code: i32, outcome: String, error: Option<String>) {
        let now = utc_now();
        self.status = status;
        self.last_exit_code = Some(exit_code);
        self.last_error = error;
        if status == Status::Done {
            self.finished_at = Some(now.clone());
        }
        if let Some(a) = self.history.last_mut() {
            a.ended_at = Some(now);
            a.outcome = Some(outcome);
        }
    }
}

/// The machine's host name (for the attempt history).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The run's lock, held for as long as the value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn open_lock(run_dir: &Path) -> Result<File> {
    let path = run_dir.join(LOCK_FILE);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("{}: cannot open", path.display()))
}

/// Takes the run's lock, so that two processes never run the same run at once (two backends,
/// or a manual `sbatch` next to `sweep run`).
///
/// # Errors
/// The lock is held by another process, or the file cannot be opened.
pub fn lock(run_dir: &Path, id: &str) -> Result<RunLock> {
    let file = open_lock(run_dir)?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => {
            bail!("run {id} is already running in another process (it holds {})", run_dir.join(LOCK_FILE).display())
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("{}: cannot lock", run_dir.join(LOCK_FILE).display()))
        }
    }
}

/// Whether a process (on this machine, or one sharing the file system's locks) runs the run now.
pub fn is_running(run_dir: &Path) -> bool {
    match open_lock(run_dir) {
        Ok(f) => matches!(f.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// The current time in UTC as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `secs` since the Unix epoch in UTC as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic
/// Gregorian calendar).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn states_round_trip_and_the_lock_is_exclusive() {
        let dir = std::env::temp_dir().join(format!("cluster-rl-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RunState::new("c0-s1");
        s.begin_attempt(Some(500));
        s.end_attempt(Status::Interrupted, 75, "interrupted at step 700".into(), Some("SIGUSR1".into()));
        s.save(&dir).unwrap();
        let back = RunState::load(&dir).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.history[0].resumed_from_step, Some(500));
        let text = std::fs::read_to_string(dir.join(STATE_FILE)).unwrap();
        assert!(text.contains("\"status\": \"interrupted\""), "{text}");

        assert!(!is_running(&dir));
        let held = lock(&dir, "c0-s1").unwrap();
        assert!(is_running(&dir));
        let err = format!("{:#}", lock(&dir, "c0-s1").unwrap_err());
        assert!(err.contains("run c0-s1 is already running"), "{err}");
        drop(held);
        assert!(!is_running(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
