//! [`Snapshot`]: environments whose complete state can be saved and restored, so that training
//! resumed from a checkpoint continues the same episodes bit-identically.

use crate::{Env, EnvError};

/// An environment whose dynamic state (everything a `reset` or `step` changes: the episode in
/// progress and the random generators) can be written out and read back.
///
/// The bytes are opaque; they restore only into an environment built from the same
/// configuration (`load_state` checks what it can and refuses the rest with an error, never a
/// panic). Spaces and configuration are not part of the state.
pub trait Snapshot: Env {
    /// The complete dynamic state.
    fn save_state(&self) -> Vec<u8>;

    /// Restores a state from [`Snapshot::save_state`]; the environment then behaves exactly as
    /// the saved one would have, observation and mask included.
    ///
    /// # Errors
    /// [`EnvError::BadState`] if the bytes do not decode or do not fit this environment; the
    /// environment is unchanged then.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), EnvError>;
}

/// Decodes a postcard-encoded state, naming `what` in the error.
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, EnvError> {
    postcard::from_bytes(bytes).map_err(|e| EnvError::BadState(format!("{what}: the state does not decode: {e}")))
}

/// Encodes a state; encoding plain data into a `Vec` cannot fail.
pub(crate) fn encode<T: serde::Serialize>(state: &T) -> Vec<u8> {
    postcard::to_stdvec(state).unwrap_or_default()
}
