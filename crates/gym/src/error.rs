//! Errors an environment returns instead of panicking.

/// Why an [`crate::Env::step`] (or an environment's construction) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// The action index is not in `0..n`.
    #[error("invalid action {action}: the action space is 0..{n}")]
    ActionOutOfRange {
        /// The action that was passed.
        action: usize,
        /// The number of actions.
        n: usize,
    },
    /// The action is in range but the current action mask forbids it.
    #[error("invalid action {action}: masked out at this step (valid: {valid:?})")]
    ActionMasked {
        /// The action that was passed.
        action: usize,
        /// The actions that are valid now.
        valid: Vec<usize>,
    },
    /// `step` was called before `reset` or after the episode ended.
    #[error("step called on an environment that needs reset (episode ended or never started)")]
    NeedsReset,
    /// A vector env was given the wrong number of actions.
    #[error("vector env expected {expected} actions, got {got}")]
    WrongBatch {
        /// Number of environments.
        expected: usize,
        /// Number of actions given.
        got: usize,
    },
    /// The environment itself failed (e.g. a simulator invariant); the message says what.
    #[error("environment failure: {0}")]
    Internal(String),
    /// A saved state ([`crate::Snapshot`]) cannot be restored into this environment.
    #[error("restoring a saved environment state: {0}")]
    BadState(String),
}

impl EnvError {
    /// Checks `action` against `n` and `mask`, the common validation every env does first.
    pub fn check_action(action: usize, mask: &[bool]) -> Result<(), EnvError> {
        match mask.get(action) {
            None => Err(EnvError::ActionOutOfRange { action, n: mask.len() }),
            Some(false) => Err(EnvError::ActionMasked {
                action,
                valid: mask.iter().enumerate().filter(|(_, v)| **v).map(|(i, _)| i).collect(),
            }),
            Some(true) => Ok(()),
        }
    }
}
