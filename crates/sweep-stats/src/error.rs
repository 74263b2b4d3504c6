//! The crate's error type.

/// Why a statistic could not be computed. Every check on user data reports one of these; no
/// function of this crate panics on its inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// An input had no scores (no runs, no tasks, no thresholds…).
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A score was NaN or infinite.
    #[error("score of run {run}, task {task} is {value}: scores must be finite")]
    NonFiniteScore {
        /// Run (training seed) index.
        run: usize,
        /// Task index.
        task: usize,
        /// The offending value.
        value: f64,
    },
    /// Rows (runs) or columns (tasks) of a score matrix have different lengths.
    #[error("ragged scores: {what} {index} has {got} entries, {what} 0 has {expected}")]
    Ragged {
        /// `"run"` or `"task"`.
        what: &'static str,
        /// Index of the first row or column whose length differs.
        index: usize,
        /// Length of the first row or column.
        expected: usize,
        /// Length of the offending one.
        got: usize,
    },
    /// Two score matrices that must cover the same tasks have different task counts.
    #[error("shape mismatch: x has {x} tasks, y has {y}")]
    TaskCountMismatch {
        /// Task count of the first matrix.
        x: usize,
        /// Task count of the second matrix.
        y: usize,
    },
    /// A parameter (threshold, confidence level, replication count…) is out of its domain.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A custom bootstrap statistic returned a vector of a different length than on the data.
    #[error("statistic returned {got} values on a bootstrap replicate, {expected} on the data")]
    StatisticLength {
        /// Length on the original data.
        expected: usize,
        /// Length on the replicate.
        got: usize,
    },
    /// A custom bootstrap statistic returned NaN or an infinity.
    #[error("statistic component {component} is {value}: statistics must be finite")]
    NonFiniteStatistic {
        /// Component index.
        component: usize,
        /// The offending value.
        value: f64,
    },
}

/// `Result` with [`StatsError`].
pub type Result<T, E = StatsError> = std::result::Result<T, E>;
