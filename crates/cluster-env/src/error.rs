//! The crate's error type: every user-controlled input (scenario configs, traces, actions) fails
//! with one of these instead of panicking.

use std::path::PathBuf;

/// Errors from building scenarios, reading traces, simulating and evaluating.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// A scenario field has a value outside what is allowed.
    #[error("scenario config: {field} = {value}: {allowed}")]
    InvalidConfig {
        /// Dotted path of the offending field, e.g. `workload.n_tasks`.
        field: String,
        /// The value found, as text.
        value: String,
        /// What would be valid.
        allowed: String,
    },
    /// No preset of that name exists.
    #[error("unknown scenario {name:?}: valid scenarios are {valid}")]
    UnknownScenario {
        /// The name asked for.
        name: String,
        /// Comma-separated list of valid names.
        valid: String,
    },
    /// No baseline policy of that name exists.
    #[error("unknown baseline {name:?}: valid baselines are {valid}")]
    UnknownBaseline {
        /// The name asked for.
        name: String,
        /// Comma-separated list of valid names.
        valid: String,
    },
    /// A trace file could not be read or holds bad data.
    #[error("trace {}:{line}:{column}: {message}", path.display())]
    Trace {
        /// The trace file.
        path: PathBuf,
        /// 1-based line number (0 if the file could not be opened).
        line: usize,
        /// 1-based column number (0 for whole-line problems).
        column: usize,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The action (node index) is not valid for the current decision.
    #[error(transparent)]
    Action(#[from] gym::EnvError),
    /// A policy returned a node the mask forbids (a bug in the policy).
    #[error("policy {policy:?} chose node {node}, which is not valid for task {task}")]
    PolicyChoseInvalid {
        /// The policy's name.
        policy: String,
        /// The node it chose.
        node: usize,
        /// The task being placed.
        task: u32,
    },
    /// A scheduler could not decide (a learned policy's runtime failed); evaluation stops.
    #[error("policy {policy:?} failed at task {task}: {message}")]
    PolicyFailed {
        /// The policy's name.
        policy: String,
        /// The task being placed.
        task: u32,
        /// What went wrong.
        message: String,
    },
    /// The simulation reached a state it cannot leave (should be impossible; reported, not hidden).
    #[error("simulation stuck at time {time}: {message}")]
    Stuck {
        /// Simulated time.
        time: f64,
        /// What was found.
        message: String,
    },
    /// A saved simulator or environment state cannot be restored (damaged, another version, or
    /// of another scenario).
    #[error("restoring a saved state: {0}")]
    BadState(String),
    /// An evaluation request was inconsistent (no seeds, unknown reference policy, ...).
    #[error("evaluation: {0}")]
    Eval(String),
}

/// Shorthand for an [`ClusterError::InvalidConfig`].
pub(crate) fn invalid(field: impl Into<String>, value: impl ToString, allowed: impl Into<String>) -> ClusterError {
    ClusterError::InvalidConfig { field: field.into(), value: value.to_string(), allowed: allowed.into() }
}
