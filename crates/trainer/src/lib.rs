//! The `cluster-rl` trainer as a library: the binary (`src/main.rs`) only parses the arguments
//! and calls [`run`]. The library also lets the fuzz targets (`fuzz/`) reach the parsers of
//! what a user feeds the binary: experiment files with `--set` overrides
//! ([`config::from_str`]) and `infer` request lines ([`infer::serve_lines`]).
//!
//! # Brief overview
//! - [`args`]: the clap command line (`train`, `eval`, `baselines`, `export`, `infer`, `summary`,
//!   `sweep`).
//! - [`config`]: experiment files, `--set` overrides, strict validation, the resolved TOML.
//! - [`seeds`]: the training, validation and test seed ranges, and the check that keeps them
//!   apart.
//! - [`train`]: the training driver (vector env, evaluations, checkpoints, TensorBoard).
//! - [`task`]: what the driver needs from cluster scenarios and from CartPole.
//! - [`checkpoint`]: atomic checkpoints, the `latest` pointer, rotation, `best`.
//! - [`tensorboard`]: a [`dqn::Logger`] writing TensorBoard event files.
//! - [`eval`]: `eval` and `baselines`; [`report`]: the report files and `source.json`.
//! - [`scheduler`]: a learned policy (on the burn-free runtime) as a `cluster_env::Scheduler`.
//! - [`summary`]: one results table from several evaluations.
//! - [`export`]: a checkpoint as safetensors + ONNX + policy.json, and the runtime of an agent.
//! - [`infer`]: JSON-lines decisions from an export.
//! - [`sweep`]: sweeps of settings × training seeds (plan, run locally or on Slurm, status,
//!   report); [`signals`]: SIGUSR1/SIGTERM make training checkpoint and exit 75.
//!
//! Modules depend one way: `train` → `task` → `export`, `scheduler`; `eval` → `export`,
//! `report`, `checkpoint`; `summary` → `report`; `sweep` → `train`, `eval`, `config`, `signals`.
#![deny(missing_docs)]

use std::process::ExitCode;

pub mod args;
mod checkpoint;
pub mod config;
mod eval;
mod export;
pub mod infer;
mod report;
mod scheduler;
mod seeds;
mod signals;
mod summary;
mod sweep;
mod task;
mod tensorboard;
mod train;

/// Runs one `cluster-rl` command; errors are printed as `cluster-rl: {:#}` and give exit code 2
/// (bad input, unreadable files, a diverged run).
pub fn run(cli: args::Cli) -> ExitCode {
    let result = match cli.command {
        args::Command::Train(a) => train::run(&a),
        args::Command::Eval(a) => eval::run_eval(&a),
        args::Command::Baselines(a) => eval::run_baselines(&a),
        args::Command::Summary(a) => summary::run(&a),
        args::Command::Export(a) => export::run(&a),
        args::Command::Infer(a) => infer::run(&a),
        args::Command::Sweep(a) => sweep::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cluster-rl: {e:#}");
            ExitCode::from(2)
        }
    }
}
