//! `cluster-rl sweep run --backend local`: every unfinished run as a `cluster-rl sweep run-one`
//! child process of this executable, `--jobs` at a time, each writing to `DIR/logs/<run>.log`
//! (appended across attempts).
//!
//! Stopping the pool: on SIGINT (Ctrl-C) or SIGTERM the pool starts no further run, passes the
//! signal on to every running child (a terminal's Ctrl-C reaches them anyway, being one process
//! group; `kill <pid>` of the pool alone, a `timeout`, or a pool started in the background with
//! SIGINT ignored would not), waits while each checkpoints and stops, lists what is left and
//! exits 128 + the signal's number. The next `sweep run` resumes them.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::plan::Plan;
use super::state::{RunState, Status};

/// Exit code of `sweep run` when some runs did not finish (bad input is 2, as everywhere).
pub const EXIT_UNFINISHED: u8 = 1;

/// The runs of `plan` whose state is not `done`, by index.
///
/// # Errors
/// A corrupt state file.
pub fn unfinished(dir: &Path, plan: &Plan) -> Result<Vec<usize>> {
    let mut todo = Vec::new();
    for (i, run) in plan.runs.iter().enumerate() {
        let run_dir = Plan::run_dir(dir, run);
        let done = run_dir.join(super::state::STATE_FILE).exists() && RunState::load(&run_dir)?.status == Status::Done;
        if !done {
            todo.push(i);
        }
    }
    Ok(todo)
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// Prints which runs are not done (with their last errors) and returns whether all are.
///
/// # Errors
/// A corrupt state file.
pub fn check_all_done(dir: &Path, plan: &Plan, indices: &[usize]) -> Result<bool> {
    let mut missing = Vec::new();
    for &i in indices {
        let run = &plan.runs[i];
        let run_dir = Plan::run_dir(dir, run);
        let st = RunState::load(&run_dir)?;
        if st.status != Status::Done {
            let error = st.last_error.as_deref().unwrap_or("no error recorded");
            missing.push(format!("  {} ({}, {} attempts): {error}", run.id, st.status.as_str(), st.attempts));
        }
    }
    if missing.is_empty() {
        return Ok(true);
    }
    eprintln!("sweep {}: {} of {} runs did not finish:", plan.name, missing.len(), indices.len());
    for m in &missing {
        eprintln!("{m}");
    }
    eprintln!("run `cluster-rl sweep run {}` again to resume them (a run resumes from its checkpoint)", dir.display());
    Ok(false)
}

/// Sends signal `sig` to the child process `pid`.
fn signal_child(pid: u32, sig: i32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other(format!("pid {pid} out of range")))?;
    // SAFETY: kill(2) takes two integers and touches no memory of ours. The pid is one of our
    // own children that has not been waited for, so it cannot have been reused by another
    // process (an exited child stays a zombie, holding its pid, until we reap it).
    if unsafe { libc::kill(pid, sig) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Once the pool's SIGINT/SIGTERM has arrived (`stop`), records it in `stopped_by` and passes it
/// on to every child in `running`, once.
fn notice_stop(stop: &AtomicUsize, stopped_by: &mut usize, running: &[(usize, Child, Instant)], plan: &Plan) {
    let sig = stop.load(Ordering::SeqCst);
    if sig == 0 || *stopped_by != 0 {
        return;
    }
    *stopped_by = sig;
    let name = if sig == SIGINT as usize { "SIGINT" } else { "SIGTERM" };
    println!(
        "sweep {}: {name}: starting no further run; {} running runs checkpoint and stop",
        plan.name,
        running.len()
    );
    for (i, child, _) in running {
        if let Err(e) = signal_child(child.id(), sig as i32) {
            eprintln!("sweep: cannot pass {name} on to {} (pid {}): {e}", plan.runs[*i].id, child.id());
        }
    }
}

/// `cluster-rl sweep run DIR --backend local --jobs N`.
///
/// # Errors
/// The executable or a log file cannot be found or opened, a process cannot be started, or a
/// signal handler cannot be installed.
pub fn run(dir: &Path, plan: &Plan, jobs: usize) -> Result<ExitCode> {
    let todo = unfinished(dir, plan)?;
    if todo.is_empty() {
        println!("sweep {}: all {} runs are done; nothing to run", plan.name, plan.runs.len());
        return Ok(ExitCode::SUCCESS);
    }
    // The number of the SIGINT/SIGTERM that stops the pool, 0 until one arrives. The handler
    // only stores it (async-signal-safe); the loop below acts on it.
    let stop = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), sig as usize)
            .with_context(|| format!("cannot install the handler for signal {sig}"))?;
    }
    let exe = std::env::current_exe().context("cannot locate the cluster-rl executable")?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("{}: cannot create", logs.display()))?;
    // Share the cores between the children (results do not depend on the thread count).
    let threads = std::env::var("RAYON_NUM_THREADS").ok().unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / jobs.min(todo.len())).max(1).to_string()
    });
    println!(
        "sweep {}: {} of {} runs to do, {jobs} at a time; logs in {}",
        plan.name,
        todo.len(),
        plan.runs.len(),
        logs.display()
    );

    let mut queue: VecDeque<usize> = todo.iter().copied().collect();
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut stopped_by = 0;
    while (stopped_by == 0 && !queue.is_empty()) || !running.is_empty() {
        notice_stop(&stop, &mut stopped_by, &running, plan);
        while stopped_by == 0
            && running.len() < jobs
            && let Some(i) = queue.pop_front()
        {
            let run = &plan.runs[i];
            let log_path = logs.join(format!("{}.log", run.id));
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("{}: cannot open", log_path.display()))?;
            let child = Command::new(&exe)
                .args(["sweep", "run-one"])
                .arg(dir)
                .arg(i.to_string())
                .env("RAYON_NUM_THREADS", &threads)
                .stdin(Stdio::null())
                .stdout(log.try_clone().with_context(|| format!("{}: cannot open", log_path.display()))?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {} sweep run-one", exe.display()))?;
            println!("{}: started (pid {})", run.id, child.id());
            running.push((i, child, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(100));
        // Again before reaping: a run that stopped on the same Ctrl-C is still ours (a zombie),
        // so it is counted and told like the others.
        notice_stop(&stop, &mut stopped_by, &running, plan);
        let mut k = 0;
        while k < running.len() {
            let (i, child, started) = &mut running[k];
            match child.try_wait().context("waiting for a run")? {
                Some(status) => {
                    let run = &plan.runs[*i];
                    let secs = started.elapsed().as_secs_f64();
                    if status.success() {
                        println!("{}: done ({secs:.1} s)", run.id);
                    } else {
                        println!(
                            "{}: {} after {secs:.1} s; see {}",
                            run.id,
                            describe(status),
                            logs.join(format!("{}.log", run.id)).display()
                        );
                    }
                    running.swap_remove(k);
                }
                None => k += 1,
            }
        }
    }
    if check_all_done(dir, plan, &todo)? {
        println!("sweep {}: all {} runs are done", plan.name, plan.runs.len());
        Ok(ExitCode::SUCCESS)
    } else if stopped_by != 0 {
        // As a shell reports a process that a signal stopped: 130 for SIGINT, 143 for SIGTERM.
        Ok(ExitCode::from(128 + u8::try_from(stopped_by).unwrap_or(0)))
    } else {
        Ok(ExitCode::from(EXIT_UNFINISHED))
    }
}
