//! Cluster scheduling simulator for cluster-rl.
//!
//! # Brief overview
//! - [`Simulator`]: a discrete-event simulation of heterogeneous nodes (capacity per resource,
//!   speed, up/down) running prioritised multi-resource tasks; the scheduler decides at each
//!   task arrival (a semi-MDP). Failures re-submit work; no task is ever lost.
//! - [`ScenarioConfig`] and [`scenarios`]: the cluster and workload description, and the named
//!   presets (`park-lb`, `seed-case`, `multi-resource`, `faulty`, `large`).
//! - [`ClusterEnv`]: the simulator behind the `gym::Env` API, with the flat observation
//!   documented in [`obs`].
//! - [`baselines`]: the [`Policy`] trait and the heuristic schedulers, reading a structured
//!   [`ClusterView`].
//! - [`evaluate`]: paired, parallel evaluation with 95% confidence intervals.
//!
//! ```
//! use cluster_env::{evaluate, scenarios, PolicySpec};
//! let cfg = scenarios::preset("park-lb").unwrap();
//! let policies = [PolicySpec::baseline("least-loaded").unwrap(), PolicySpec::baseline("random").unwrap()];
//! let report = evaluate(&cfg, &policies, &[1, 2, 3], Some("least-loaded")).unwrap();
//! let ll = report.policy("least-loaded").unwrap().metric("mean_jct").unwrap().value.mean;
//! let rnd = report.policy("random").unwrap().metric("mean_jct").unwrap().value.mean;
//! assert!(ll < rnd);
//! ```
#![deny(missing_docs)]

pub mod baselines;
mod config;
mod engine;
mod env;
mod error;
mod eval;
mod metrics;
pub mod obs;
pub mod openb;
pub mod scenarios;
mod stats;
mod view;
mod workload;

pub use baselines::{BASELINES, Policy, baseline};
pub use config::*;
pub use engine::Simulator;
pub use env::{ClusterEnv, ClusterInfo, DERIVED_SEED_BIT};
pub use error::ClusterError;
pub use eval::{EvalReport, MetricSummary, PolicyFactory, PolicyReport, PolicySpec, evaluate, run_episode};
pub use metrics::{EpisodeMetrics, coefficient_of_variation, percentile};
pub use obs::ObservationConstants;
pub use stats::{Estimate, t975};
pub use view::{ClusterView, NodeView, TaskView};
