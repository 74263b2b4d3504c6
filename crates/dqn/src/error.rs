//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in this crate: bad configuration, bad input to the agent, an
/// environment failure, or a checkpoint that cannot be read.
///
/// Messages are lowercase and name their context first (the config field, the file).
#[derive(Debug, thiserror::Error)]
pub enum DqnError {
    /// A [`crate::DqnConfig`] field is out of range or inconsistent with another field.
    #[error("invalid dqn config: {field}: {reason}")]
    InvalidConfig {
        /// The offending field, as spelled in the config file.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The configured device is not compiled in or could not be set up.
    #[error("device {device}: {reason}")]
    Device {
        /// The device setting, e.g. `cuda:0`.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An argument passed to the agent has the wrong length or content.
    #[error("{context}: {reason}")]
    BadInput {
        /// The method that was called, e.g. `act_batch`.
        context: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An action mask forbids every action, so no action can be chosen.
    #[error("{context}: env {env} has no valid action (its mask is all false)")]
    NoValidAction {
        /// The method that was called.
        context: &'static str,
        /// The environment's index in the batch.
        env: usize,
    },
    /// The environment refused a step or failed.
    #[error("environment: {0}")]
    Env(#[from] gym::EnvError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file was written by another format version of this crate.
    #[error("{}: format version {found}, this build reads version {expected}", path.display())]
    FormatVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// A checkpoint file holds a network (or buffer) of another shape than expected.
    #[error("{}: shape mismatch: expected {expected}, file has {found}", path.display())]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The shape the agent being loaded needs.
        expected: String,
        /// The shape the file holds.
        found: String,
    },
    /// A checkpoint file is truncated, garbage, or inconsistent with the rest of the checkpoint.
    #[error("{}: corrupt checkpoint file: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Training diverged: a gradient step produced a NaN or infinite value. The step has
    /// already been applied, so the agent's weights are most likely non-finite too: resume
    /// from an earlier checkpoint rather than saving this agent.
    #[error("non-finite {what} at global step {global_step} (update step {update_step})")]
    NonFinite {
        /// The quantity: `losses/td_loss` or `losses/q_values` (by logger tag) for a gradient
        /// step, `weights` when [`crate::Agent::save`] finds a non-finite parameter.
        what: &'static str,
        /// The agent's global step (environment steps) when it happened.
        global_step: u64,
        /// The gradient step that produced it (the agent's update step after it, from 1).
        update_step: u64,
    },
    /// A tensor operation on the device failed.
    #[error("tensor backend: {0}")]
    Backend(String),
}

impl DqnError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        DqnError::InvalidConfig { field, reason: reason.into() }
    }

    pub(crate) fn input(context: &'static str, reason: impl Into<String>) -> Self {
        DqnError::BadInput { context, reason: reason.into() }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DqnError::Corrupt { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DqnError::Io { path: path.into(), source }
    }
}
