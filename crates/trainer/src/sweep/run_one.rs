//! `cluster-rl sweep run-one DIR INDEX`: one run of a sweep, the only code either backend runs.
//!
//! 1. Take the run's lock (one process per run), read its state: a `done` run exits 0 at once.
//! 2. Train its experiment (`cluster-rl train --quiet`), with `--resume` when its checkpoint
//!    directory has a `latest` checkpoint: a run never starts over once it has one.
//! 3. Evaluate its best checkpoint on the held-out seeds into `runs/<id>/eval/`
//!    (`cluster-rl eval`, the experiment's episodes and baselines).
//!
//! Each step is recorded in `state.json`. Exit codes: 0 done; [`EXIT_RESUME`] (75) training
//! checkpointed on SIGUSR1/SIGTERM and stopped, resume it; [`EXIT_INTERRUPTED`] (130) likewise
//! on Ctrl-C; 2 failed (the error is printed and kept as `last_error`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};

use super::plan::{EXPERIMENT_FILE, Plan};
use super::state::{self, RunState, Status};
use crate::args::{EvalArgs, TrainArgs};
use crate::checkpoint::{self, BEST, Checkpoints};
use crate::config;
use crate::signals::{self, EXIT_INTERRUPTED, EXIT_RESUME};

/// The step of the newest checkpoint under `root`, if it has one.
///
/// # Errors
/// A `latest` pointer that names a missing or unreadable checkpoint.
pub fn latest_step(root: &Path) -> Result<Option<u64>> {
    match Checkpoints::new(root.to_path_buf(), 1).latest()? {
        Some(dir) => Ok(Some(checkpoint::load_state(&dir)?.global_step)),
        None => Ok(None),
    }
}

