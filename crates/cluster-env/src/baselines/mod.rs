//! Heuristic schedulers and the [`Scheduler`] trait that learned policies implement too.
//!
//! Every baseline reads the structured [`ClusterView`] and picks only nodes the mask allows.
//! Ties are broken by the lowest node index, so baselines are deterministic given their seed.

mod packing;
mod simple;

pub use packing::{BalancedAllocation, BestFit, Tetris, VmScheduling};
pub use simple::{LeastConnections, LeastLoaded, PowerOfTwo, RandomPolicy, RoundRobin, ShortestExpectedDelay};

use crate::error::ClusterError;
use crate::view::{ClusterView, NodeView};

/// A scheduling policy: given the cluster state at a decision, the node for the arriving task.
pub trait Scheduler: Send {
    /// Name used in reports.
    fn name(&self) -> &str;

    /// Called at the start of each episode with the episode's seed (for policies with
    /// randomness; they must derive all of it from this seed).
    fn reset(&mut self, _seed: u64) {}

    /// The node for `view.task()`. Must be a node `view.mask()` allows; evaluation reports a
    /// scheduler that breaks this as [`ClusterError::PolicyChoseInvalid`].
    ///
    /// # Errors
    /// A scheduler that cannot decide (e.g. a learned policy whose network fails) says why with
    /// [`ClusterError::PolicyFailed`]; the heuristics never fail.
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError>;
}

/// Names of the baselines, in report order.
pub const BASELINES: [&str; 10] = [
    "random",
    "round-robin",
    "least-connections",
    "least-loaded",
    "shortest-expected-delay",
    "vm-scheduling",
    "best-fit",
    "balanced-allocation",
    "tetris",
    "power-of-two",
];

/// A fresh instance of the baseline called `name`.
///
/// # Errors
/// [`ClusterError::UnknownBaseline`] listing the valid names.
pub fn baseline(name: &str) -> Result<Box<dyn Scheduler>, ClusterError> {
    Ok(match name {
        "random" => Box::new(RandomPolicy::default()),
        "round-robin" => Box::new(RoundRobin::default()),
        "least-connections" => Box::new(LeastConnections),
        "least-loaded" => Box::new(LeastLoaded),
        "shortest-expected-delay" => Box::new(ShortestExpectedDelay),
        "vm-scheduling" => Box::new(VmScheduling),
        "best-fit" => Box::new(BestFit),
        "balanced-allocation" => Box::new(BalancedAllocation),
        "tetris" => Box::new(Tetris),
        "power-of-two" => Box::new(PowerOfTwo::default()),
        _ => return Err(ClusterError::UnknownBaseline { name: name.into(), valid: BASELINES.join(", ") }),
    })
}

/// The valid node minimising `key` (lowest index on ties); 0 if no node is valid, which the
/// engine then rejects.
pub(crate) fn argmin_valid(view: &ClusterView<'_>, key: impl Fn(&NodeView<'_>) -> f64) -> usize {
    best_by(view.valid_nodes(), key).unwrap_or(0)
}

