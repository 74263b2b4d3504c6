//! Per-episode metrics: completion times (JCT), slowdown, makespan, utilisation, imbalance.

use serde::{Deserialize, Serialize};

/// Metrics of one episode (returned in the env's info at episode end and by evaluation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeMetrics {
    /// Tasks in the workload.
    pub tasks: usize,
    /// Tasks completed.
    pub completed: usize,
    /// Re-submissions caused by node failures (a task may be retried several times).
    pub retried: usize,
    /// Decisions taken.
    pub decisions: u64,
    /// Mean job completion time (completion − arrival) over completed tasks. When
    /// `max_decisions` truncates an episode this leaves out the tasks still in the system (often
    /// the slowest), so it reads low: see [`EpisodeMetrics::mean_jct_with_unfinished`].
    pub mean_jct: f64,
    /// Median JCT.
    pub p50_jct: f64,
    /// 95th percentile JCT.
    pub p95_jct: f64,
    /// 99th percentile JCT.
    pub p99_jct: f64,
    /// Priority-weighted mean JCT: Σ w·JCT / Σ w.
    pub weighted_mean_jct: f64,
    /// Mean slowdown: JCT / runtime on the fastest node.
    pub mean_slowdown: f64,
    /// Last completion − first arrival.
    pub makespan: f64,
    /// Time-averaged cluster utilisation per resource over the makespan (scenario order).
    pub utilisation: Vec<f64>,
    /// Coefficient of variation of per-node time-averaged utilisation (0 = perfectly even).
    pub load_imbalance: f64,
    /// Tasks that had arrived but not completed when the metrics were taken (waiting, queued or
    /// running): 0 at the end of a terminated episode, positive when `max_decisions` truncated
    /// it. Tasks that had not arrived yet are in neither this nor `completed`.
    #[serde(default)]
    pub unfinished: usize,
    /// Mean JCT over every task that arrived, counting each unfinished task's time in the system
    /// so far (now − arrival, a lower bound on its JCT) beside the completed tasks' JCTs. Equal
    /// to `mean_jct` when nothing is unfinished; the honest curve of truncated episodes.
    #[serde(default)]
    pub mean_jct_with_unfinished: f64,
    /// Set when the simulation failed; the other fields cover the episode up to the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EpisodeMetrics {
    /// Names of the scalar metrics that evaluation aggregates, in report order.
    pub const SCALARS: [&'static str; 13] = [
        "mean_jct",
        "p50_jct",
        "p95_jct",
        "p99_jct",
        "weighted_mean_jct",
        "mean_slowdown",
        "makespan",
        "mean_utilisation",
        "load_imbalance",
        "completed",
        "retried",
        "unfinished",
        "mean_jct_with_unfinished",
    ];

    /// Value of one of [`EpisodeMetrics::SCALARS`] (None for an unknown name).
    pub fn scalar(&self, name: &str) -> Option<f64> {
        Some(match name {
            "mean_jct" => self.mean_jct,
            "p50_jct" => self.p50_jct,
            "p95_jct" => self.p95_jct,
            "p99_jct" => self.p99_jct,
            "weighted_mean_jct" => self.weighted_mean_jct,
            "mean_slowdown" => self.mean_slowdown,
            "makespan" => self.makespan,
            "mean_utilisation" => self.utilisation.iter().sum::<f64>() / self.utilisation.len().max(1) as f64,
            "load_imbalance" => self.load_imbalance,
            "completed" => self.completed as f64,
            "retried" => self.retried as f64,
            "unfinished" => self.unfinished as f64,
            "mean_jct_with_unfinished" => self.mean_jct_with_unfinished,
            _ => return None,
        })
    }
}

/// What [`MetricsAcc::finish`] needs from the simulator besides its own sums.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunTotals<'a> {
    /// Simulated time now.
    pub now: f64,
    /// Decisions taken.
    pub decisions: u64,
    /// Σ over nodes of each resource's capacity.
    pub total_capacity: &'a [f64],
    /// Each node's ∫ utilisation dt up to now.
    pub node_util: &'a [f64],
    /// Tasks arrived and not completed.
    pub unfinished: usize,
    /// Σ over those tasks of now − arrival.
    pub unfinished_time: f64,
}

