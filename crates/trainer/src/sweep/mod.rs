//! `cluster-rl sweep`: many training runs of one experiment — a grid of settings × training
//! seeds — planned into a directory, run locally or as a Slurm job array, resumed after
//! interruptions, and summarised over seeds with bootstrap confidence intervals.
//!
//! # Brief overview
//! - [`file`]: the sweep file (`[sweep]`, `[grid]`, `[zip]`, `[resources]`), strict like an
//!   experiment file, and its expansion into configurations × seeds.
//! - [`plan`]: `sweep plan`: `DIR/sweep.json` (the sweep, resolved) and one directory per run
//!   with its resolved `experiment.toml`.
//! - [`state`]: each run's `state.json` (pending, training, interrupted, evaluating, done,
//!   failed; attempts; last error; timestamps) and the lock that keeps a run to one process.
//! - [`run_one`]: one run = `train` (resuming from its checkpoint if it has one) + `eval` on the
//!   held-out seeds; the hidden `sweep run-one DIR INDEX` that both backends call.
//! - [`local`]: `sweep run --backend local`: a pool of `run-one` child processes.
//! - [`slurm`]: `sweep run --backend slurm`: `DIR/sweep.sbatch` (a job array whose tasks requeue
//!   themselves after a checkpoint-and-exit), submission, polling, the jobcomp log.
//! - [`status`]: `sweep status`: a table of the runs' state files.
//! - [`report`]: `sweep report`: per configuration, the learned policy's held-out mean JCT over
//!   training seeds (mean, median, IQM with stratified-bootstrap CIs), paired differences to
//!   least-loaded and the best heuristic, the probability of improvement, figures.
//!
//! A sweep directory:
//!
//! | path | what |
//! |---|---|
//! | `sweep.json` | [`plan::Plan`]: the sweep file resolved: configurations, runs, resources |
//! | `sweep.sbatch` | the Slurm batch script (`sbatch DIR/sweep.sbatch` works by hand) |
//! | `slurm.json` | the array jobs submitted by `sweep run --backend slurm` |
//! | `logs/<run>.log`, `logs/<job>_<task>.out` | each run's output (local; Slurm) |
//! | `runs/<run>/experiment.toml` | the run's resolved experiment |
//! | `runs/<run>/state.json` | [`state::RunState`] |
//! | `runs/<run>/checkpoints/<experiment>/` | its checkpoints (`latest`, `best`, `step-*`) |
//! | `runs/<run>/tensorboard/<experiment>/run-1/` | its TensorBoard events (`tensorboard --logdir DIR`) |
//! | `runs/<run>/eval/` | `cluster-rl eval` of its best checkpoint (`report.json`, …) |
//! | `report/` | `sweep report`'s output (`report.{md,json,csv}`, `seeds.csv`, `*.svg`) |

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};

pub mod file;
pub mod local;
pub mod plan;
pub mod report;
pub mod run_one;
pub mod slurm;
pub mod state;
pub mod status;

/// `cluster-rl sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// What to do with the sweep.
    #[command(subcommand)]
    pub command: SweepCommand,
}

/// The `sweep` subcommands.
#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Expand a sweep file into DIR: sweep.json and one experiment per run.
    Plan(PlanArgs),
    /// Run every run of DIR that is not done (train, resuming from a checkpoint, then eval).
    Run(RunArgs),
    /// Run one run of DIR (what each backend's worker calls; exit 75 = checkpointed, resume me).
    #[command(hide = true)]
    RunOne(RunOneArgs),
    /// A table of the runs of DIR and their states.
    Status(StatusArgs),
    /// Aggregate the held-out results of DIR over training seeds: Markdown, JSON, CSV, SVG.
    Report(ReportArgs),
}

/// `cluster-rl sweep plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    /// The sweep directory to create (or to check: planning again into it must give the same
    /// sweep, or the same sweep with more seeds, whose runs are then appended).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print the runs (id, configuration, seed) without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// Where `sweep run` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Child processes on this machine (`--jobs` at a time).
    Local,
    /// A Slurm job array submitted with sbatch.
    Slurm,
}

/// `cluster-rl sweep run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The sweep directory (`sweep plan --dir`).
    pub dir: PathBuf,
    /// Runs at once (local backend).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backend::Local)]
    pub backend: Backend,
    /// Slurm: wait until the array has left the queue, then check every run's state.
    #[arg(long)]
    pub wait: bool,
    /// Slurm, with --wait: the jobcomp/filetxt log to read each task's final JobState and
    /// ExitCode from.
    #[arg(long, value_name = "FILE")]
    pub jobcomp: Option<PathBuf>,
    /// Slurm, with --wait: seconds between two `squeue` polls.
    #[arg(long, default_value_t = 5.0)]
    pub poll_seconds: f64,
}

/// `cluster-rl sweep run-one`.
#[derive(Debug, Args)]
pub struct RunOneArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// The run's index in sweep.json (the Slurm array task id).
    pub index: usize,
}

/// `cluster-rl sweep status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The sweep directory.
    pub dir: PathBuf,
}

/// `cluster-rl sweep report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Output directory (default: DIR/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `cluster-rl sweep …`.
///
/// # Errors
/// Bad sweep files or directories, failed runs' errors (run-one), I/O failures.
pub fn run(args: &SweepArgs) -> Result<ExitCode> {
    match &args.command {
        SweepCommand::Plan(a) => plan::run(a),
        SweepCommand::Run(a) => {
            if a.jobs == 0 {
                bail!("--jobs: must be at least 1");
            }
            let plan = plan::Plan::load(&a.dir)?;
            match a.backend {
                Backend::Local => local::run(&a.dir, &plan, a.jobs),
                Backend::Slurm => slurm::run(&a.dir, &plan, a),
            }
        }
        SweepCommand::RunOne(a) => run_one::run(&a.dir, a.index),
        SweepCommand::Status(a) => status::run(&a.dir),
        SweepCommand::Report(a) => report::run(&a.dir, a.out.as_deref()),
    }
}