/// The node minimising `key` among `nodes` (first on ties). Keys may be tuples, compared
/// lexicographically.
pub(crate) fn best_by<'a, K: PartialOrd>(
    nodes: impl Iterator<Item = NodeView<'a>>,
    key: impl Fn(&NodeView<'_>) -> K,
) -> Option<usize> {
    let mut best: Option<(K, usize)> = None;
    for n in nodes {
        let k = key(&n);
        if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
            best = Some((k, n.index));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    //! Each baseline on a hand-built state picks the node its definition says.

    use super::*;
    use crate::Simulator;
    use crate::config::TenantConfig;
    use crate::engine::tests::trace_scenario;

    /// Four nodes, all arrivals at t = 0 (so nothing has run yet):
    ///
    /// | node | capacity | speed | running (demand, work) | queued | outstanding work / time |
    /// |---|---|---|---|---|---|
    /// | 0 | [8, 8]  | 1 | a [6, 2] 30 | — | 30 / 30 |
    /// | 1 | [8, 8]  | 4 | b [2, 2] 40 | — | 40 / 10 |
    /// | 2 | [4, 16] | 2 | c [1, 4] 20 | — | 20 / 10 |
    /// | 3 | [16, 4] | 1 | d [8, 1] 20 | e [10, 3] 12 (cpu 18 > 16) | 32 / 32 |
    ///
    /// then the decision for `probe` (a CSV row `arrival,work,cpu,mem,priority,tenant`); tenant
    /// 1 may use nodes 1 and 3 only.
    fn probe_state(name: &str, probe: &str) -> Simulator {
        let trace = format!(
            "arrival,work,cpu,mem,priority,tenant\n0,30,6,2,0,0\n0,40,2,2,0,0\n0,20,1,4,0,0\n0,20,8,1,0,0\n\
             0,12,10,3,0,0\n{probe}\n"
        );
        let nodes: [(&[f64], f64); 4] =
            [(&[8.0, 8.0], 1.0), (&[8.0, 8.0], 4.0), (&[4.0, 16.0], 2.0), (&[16.0, 4.0], 1.0)];
        let mut cfg = trace_scenario(name, &["cpu", "mem"], &nodes, &trace);
        cfg.workload.tenants = vec![
            TenantConfig { name: "all".into(), prob: 0.5, nodes: None },
            TenantConfig { name: "pinned".into(), prob: 0.5, nodes: Some(vec![1, 3]) },
        ];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        for node in [0, 1, 2, 3, 3] {
            sim.place(node).unwrap();
        }
        assert_eq!(sim.current_task(), Some(5));
        let v = sim.view();
        let load: Vec<(usize, usize, f64)> = v.nodes().map(|n| (n.running, n.queued, n.outstanding_work)).collect();
        assert_eq!(load, [(1, 0, 30.0), (1, 0, 40.0), (1, 0, 20.0), (1, 1, 32.0)]);
        sim
    }

    /// The scalable observation's `packing` columns say what Tetris sees: on `faulty` (nodes go
    /// down and queues build), at every decision of a Tetris episode, "fits now" is the view's
    /// `fits_now` on an up node, and the node Tetris picks has the largest alignment among the
    /// valid nodes where the task fits (the fallback to least-loaded exactly when none does).
    #[test]
    fn the_packing_columns_are_tetris_signals() {
        let mut cfg = crate::scenarios::preset("faulty").unwrap();
        cfg.workload.n_tasks = 300;
        cfg.observation = crate::ObservationKind::Scalable { packing: true, completion: false };
        let mut sim = Simulator::new(&cfg).unwrap();
        let w = sim.compiled().observation_layout().node_width();
        let r = cfg.resources.len();
        let (fits_col, align_col) = (3 * r + 4, 3 * r + 5);
        assert_eq!(w, 3 * r + 6);
        let mut tetris = baseline("tetris").unwrap();
        let (mut fitting_decisions, mut fallbacks, mut down_seen) = (0, 0, 0);
        for seed in 0..3 {
            sim.reset(seed);
            tetris.reset(seed);
            while !sim.is_done() {
                let view = sim.view();
                let mut obs = vec![f32::NAN; view.obs_dim()];
                view.observation(&mut obs);
                let demand = view.task().unwrap().demand;
                let rows: Vec<&[f32]> = obs[..view.n_nodes() * w].chunks(w).collect();
                for (i, row) in rows.iter().enumerate() {
                    let n = view.node(i);
                    down_seen += usize::from(!n.up);
                    assert_eq!(row[fits_col] == 1.0, n.up && n.fits_now(demand), "seed {seed} node {i}");
                }
                let fitting: Vec<usize> =
                    (0..rows.len()).filter(|&i| view.mask()[i] && rows[i][fits_col] == 1.0).collect();
                let pick = tetris.act(&view).unwrap();
                match fitting.iter().map(|&i| rows[i][align_col]).reduce(f32::max) {
                    Some(best) => {
                        fitting_decisions += 1;
                        assert!(fitting.contains(&pick), "seed {seed}: tetris picked {pick}, fitting {fitting:?}");
                        assert!((rows[pick][align_col] - best).abs() <= 1e-6, "seed {seed}");
                    }
                    None => fallbacks += 1,
                }
                sim.place(pick).unwrap();
            }
        }
        assert!(
            fitting_decisions > 100 && fallbacks > 10 && down_seen > 0,
            "{fitting_decisions} {fallbacks} {down_seen}"
        );
    }

    /// The scalable observation's `completion` column says what shortest-expected-delay sees:
    /// on `park-lb` (ten single-slot FIFO servers of different speeds), at every decision of an
    /// SED episode, the column is (outstanding work + the job's work) / speed / time_scale, and
    /// SED's pick has the smallest value among the valid nodes.
    #[test]
    fn the_completion_column_is_sed_signal() {
        let mut cfg = crate::scenarios::preset("park-lb").unwrap();
        cfg.workload.n_tasks = 300;
        cfg.observation = crate::ObservationKind::Scalable { packing: false, completion: true };
        let mut sim = Simulator::new(&cfg).unwrap();
        let layout = sim.compiled().observation_layout().clone();
        let crate::ObservationLayout::Scalable { time_scale, .. } = layout else { unreachable!("scalable") };
        // Park's mean job: (mean of pareto(1.5) = 2, + 1) · 100 = 300 work units, over the mean
        // speed 0.6.
        assert!((time_scale - 500.0).abs() < 25.0, "{time_scale}");
        let (w, col) = (layout.node_width(), layout.node_width() - 1);
        assert_eq!(w, 3 + 4 + 1);
        let mut sed = baseline("shortest-expected-delay").unwrap();
        let (mut decisions, mut not_the_fastest) = (0, 0);
        for seed in 0..2 {
            sim.reset(seed);
            sed.reset(seed);
            while !sim.is_done() {
                let view = sim.view();
                let mut obs = vec![f32::NAN; view.obs_dim()];
                view.observation(&mut obs);
                let work = view.task().unwrap().work;
                let col_of = |i: usize| obs[i * w + col];
                for i in 0..view.n_nodes() {
                    let n = view.node(i);
                    let expected = ((n.outstanding_work + work) / n.speed / time_scale) as f32;
                    assert_eq!(col_of(i), expected, "seed {seed} node {i}");
                }
                let best = (0..view.n_nodes()).filter(|&i| view.mask()[i]).map(col_of).reduce(f32::min).unwrap();
                let pick = sed.act(&view).unwrap();
                assert!((col_of(pick) - best).abs() <= 1e-6 * best.max(1.0), "seed {seed}: sed picked {pick}");
                not_the_fastest += usize::from(pick != 9);
                decisions += 1;
                sim.place(pick).unwrap();
            }
        }
        // The column matters: SED often does not pick the fastest server.
        assert!(decisions == 600 && not_the_fastest > 100, "{decisions} {not_the_fastest}");
    }

    fn pick(name: &str, sim: &Simulator) -> usize {
        let mut p = baseline(name).unwrap();
        assert_eq!(p.name(), name);
        p.reset(0);
        p.act(&sim.view()).unwrap()
    }

    #[test]
    fn deterministic_baselines_pick_by_their_definition() {
        // Probe [2, 2] work 8, every node valid; fits now on 0, 1, 2 (3 has a queue).
        let sim = probe_state("probe_fit.csv", "0,8,2,2,0,0");
        assert_eq!(sim.mask(), &[true, true, true, true]);
        let expected = [
            // Fewest tasks: 1, 1, 1, 2 → lowest index.
            ("least-connections", 0),
            // Least outstanding work: 30, 40, 20, 32.
            ("least-loaded", 2),
            // (outstanding + 8) / speed: 38, 12, 14, 40.
            ("shortest-expected-delay", 1),
            // Mean allocated fraction after placement: 0.75, 0.5, 0.5625 → least.
            ("vm-scheduling", 1),
            // ... → most.
            ("best-fit", 0),
            // Spread of fractions after: [1, .5], [.5, .5], [.75, .375] → most even.
            ("balanced-allocation", 1),
            // Alignment Σ (d/c)(free/c): 0.25, 0.375, 0.46875 → max.
            ("tetris", 2),
        ];
        for (name, node) in expected {
            assert_eq!(pick(name, &sim), node, "{name}");
        }

        // Probe [7, 7]: valid on 0 and 1 (capacity), fits nowhere now → fit-based baselines
        // fall back to least-loaded (30 vs 40); SED still prefers the fast node (38 vs 12).
        let sim = probe_state("probe_nofit.csv", "0,8,7,7,0,0");
        assert_eq!(sim.mask(), &[true, true, false, false]);
        for name in ["vm-scheduling", "best-fit", "balanced-allocation", "tetris", "least-loaded"] {
            assert_eq!(pick(name, &sim), 0, "{name}");
        }
        assert_eq!(pick("shortest-expected-delay", &sim), 1);
        assert_eq!(pick("least-connections", &sim), 0);
    }

    #[test]
    fn baselines_respect_tenant_masks() {
        // The pinned tenant may use nodes 1 and 3 only.
        let sim = probe_state("probe_tenant.csv", "0,8,2,2,0,1");
        assert_eq!(sim.mask(), &[false, true, false, true]);
        let expected = [
            ("least-connections", 1),
            // 40 vs 32: least-loaded ignores speed ...
            ("least-loaded", 3),
            // ... SED does not: 12 vs 40.
            ("shortest-expected-delay", 1),
            ("vm-scheduling", 1),
            ("best-fit", 1),
            ("balanced-allocation", 1),
            ("tetris", 1),
            // Fewer tasks wins: node 1 always.
            ("power-of-two", 1),
        ];
        for (name, node) in expected {
            assert_eq!(pick(name, &sim), node, "{name}");
        }
        let mut rr = baseline("round-robin").unwrap();
        let picks: Vec<usize> = (0..5).map(|_| rr.act(&sim.view()).unwrap()).collect();
        assert_eq!(picks, [1, 3, 1, 3, 1]);
        let mut random = baseline("random").unwrap();
        random.reset(3);
        let picks: Vec<usize> = (0..200).map(|_| random.act(&sim.view()).unwrap()).collect();
        assert!(picks.iter().all(|&n| n == 1 || n == 3));
        assert!(picks.contains(&1) && picks.contains(&3));
    }

    #[test]
    fn round_robin_cycles_and_restarts_each_episode() {
        let sim = probe_state("probe_rr.csv", "0,8,2,2,0,0");
        let mut rr = baseline("round-robin").unwrap();
        let picks: Vec<usize> = (0..6).map(|_| rr.act(&sim.view()).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 3, 0, 1]);
        rr.reset(9);
        assert_eq!(rr.act(&sim.view()).unwrap(), 0);
        let sim = probe_state("probe_rr2.csv", "0,8,7,7,0,0");
        let picks: Vec<usize> = (0..4).map(|_| rr.act(&sim.view()).unwrap()).collect();
        assert_eq!(picks, [1, 0, 1, 0], "skips masked nodes 2 and 3");
    }

    #[test]
    fn random_baselines_are_valid_seeded_and_have_the_right_frequencies() {
        let sim = probe_state("probe_rand.csv", "0,8,2,2,0,0");
        let draws = |name: &str, seed: u64, n: usize| -> Vec<usize> {
            let mut p = baseline(name).unwrap();
            p.reset(seed);
            (0..n).map(|_| p.act(&sim.view()).unwrap()).collect()
        };
        for name in ["random", "power-of-two"] {
            assert_eq!(draws(name, 5, 100), draws(name, 5, 100), "{name}: same seed, same picks");
            assert_ne!(draws(name, 5, 100), draws(name, 6, 100), "{name}: another seed, other picks");
        }
        let freq = |xs: &[usize]| -> Vec<f64> {
            (0..4).map(|n| xs.iter().filter(|&&x| x == n).count() as f64 / xs.len() as f64).collect()
        };
        let n = 12_000;
        // Uniform over the four valid nodes.
        for f in freq(&draws("random", 1, n)) {
            assert!((f - 0.25).abs() < 0.02, "random: {f}");
        }
        // Power of two: of the 12 ordered pairs, node 0 (30 time units) wins only against node 3
        // (2 tasks): 2/12; nodes 1 and 2 (10 time units each; the first drawn wins the tie):
        // 5/12 each; node 3 never.
        let f = freq(&draws("power-of-two", 1, n));
        let want = [2.0 / 12.0, 5.0 / 12.0, 5.0 / 12.0, 0.0];
        for (g, w) in f.iter().zip(want) {
            assert!((g - w).abs() < 0.02, "power-of-two: {f:?}, expected {want:?}");
        }
        // A single valid node is always picked.
        let sim = probe_state("probe_one.csv", "0,8,10,3,0,0");
        assert_eq!(sim.mask(), &[false, false, false, true]);
        for name in BASELINES {
            assert_eq!(pick(name, &sim), 3, "{name}");
        }
    }

    #[test]
    fn every_baseline_completes_restricted_faulty_episodes() {
        let mut cfg = crate::scenarios::seed_case();
        cfg.failures = crate::FailureConfig {
            mtbf: Some(60.0),
            mttr: Some(10.0),
            scheduled: vec![crate::ScheduledFailure { node: 4, at: 3.0, duration: 20.0 }],
        };
        let mut sim = Simulator::new(&cfg).unwrap();
        for name in BASELINES {
            for seed in 0..3 {
                let mut p = baseline(name).unwrap();
                let m = crate::run_episode(&mut sim, p.as_mut(), seed).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.completed, 100, "{name}");
                assert_eq!(m.decisions as usize, 100 + m.retried, "{name}");
            }
        }
    }

    #[test]
    fn unknown_baseline_lists_the_valid_names() {
        let err = baseline("fastest").err().unwrap();
        assert_eq!(err, ClusterError::UnknownBaseline { name: "fastest".into(), valid: BASELINES.join(", ") });
        assert!(err.to_string().starts_with("unknown baseline \"fastest\": valid baselines are random, round-robin"));
    }
}
