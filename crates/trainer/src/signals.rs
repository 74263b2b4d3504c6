//! SIGUSR1 and SIGTERM: "checkpoint and exit, resume me later".
//!
//! Batch schedulers warn a job before its time limit (Slurm's `--signal=B:USR1@<s>`), and send
//! SIGTERM when they preempt, requeue or cancel it. `cluster-rl train` checks
//! [`received`] after every vector step, like its Ctrl-C flag; when set, it writes a checkpoint
//! and exits with [`EXIT_RESUME`], which tells a batch script to requeue the run (see
//! `sweep::slurm`), where `--resume` continues from that checkpoint.
//!
//! The handlers only store the signal's number (`signal_hook::flag`), so they are
//! async-signal-safe. They are installed once per process, as early as a caller likes: `sweep
//! run-one` installs them before it loads anything, so a signal that arrives before training
//! starts is remembered instead of killing the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGTERM, SIGUSR1};

/// Exit code of a run that checkpointed on SIGUSR1/SIGTERM and wants to be resumed:
/// `EX_TEMPFAIL` of sysexits.h ("temporary failure; the user is invited to retry").
pub const EXIT_RESUME: u8 = 75;

/// Exit code of a run stopped by Ctrl-C (SIGINT) after checkpointing: 128 + 2, as a shell
/// reports a process killed by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The last signal received, 0 for none.
static LAST: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Installs the SIGUSR1 and SIGTERM handlers (once per process; later calls do nothing).
///
/// # Errors
/// If the operating system refuses a handler.
pub fn install() -> std::io::Result<()> {
    if LAST.get().is_some() {
        return Ok(());
    }
    let last = Arc::new(AtomicUsize::new(0));
    for sig in [SIGUSR1, SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(&last), sig as usize)?;
    }
    let _ = LAST.set(last);
    Ok(())
}

/// The name of the last SIGUSR1/SIGTERM received since [`install`], if any.
pub fn received() -> Option<&'static str> {
    match LAST.get()?.load(Ordering::SeqCst) {
        0 => None,
        s if s == SIGUSR1 as usize => Some("SIGUSR1"),
        _ => Some("SIGTERM"),
    }
}
