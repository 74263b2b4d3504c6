//! [`ScoreMatrix`]: validated scores of runs × tasks.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};

/// The scores of one configuration: one finite number per run (training seed) and task, laid out
/// as rliable's score matrices, `[runs × tasks]`.
///
/// Construction validates the data (non-empty, rectangular, finite), so every statistic on a
/// `ScoreMatrix` is well defined. It serialises as its list of runs, each a list of task scores
/// (`[[run0_task0, run0_task1], [run1_task0, …], …]`), and deserialisation validates again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Vec<Vec<f64>>", try_from = "Vec<Vec<f64>>")]
pub struct ScoreMatrix {
    runs: usize,
    tasks: usize,
    /// Task-major: `data[task * runs + run]`, so a task's runs are contiguous.
    data: Vec<f64>,
}

impl ScoreMatrix {
    /// One task: one score per run (the usual case: one number per training seed).
    pub fn from_runs(scores: &[f64]) -> Result<Self> {
        Self::from_tasks(&[scores])
    }

    /// rliable's layout: `rows[run][task]`.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self> {
        let runs = rows.len();
        if runs == 0 {
            return Err(StatsError::Empty { what: "score matrix has no runs" });
        }
        let tasks = rows[0].as_ref().len();
        if tasks == 0 {
            return Err(StatsError::Empty { what: "score matrix has no tasks" });
        }
        for (index, row) in rows.iter().enumerate() {
            let got = row.as_ref().len();
            if got != tasks {
                return Err(StatsError::Ragged { what: "run", index, expected: tasks, got });
            }
        }
        let mut data = Vec::with_capacity(runs * tasks);
        for task in 0..tasks {
            data.extend(rows.iter().map(|row| row.as_ref()[task]));
        }
        Self::from_task_major(runs, tasks, data)
    }

    /// Transposed layout: `tasks[task][run]`, each task with the same number of runs.
    pub fn from_tasks<T: AsRef<[f64]>>(tasks: &[T]) -> Result<Self> {
        let n_tasks = tasks.len();
        if n_tasks == 0 {
            return Err(StatsError::Empty { what: "score matrix has no tasks" });
        }
        let runs = tasks[0].as_ref().len();
        if runs == 0 {
            return Err(StatsError::Empty { what: "score matrix has no runs" });
        }
        for (index, task) in tasks.iter().enumerate() {
            let got = task.as_ref().len();
            if got != runs {
                return Err(StatsError::Ragged { what: "task", index, expected: runs, got });
            }
        }
        let data = tasks.iter().flat_map(|t| t.as_ref().iter().copied()).collect();
        Self::from_task_major(runs, n_tasks, data)
    }

    fn from_task_major(runs: usize, tasks: usize, data: Vec<f64>) -> Result<Self> {
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFiniteScore { run: i % runs, task: i / runs, value: data[i] });
        }
        Ok(Self { runs, tasks, data })
    }

    /// Number of runs (rows).
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// Number of tasks (columns).
    pub fn tasks(&self) -> usize {
        self.tasks
    }

    /// Number of scores, `runs × tasks`.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Always false: a `ScoreMatrix` holds at least one score.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The score of `run` on `task`, or `None` out of range.
    pub fn get(&self, run: usize, task: usize) -> Option<f64> {
        (run < self.runs && task < self.tasks).then(|| self.data[task * self.runs + run])
    }

    /// The scores of every run on `task`, or `None` out of range.
    pub fn task(&self, task: usize) -> Option<&[f64]> {
        (task < self.tasks).then(|| self.task_slice(task))
    }

    /// The scores as rows, `[run][task]` (rliable's layout).
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        (0..self.runs).map(|r| (0..self.tasks).map(|t| self.data[t * self.runs + r]).collect()).collect()
    }

    /// Every score in row-major order (run by run), as numpy flattens a `[runs × tasks]` array.
    pub(crate) fn row_major(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.runs).flat_map(move |r| (0..self.tasks).map(move |t| self.data[t * self.runs + r]))
    }

    pub(crate) fn task_slice(&self, task: usize) -> &[f64] {
        &self.data[task * self.runs..(task + 1) * self.runs]
    }

    pub(crate) fn values(&self) -> &[f64] {
        &self.data
    }

    /// Overwrites `self` with the rows of `source` picked by `indices` (task-major: the run
    /// drawn for `(run, task)` is `indices[task * runs + run]`). Shapes are the caller's duty.
    pub(crate) fn gather_from(&mut self, source: &ScoreMatrix, indices: &[usize]) {
        let runs = self.runs;
        for (i, (out, &pick)) in self.data.iter_mut().zip(indices).enumerate() {
            *out = source.data[(i / runs) * runs + pick];
        }
    }
}

