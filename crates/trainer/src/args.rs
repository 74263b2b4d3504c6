//! Command-line arguments (clap): one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use policy::ActionFilter;

/// cluster-rl: train DQN cluster schedulers from experiment files and compare them with
/// heuristic baselines on held-out seeds.
#[derive(Debug, Parser)]
#[command(name = "cluster-rl", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a DQN agent as an experiment file describes.
    Train(TrainArgs),
    /// Evaluate a trained checkpoint against baselines on held-out seeds.
    Eval(EvalArgs),
    /// Evaluate heuristic baselines alone on a scenario.
    Baselines(BaselinesArgs),
    /// Export a checkpoint's greedy network: policy.safetensors, policy.onnx, policy.json.
    Export(ExportArgs),
    /// Serve decisions of an exported policy as JSON lines on stdin/stdout.
    Infer(InferArgs),
    /// One Markdown results table from several evaluation directories (scenarios as columns).
    Summary(SummaryArgs),
    /// Sweeps: a grid of settings × training seeds, run locally or on Slurm, then a report.
    Sweep(crate::sweep::SweepArgs),
}

/// `cluster-rl train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The experiment file (TOML).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Override a value of the file: `--set agent.learning_rate=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue from the experiment's latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Print the fully resolved experiment and exit without training.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar: plain log lines only.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `cluster-rl eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A checkpoint directory, an experiment's checkpoint directory (its `latest` is used), or
    /// a `latest` pointer file.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Held-out episodes (default: the experiment's `evaluation.episodes`).
    #[arg(long)]
    pub episodes: Option<u64>,
    /// Baselines to run beside the agent: `all`, `none` or `a,b,..` (default: the
    /// experiment's `evaluation.baselines`).
    #[arg(long)]
    pub baselines: Option<String>,
    /// Directory for report.json, report.csv, report.md and report.svg.
    #[arg(long, default_value = "eval-report")]
    pub out: PathBuf,
    /// Evaluate on this preset scenario instead of the experiment's (a node-scoring policy on a
    /// cluster of another size: `multi-resource-x4`), on the same held-out seeds (an openb
    /// preset on its test split).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Override a value of the `--scenario` preset: `--set workload.openb.subcluster.k=128`
    /// (repeatable; needs `--scenario`).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "scenario")]
    pub sets: Vec<String>,
    /// Which valid nodes the learned policy chooses among: `fits-now` (only where the task
    /// fits now, when it fits somewhere: the Kubernetes filter step before the network's scores;
    /// needs the observation's packing columns) or `none` (every valid node). Default: the
    /// policy's own (an export's `action_filter`; none for a checkpoint).
    #[arg(long, value_name = "FILTER", value_parser = ActionFilter::from_name)]
    pub action_filter: Option<ActionFilter>,
}

/// `cluster-rl baselines`.
#[derive(Debug, Args)]
pub struct BaselinesArgs {
    /// Scenario preset name.
    #[arg(long)]
    pub scenario: String,
    /// Held-out episodes.
    #[arg(long, default_value_t = 100)]
    pub episodes: u64,
    /// First held-out seed.
    #[arg(long, default_value_t = 1_000_000)]
    pub seed_offset: u64,
    /// Baselines: `all` or `a,b,..`.
    #[arg(long, default_value = "all")]
    pub baselines: String,
    /// Override a scenario value: `--set workload.n_tasks=200` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Directory for report.json, report.csv, report.md and report.svg.
    #[arg(long, default_value = "baselines-report")]
    pub out: PathBuf,
}

/// `cluster-rl summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Evaluation directories (`cluster-rl eval --out DIR`), one column each.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Also write the table to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `cluster-rl export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A checkpoint directory, an experiment's checkpoint directory (its `latest` is used), or
    /// a `latest` pointer file.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The export directory to write: created, or an earlier export there replaced whole in
    /// one step (a directory holding other files is refused).
    #[arg(long)]
    pub out: PathBuf,
    /// Record an action filter in `policy.json` (see `eval --action-filter`): the runtime and
    /// `infer` then choose only among the nodes where the task fits now, when any does.
    #[arg(long, value_name = "FILTER", value_parser = ActionFilter::from_name)]
    pub action_filter: Option<ActionFilter>,
}

/// `cluster-rl infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// An export directory (`cluster-rl export --out DIR`).
    #[arg(long)]
    pub policy: PathBuf,
    /// The longest request line, in bytes (without its newline; 1 MiB by default, at most
    /// 1 GiB). A longer line gets an error reply and is skipped without being held in memory;
    /// the next line is served.
    #[arg(long, value_name = "BYTES", default_value_t = crate::infer::DEFAULT_MAX_LINE_BYTES)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_line_bytes: u64,
}
