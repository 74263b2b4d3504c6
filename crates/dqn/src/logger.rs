//! The [`Logger`] trait the training loop reports through.

/// Receives scalar metrics, tagged CleanRL-style (`charts/episodic_return`, `losses/td_loss`,
/// …) and indexed by `global_step` (environment steps). The trainer implements it for
/// TensorBoard; [`MemoryLogger`] keeps everything in memory for tests.
///
/// Only [`scalar`](Logger::scalar) is required; the other methods default to doing nothing, so
/// a logger opts in to what it wants to record.
pub trait Logger {
    /// Records `value` for `tag` at `step`.
    fn scalar(&mut self, tag: &str, value: f64, step: u64);

    /// Receives the actions just taken in the training envs, one per env (ε-greedy, so
    /// exploratory ones included), at every vector step; `global_step` counts those steps.
    /// For histograms of what the policy chooses during training (e.g. which node).
    fn actions(&mut self, actions: &[usize], global_step: u64) {
        let _ = (actions, global_step);
    }
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullLogger;

impl Logger for NullLogger {
    fn scalar(&mut self, _tag: &str, _value: f64, _step: u64) {}
}

/// One logged scalar.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// Tag, e.g. `charts/episodic_return`.
    pub tag: String,
    /// Value.
    pub value: f64,
    /// Global step it was logged at.
    pub step: u64,
}

/// Keeps every scalar in memory, in logging order, and counts the actions taken.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogger {
    /// Everything logged so far.
    pub records: Vec<Scalar>,
    /// `action_counts[a]`: how many times action `a` was taken in training (grows to the
    /// largest action seen).
    pub action_counts: Vec<u64>,
}

impl MemoryLogger {
    /// The values logged under `tag`, in order.
    pub fn values(&self, tag: &str) -> Vec<f64> {
        self.records.iter().filter(|s| s.tag == tag).map(|s| s.value).collect()
    }
}

impl Logger for MemoryLogger {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        self.records.push(Scalar { tag: tag.to_owned(), value, step });
    }

    fn actions(&mut self, actions: &[usize], _global_step: u64) {
        for &a in actions {
            if a >= self.action_counts.len() {
                self.action_counts.resize(a + 1, 0);
            }
            self.action_counts[a] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_logger_counts_actions_and_other_loggers_ignore_them() {
        let mut log = MemoryLogger::default();
        log.actions(&[2, 0, 2], 3);
        log.actions(&[1], 4);
        assert_eq!(log.action_counts, vec![1, 1, 2]);
        assert!(log.records.is_empty());
        // The default method: a logger that only implements `scalar` compiles and ignores them.
        NullLogger.actions(&[5], 1);
    }
}