impl From<ScoreMatrix> for Vec<Vec<f64>> {
    fn from(m: ScoreMatrix) -> Self {
        m.to_rows()
    }
}

impl TryFrom<Vec<Vec<f64>>> for ScoreMatrix {
    type Error = StatsError;

    fn try_from(rows: Vec<Vec<f64>>) -> Result<Self> {
        Self::from_rows(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_agree() {
        let a = ScoreMatrix::from_rows(&[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]).unwrap();
        let b = ScoreMatrix::from_tasks(&[vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0]]).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.runs(), a.tasks(), a.len()), (3, 2, 6));
        assert_eq!(a.get(1, 1), Some(20.0));
        assert_eq!(a.get(3, 0), None);
        assert_eq!(a.task(1), Some(&[10.0, 20.0, 30.0][..]));
        assert_eq!(a.row_major().collect::<Vec<_>>(), [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
        assert_eq!(a.to_rows(), vec![vec![1.0, 10.0], vec![2.0, 20.0], vec![3.0, 30.0]]);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        assert_eq!(ScoreMatrix::from_runs(&[]), Err(StatsError::Empty { what: "score matrix has no runs" }));
        let no_rows: [[f64; 1]; 0] = [];
        assert!(matches!(ScoreMatrix::from_rows(&no_rows), Err(StatsError::Empty { .. })));
        let no_tasks: [[f64; 0]; 2] = [[], []];
        assert!(matches!(ScoreMatrix::from_rows(&no_tasks), Err(StatsError::Empty { .. })));
        assert_eq!(
            ScoreMatrix::from_rows(&[vec![1.0, 2.0], vec![3.0]]),
            Err(StatsError::Ragged { what: "run", index: 1, expected: 2, got: 1 })
        );
        assert_eq!(
            ScoreMatrix::from_tasks(&[vec![1.0, 2.0], vec![3.0]]),
            Err(StatsError::Ragged { what: "task", index: 1, expected: 2, got: 1 })
        );
        let err = ScoreMatrix::from_rows(&[[1.0, 2.0], [3.0, f64::NAN]]).unwrap_err();
        assert!(matches!(err, StatsError::NonFiniteScore { run: 1, task: 1, value } if value.is_nan()));
        assert!(err.to_string().contains("NaN"), "{err}");
        let err = ScoreMatrix::from_runs(&[1.0, f64::INFINITY]).unwrap_err();
        assert!(matches!(err, StatsError::NonFiniteScore { run: 1, task: 0, .. }));
    }

    #[test]
    fn serde_round_trip_validates() {
        let m = ScoreMatrix::from_rows(&[[1.5, 2.0], [3.0, 4.25]]).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, "[[1.5,2.0],[3.0,4.25]]");
        assert_eq!(serde_json::from_str::<ScoreMatrix>(&json).unwrap(), m);
        assert!(serde_json::from_str::<ScoreMatrix>("[[1.0],[2.0,3.0]]").is_err());
        assert!(serde_json::from_str::<ScoreMatrix>("[]").is_err());
    }
}