/// Running sums the engine updates as events happen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MetricsAcc {
    pub tasks: usize,
    pub submitted: usize,
    pub completed: usize,
    pub retries: usize,
    pub jcts: Vec<f64>,
    weighted_jct: f64,
    weight: f64,
    slowdown: f64,
    first_arrival: Option<f64>,
    last_completion: f64,
    /// ∫ Σ_nodes used_r dt, per resource.
    pub util_integral: Vec<f64>,
    pub error: Option<String>,
}

impl MetricsAcc {
    pub fn reset(&mut self, tasks: usize, n_res: usize) {
        self.tasks = tasks;
        self.submitted = 0;
        self.completed = 0;
        self.retries = 0;
        self.jcts.clear();
        self.jcts.reserve(tasks);
        self.weighted_jct = 0.0;
        self.weight = 0.0;
        self.slowdown = 0.0;
        self.first_arrival = None;
        self.last_completion = 0.0;
        self.util_integral.clear();
        self.util_integral.resize(n_res, 0.0);
        self.error = None;
    }

    pub fn on_arrival(&mut self, t: f64) {
        self.submitted += 1;
        self.first_arrival.get_or_insert(t);
    }

    pub fn on_completion(&mut self, now: f64, jct: f64, weight: f64, slowdown: f64) {
        self.completed += 1;
        self.jcts.push(jct);
        self.weighted_jct += weight * jct;
        self.weight += weight;
        self.slowdown += slowdown;
        self.last_completion = now;
    }

    /// Final metrics of the episode so far.
    pub fn finish(&self, run: &RunTotals<'_>) -> EpisodeMetrics {
        let start = self.first_arrival.unwrap_or(0.0);
        let end = if self.completed == self.tasks { self.last_completion } else { run.now };
        let makespan = (end - start).max(0.0);
        let n = self.completed.max(1) as f64;
        let jct_sum = self.jcts.iter().sum::<f64>();
        let arrived = self.completed + run.unfinished;
        let mut sorted = self.jcts.clone();
        sorted.sort_by(f64::total_cmp);
        // Averaged over the makespan: the integrals start at time 0, but nothing runs before the
        // first arrival, so ∫ over [0, end] = ∫ over [start, end].
        let horizon = if makespan > 0.0 { makespan } else { 1.0 };
        let utilisation = self
            .util_integral
            .iter()
            .zip(run.total_capacity)
            .map(|(u, cap)| crate::view::share(*u, cap * horizon))
            .collect();
        let per_node: Vec<f64> = run.node_util.iter().map(|u| u / horizon).collect();
        EpisodeMetrics {
            tasks: self.tasks,
            completed: self.completed,
            retried: self.retries,
            decisions: run.decisions,
            mean_jct: jct_sum / n,
            p50_jct: percentile(&sorted, 50.0),
            p95_jct: percentile(&sorted, 95.0),
            p99_jct: percentile(&sorted, 99.0),
            weighted_mean_jct: if self.weight > 0.0 { self.weighted_jct / self.weight } else { 0.0 },
            mean_slowdown: self.slowdown / n,
            makespan,
            utilisation,
            load_imbalance: coefficient_of_variation(&per_node),
            unfinished: run.unfinished,
            mean_jct_with_unfinished: if arrived > 0 { (jct_sum + run.unfinished_time) / arrived as f64 } else { 0.0 },
            error: self.error.clone(),
        }
    }
}

/// Percentile with linear interpolation between closest ranks (numpy's default); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        len => {
            let rank = p / 100.0 * (len - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// Population standard deviation / mean; 0 when the mean is 0.
pub fn coefficient_of_variation(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return 0.0;
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() / mean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [50, 95, 99]) = 2.5, 3.85, 3.97
        assert_eq!(percentile(&xs, 50.0), 2.5);
        assert!((percentile(&xs, 95.0) - 3.85).abs() < 1e-12);
        assert!((percentile(&xs, 99.0) - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn coefficient_of_variation_of_even_and_uneven() {
        assert_eq!(coefficient_of_variation(&[0.5, 0.5, 0.5]), 0.0);
        // mean 0.5, population sd 0.5
        assert!((coefficient_of_variation(&[0.0, 1.0]) - 1.0).abs() < 1e-12);
    }
}