/// Clears the checkpoint directory `root` of a run that has no step checkpoint to resume from
/// but left a `best/` (it was stopped after a validation and before its first step
/// checkpoint): `train` refuses to start over on top of it, and there is nothing to resume, so
/// the sweep, which owns the directory, starts the run again from zero. A directory with a
/// `step-*` checkpoint is never cleared. Returns whether anything was removed.
///
/// # Errors
/// If the directory cannot be listed or removed.
pub fn clear_unresumable(root: &Path) -> Result<bool> {
    if latest_step(root)?.is_some() || !root.is_dir() {
        return Ok(false);
    }
    let names: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("{}: cannot list", root.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // A complete step checkpoint without a `latest` pointer (a crash between the two) is
    // progress: keep it, and let `train` report it.
    if names.iter().any(|n| n.starts_with("step-")) {
        return Ok(false);
    }
    let any = !names.is_empty();
    if any {
        std::fs::remove_dir_all(root).with_context(|| format!("{}: cannot remove", root.display()))?;
    }
    Ok(any)
}

/// The checkpoint directory of the run whose resolved experiment is `run_dir/experiment.toml`.
///
/// # Errors
/// A missing or invalid experiment file.
pub fn checkpoint_root(run_dir: &Path) -> Result<PathBuf> {
    let exp = config::load(&run_dir.join(EXPERIMENT_FILE), &[])?;
    Ok(Path::new(&exp.logging.checkpoint_dir).join(&exp.experiment.name))
}

/// `cluster-rl sweep run-one`.
///
/// # Errors
/// A bad sweep directory or index, a run held by another process, or the run's own failure
/// (recorded in its `state.json` first).
pub fn run(dir: &Path, index: usize) -> Result<ExitCode> {
    // First of all, so that a SIGUSR1/SIGTERM that arrives while the run is loading is
    // remembered (training then checkpoints and exits 75 at its first step) instead of
    // killing the process.
    if let Err(e) = signals::install() {
        eprintln!("cluster-rl: warning: cannot catch SIGUSR1/SIGTERM: {e}");
    }
    let plan = Plan::load(dir)?;
    let run = plan.run(index)?;
    let run_dir = Plan::run_dir(dir, run);
    let _lock = state::lock(&run_dir, &run.id)?;
    let mut st = match RunState::load(&run_dir) {
        Ok(st) => st,
        Err(_) if !run_dir.join(state::STATE_FILE).exists() => RunState::new(&run.id),
        Err(e) => return Err(e),
    };
    if st.status == Status::Done {
        eprintln!("sweep {}: run {} is done; nothing to do", plan.name, run.id);
        return Ok(ExitCode::SUCCESS);
    }
    let root = checkpoint_root(&run_dir)?;
    let resume_from = if st.trained { None } else { latest_step(&root)? };
    st.begin_attempt(resume_from);
    st.status = if st.trained { Status::Evaluating } else { Status::Training };
    st.save(&run_dir)?;
    let configuration = &plan.configurations[run.configuration];
    eprintln!(
        "sweep {}: run {} (index {index}; {}; seed {}), attempt {}{}",
        plan.name,
        run.id,
        if configuration.sets.is_empty() { "base".to_string() } else { configuration.sets.join(", ") },
        run.seed,
        st.attempts,
        match (st.trained, resume_from) {
            (true, _) => ": trained, evaluating".to_string(),
            (false, Some(step)) => format!(": resuming from its checkpoint at step {step}"),
            (false, None) => String::new(),
        }
    );

    match attempt(&run_dir, &root, &mut st) {
        Ok(code) => Ok(code),
        Err(e) => {
            let message = format!("{e:#}");
            st.end_attempt(Status::Failed, 2, format!("failed: {message}"), Some(message));
            st.save(&run_dir)?;
            Err(e.context(format!("sweep {}: run {} failed", plan.name, run.id)))
        }
    }
}

/// Trains (unless trained) and evaluates, recording each step in `st`.
fn attempt(run_dir: &Path, root: &Path, st: &mut RunState) -> Result<ExitCode> {
    if !st.trained {
        if clear_unresumable(root)? {
            eprintln!(
                "sweep: {} had a best/ but no step checkpoint to resume from: training starts again from zero",
                root.display()
            );
        }
        let args = TrainArgs {
            config: run_dir.join(EXPERIMENT_FILE),
            sets: Vec::new(),
            resume: latest_step(root)?.is_some(),
            dry_run: false,
            quiet: true,
        };
        let code = crate::train::run(&args)?;
        for (stopped, why) in [(EXIT_RESUME, signals::received().unwrap_or("a signal")), (EXIT_INTERRUPTED, "Ctrl-C")] {
            if code == ExitCode::from(stopped) {
                let step = latest_step(root)?.map_or_else(|| "?".to_string(), |s| s.to_string());
                let outcome = format!("interrupted by {why} at step {step}, checkpointed");
                st.end_attempt(Status::Interrupted, i32::from(stopped), outcome.clone(), Some(outcome));
                st.save(run_dir)?;
                return Ok(code);
            }
        }
        if code != ExitCode::SUCCESS {
            return Err(anyhow!("training ended with an unexpected exit code ({code:?})"));
        }
        st.trained = true;
        st.status = Status::Evaluating;
        st.save(run_dir)?;
    }
    // The best validation checkpoint, as the README evaluates shipped policies.
    let best = root.join(BEST);
    let checkpoint = if best.is_dir() { best } else { root.to_path_buf() };
    crate::eval::run_eval(&EvalArgs {
        checkpoint,
        episodes: None,
        baselines: None,
        out: run_dir.join("eval"),
        scenario: None,
        sets: vec![],
        action_filter: None,
    })
    .context("evaluation")?;
    st.end_attempt(Status::Done, 0, "done".into(), None);
    st.save(run_dir)?;
    eprintln!("run {} done: {}", st.id, run_dir.join("eval/report.json").display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_without_a_step_checkpoint_is_cleared() {
        let root = std::env::temp_dir().join(format!("cluster-rl-unresumable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(!clear_unresumable(&root).unwrap(), "no directory: nothing to do");
        std::fs::create_dir_all(root.join(BEST)).unwrap();
        std::fs::write(root.join(BEST).join("agent.json"), "{}").unwrap();
        assert!(clear_unresumable(&root).unwrap());
        assert!(!root.exists());
        // A step checkpoint without `latest` is kept.
        std::fs::create_dir_all(root.join("step-000000001000")).unwrap();
        assert!(!clear_unresumable(&root).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
        // A `latest` pointer that names a missing checkpoint is an error, never a deletion.
        std::fs::create_dir_all(root.join(BEST)).unwrap();
        std::fs::write(root.join(checkpoint::LATEST), "step-000000001000\n").unwrap();
        assert!(clear_unresumable(&root).is_err());
        assert!(root.join(BEST).exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
