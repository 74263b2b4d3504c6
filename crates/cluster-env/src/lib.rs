//! Cluster scheduling simulator for cluster-rl.
//!
//! # Brief overview
//! - [`ScenarioConfig`] and [`scenarios`]: the cluster and workload description, and the named
//!   presets (`park-lb`, `seed-case`, `multi-resource`, `faulty`, `large`, `openb`,
//!   `openb-gpuspec`); [`CompiledScenario`]
//!   (`compiled.rs`): a scenario validated and compiled once, shared by every simulator that runs
//!   it.
//! - [`Simulator`] (`engine.rs`): a discrete-event simulation of heterogeneous nodes (capacity
//!   per resource, speed, up/down) running prioritised multi-resource tasks; the scheduler
//!   decides at each task arrival (a semi-MDP). Failures re-submit work; no task is ever lost.
//!   Its state is private: everything else reads it through [`ClusterView`] (`view.rs`).
//!   Tasks come from `workload.rs` (generated) or `trace.rs` (a CSV trace); the reward of every
//!   kind is computed in `reward.rs`, the episode's metrics in `metrics.rs`.
//! - [`ClusterEnv`] (`env.rs`): the simulator behind the `gym::Env` API, with the flat
//!   observation of [`policy_core::ObservationLayout`] (the one encoder, shared with the
//!   exported policies' runtime).
//! - [`baselines`]: the [`Scheduler`] trait and the ten heuristic schedulers.
//! - [`evaluate`] (`eval.rs`): paired, parallel evaluation with 95% confidence intervals
//!   (`stats.rs`).
//! - [`openb`]: the node and pod lists of Alibaba's production GPU-cluster trace (openb), parsed
//!   and turned into trace tasks, windows, splits and sub-clusters; `replay.rs` compiles a
//!   `[workload.openb]` scenario from them ([`OpenbReplay`]) and replays one window per episode.
//!
//! ```
//! use cluster_env::{evaluate, scenarios, SchedulerSpec};
//! let cfg = scenarios::preset("park-lb").unwrap();
//! let schedulers = [SchedulerSpec::baseline("least-loaded").unwrap(), SchedulerSpec::baseline("random").unwrap()];
//! let report = evaluate(&cfg, &schedulers, &[1, 2, 3], Some("least-loaded")).unwrap();
//! let ll = report.policy("least-loaded").unwrap().metric("mean_jct").unwrap().value.mean;
//! let rnd = report.policy("random").unwrap().metric("mean_jct").unwrap().value.mean;
//! assert!(ll < rnd);
//! ```
#![deny(missing_docs)]

pub mod baselines;
mod compiled;
mod config;
mod engine;
mod env;
mod error;
mod eval;
mod metrics;
pub mod openb;
mod replay;
mod reward;
pub mod scenarios;
mod stats;
mod streams;
mod trace;
mod view;
mod workload;

pub use baselines::{BASELINES, Scheduler, baseline};
pub use compiled::CompiledScenario;
pub use config::*;
pub use engine::Simulator;
pub use env::{ClusterEnv, ClusterInfo, DERIVED_SEED_BIT};
pub use error::ClusterError;
pub use eval::{
    EvalReport, MetricSummary, PolicyReport, SchedulerFactory, SchedulerSpec, evaluate, evaluate_compiled, run_episode,
};
pub use metrics::{EpisodeMetrics, coefficient_of_variation, percentile};
pub use policy_core::ObservationLayout;
pub use replay::{NoWaitBound, OpenbReplay, resolve_path};
pub use stats::{Estimate, t975};
pub use trace::check_trace;
pub use view::{ClusterView, NodeView, TaskView};

#[cfg(test)]
mod variable_tests;
