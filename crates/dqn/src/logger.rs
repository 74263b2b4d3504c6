//! The [`Logger`] trait the training loop reports through.

/// Receives scalar metrics, tagged CleanRL-style (`charts/episodic_return`, `losses/td_loss`,
/// …) and indexed by `global_step` (environment steps). The trainer implements it for
/// TensorBoard; [`MemoryLogger`] keeps everything in memory for tests.
pub trait Logger {
    /// Records `value` for `tag` at `step`.
    fn scalar(&mut self, tag: &str, value: f64, step: u64);
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

/// Keeps every scalar in memory, in logging order.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogger {
    /// Everything logged so far.
    pub records: Vec<Scalar>,
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
}
