//! Clusters drawn per episode (`count = [lo, hi]`): the draw, padding, the offered load, the
//! heuristics, exact resume, and the scalable presets' shared constants.

use std::collections::BTreeSet;

use gym::{Env, Snapshot};
use policy_core::ObservationLayout;

use crate::config::{NodeCount, ScenarioConfig, ScheduledFailure};
use crate::error::ClusterError;
use crate::scenarios;
use crate::{BASELINES, ClusterEnv, CompiledScenario, Simulator, baseline, run_episode};

/// `multi-resource-var` with short episodes.
fn var(n_tasks: usize) -> ScenarioConfig {
    let mut cfg = scenarios::preset("multi-resource-var").unwrap();
    cfg.workload.n_tasks = n_tasks;
    cfg
}

#[test]
fn a_seed_draws_the_same_cluster_and_the_draws_cover_the_ranges() {
    let cfg = var(5);
    assert_eq!(cfg.n_nodes(), 32);
    let (mut a, mut b) = (Simulator::new(&cfg).unwrap(), Simulator::new(&cfg).unwrap());
    assert_eq!(a.compiled().n_nodes(), 32);
    let mut seen: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); 4];
    let mut totals = BTreeSet::new();
    for seed in 0..400 {
        a.reset(seed);
        b.reset(1000 + seed); // another episode in between must not matter
        b.reset(seed);
        assert_eq!(a.node_counts(), b.node_counts(), "seed {seed}");
        let counts = a.node_counts().to_vec();
        assert!((3..=11).contains(&counts[0]) && (3..=11).contains(&counts[1]), "{counts:?}");
        assert!((1..=5).contains(&counts[2]) && (1..=5).contains(&counts[3]), "{counts:?}");
        assert_eq!(a.episode_nodes(), counts.iter().sum::<usize>());
        assert_eq!(a.mask().len(), 32, "actions sized for the largest draw");
        for (s, c) in seen.iter_mut().zip(&counts) {
            s.insert(*c);
        }
        totals.insert(a.episode_nodes());
    }
    // Every count of every range is drawn (a miss has probability < 400 · (8/9)^400).
    assert_eq!(seen[0], (3..=11).collect());
    assert_eq!(seen[1], (3..=11).collect());
    assert_eq!(seen[2], (1..=5).collect());
    assert_eq!(seen[3], (1..=5).collect());
    let (lo, hi) = (*totals.first().unwrap(), *totals.last().unwrap());
    assert!((8..=12).contains(&lo) && (28..=32).contains(&hi), "sizes {lo}..={hi}");
    // A different seed draws another cluster (not every seed the same).
    assert!(totals.len() > 10);
}

/// The draw uses its own stream: the workload of a seed is the same whatever cluster it runs
/// on, so the drawn scenario at its largest draw generates multi-resource-x…'s tasks exactly.
#[test]
fn drawing_the_cluster_leaves_the_workload_stream_alone() {
    let fixed = {
        let mut cfg = scenarios::multi_resource();
        cfg.workload.n_tasks = 50;
        cfg.workload.arrivals = crate::Arrivals::Poisson { rate: 0.5 };
        cfg
    };
    let mut drawn = fixed.clone();
    for g in &mut drawn.nodes {
        g.count = NodeCount::Range { lo: 1, hi: g.count.hi() };
    }
    let (mut a, mut b) = (Simulator::new(&fixed).unwrap(), Simulator::new(&drawn).unwrap());
    for seed in 0..5 {
        a.reset(seed);
        b.reset(seed);
        // First decision: the first task, identical in both.
        let (ta, tb) = (a.view().task().unwrap(), b.view().task().unwrap());
        assert_eq!((ta.arrival, ta.work, ta.demand, ta.class), (tb.arrival, tb.work, tb.demand, tb.class));
    }
}

#[test]
fn padded_rows_are_zero_and_masked() {
    let mut env = ClusterEnv::new(&var(40)).unwrap();
    let layout = env.observation_layout().clone();
    assert!(matches!(layout, ObservationLayout::Scalable { n_nodes: 32, .. }));
    let (w, col) = (layout.node_width(), layout.present_column().unwrap());
    assert_eq!((w, col), (13, 11));
    assert_eq!(env.action_space().n, 32);
    let mut checked = 0;
    for seed in 0..6 {
        env.reset(Some(seed));
        let real = env.simulator().episode_nodes();
        for _ in 0..30 {
            let obs = obs_of(env.simulator());
            let mask = env.action_mask().to_vec();
            for (i, row) in obs[..32 * w].chunks(w).enumerate() {
                if i < real {
                    assert!(row[col] > 0.0, "seed {seed}: real node {i} reads absent");
                } else {
                    assert!(row.iter().all(|&v| v == 0.0), "seed {seed}: padded row {i} is {row:?}");
                    assert!(!mask[i], "seed {seed}: padded slot {i} is a valid action");
                }
            }
            if real < 32 {
                // Choosing a padded slot is an invalid action like any masked node: an error that
                // changes nothing.
                let before = env.save_state();
                let err = env.step(real).unwrap_err();
                assert!(matches!(err, gym::EnvError::ActionMasked { action, .. } if action == real), "{err:?}");
                assert_eq!(env.save_state(), before);
                checked += 1;
            }
            let a = mask.iter().position(|&ok| ok).unwrap();
            let (obs, end) = {
                let s = env.step(a).unwrap();
                (s.obs.to_vec(), s.terminated || s.truncated)
            };
            assert_eq!(obs, obs_after(&env), "the env's observation is the view's");
            if end {
                break;
            }
        }
    }
    assert!(checked > 0, "no episode had padding");
}

fn obs_after(env: &ClusterEnv) -> Vec<f32> {
    obs_of(env.simulator())
}

/// The observation of the simulator's current state, through its view.
fn obs_of(sim: &Simulator) -> Vec<f32> {
    let view = sim.view();
    let mut out = vec![f32::NAN; view.obs_dim()];
    view.observation(&mut out);
    out
}

/// The arrival rate follows the drawn cluster: rate · (mean work · mean demand) / supply of the
/// bottleneck is the scenario's 0.9 at every size. multi-resource's shapes supply, per
/// resource, 8 (8 × speed 1), 16, 16 (8 × 2) and 24 (32 × 0.75) per node; a task's mean work is
/// 0.8 · 20 + 0.2 · 125 = 41 and its mean demand of each resource 8 · (0.375 / 3 + 2 · 0.075 / 3)
/// = 1.4.
#[test]
fn the_offered_load_is_the_same_at_every_drawn_size() {
    let mut sim = Simulator::new(&var(5)).unwrap();
    let mut sizes = BTreeSet::new();
    for seed in 0..50 {
        sim.reset(seed);
        let c = sim.node_counts().to_vec();
        let supply = (8 * c[0] + 16 * c[1] + 16 * c[2] + 24 * c[3]) as f64;
        let rate = sim.arrival_rate().expect("a drawn cluster sets its rate");
        let load = rate * 41.0 * 1.4 / supply;
        assert!((load - 0.9).abs() < 1e-12, "seed {seed}, counts {c:?}: load {load}");
        sizes.insert(sim.episode_nodes());
    }
    assert!(sizes.len() > 5);
    // At multi-resource's own counts, exactly multi-resource's rate (the same sums).
    let mut fixed = scenarios::multi_resource();
    fixed.workload.n_tasks = 5;
    let mut cfg = var(5);
    for (g, f) in cfg.nodes.iter_mut().zip(&fixed.nodes) {
        g.count = NodeCount::Range { lo: f.count.hi(), hi: f.count.hi() };
    }
    let (mut a, mut b) = (Simulator::new(&fixed).unwrap(), Simulator::new(&cfg).unwrap());
    for seed in 0..5 {
        a.reset(seed);
        b.reset(seed);
        let rate = b.arrival_rate().unwrap();
        assert!((rate / (0.9 * 176.0 / (41.0 * 1.4)) - 1.0).abs() < 1e-12, "{rate}");
        // Same cluster, same rate, same stream: the same arrivals.
        let mut rewards = (Vec::new(), Vec::new());
        while !a.is_done() {
            let n = a.mask().iter().position(|&ok| ok).unwrap();
            rewards.0.push(a.place(n).unwrap());
            rewards.1.push(b.place(n).unwrap());
        }
        assert_eq!(rewards.0, rewards.1);
        assert_eq!(a.metrics(), b.metrics());
    }
}

#[test]
fn every_heuristic_completes_variable_size_episodes() {
    let cfg = var(300);
    let mut sim = Simulator::new(&cfg).unwrap();
    for name in BASELINES {
        let mut policy = baseline(name).unwrap();
        for seed in 0..3 {
            // run_episode fails if the policy ever picks a masked (or padded) slot.
            let m = run_episode(&mut sim, policy.as_mut(), seed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((m.completed, m.unfinished, m.tasks), (300, 0, 300), "{name} seed {seed}");
            assert!(m.error.is_none());
            // Utilisation counts the episode's real nodes only: at most 1.
            assert!(m.utilisation.iter().all(|&u| (0.0..=1.0).contains(&u)), "{name}: {:?}", m.utilisation);
        }
    }
}

#[test]
fn a_restored_variable_size_episode_continues_exactly() {
    let cfg = var(400);
    let run = |sim: &mut Simulator, k: usize| {
        let mut picks = Vec::new();
        while !sim.is_done() && picks.len() < k {
            let n = sim.mask().len();
            let start = (picks.len() * 7) % n;
            let node = (0..n).map(|i| (start + i) % n).find(|&i| sim.mask()[i]).unwrap();
            sim.place(node).unwrap();
            picks.push(node);
        }
        picks
    };
    let mut a = Simulator::new(&cfg).unwrap();
    a.reset(11);
    run(&mut a, 137);
    let bytes = a.save_state();
    let mut b = Simulator::new(&cfg).unwrap();
    // Another episode on (almost certainly) another cluster: everything must be replaced.
    b.reset(12);
    assert_ne!(a.node_counts(), b.node_counts());
    b.load_state(&bytes).unwrap();
    assert_eq!(b.node_counts(), a.node_counts());
    assert_eq!(b.save_state(), bytes);
    assert_eq!(run(&mut a, usize::MAX), run(&mut b, usize::MAX));
    assert_eq!(a.metrics(), b.metrics());

    // Through the env too (observation re-encoded from the restored cluster).
    let mut e1 = ClusterEnv::new(&cfg).unwrap();
    e1.reset(Some(5));
    for _ in 0..50 {
        let n = e1.action_mask().iter().rposition(|&ok| ok).unwrap();
        e1.step(n).unwrap();
    }
    let state = e1.save_state();
    let mut e2 = ClusterEnv::new(&cfg).unwrap();
    e2.reset(Some(6));
    e2.load_state(&state).unwrap();
    let obs1 = obs_of(e1.simulator());
    assert_eq!(obs1, obs_of(e2.simulator()));
    loop {
        let n = e1.action_mask().iter().rposition(|&ok| ok).unwrap();
        let (s1, s2) = (e1.step(n).unwrap().clone_parts(), e2.step(n).unwrap().clone_parts());
        assert_eq!(s1, s2);
        if s1.2 {
            break;
        }
    }

    // Counts outside the scenario's ranges, or missing, are refused and change nothing.
    let mut c = Simulator::new(&cfg).unwrap();
    c.reset(3);
    let before = c.save_state();
    let body = &bytes[..bytes.len() - 5]; // the counts: a length and four one-byte varints
    let mut bad = body.to_vec();
    bad.extend(postcard::to_stdvec(&vec![12u64, 3, 1, 1]).unwrap());
    let e = c.load_state(&bad).unwrap_err().to_string();
    assert!(e.contains("12 nodes in group 0, whose count is [3, 11]"), "{e}");
    assert!(c.load_state(body).unwrap_err().to_string().contains("node counts do not decode"));
    assert_eq!(c.save_state(), before);
    // A fixed-size scenario's state has no counts after it, and refuses any.
    let fixed = scenarios::multi_resource();
    let mut f = Simulator::new(&fixed).unwrap();
    f.reset(1);
    let mut extra = f.save_state();
    extra.push(0);
    assert!(f.load_state(&extra).unwrap_err().to_string().contains("1 bytes after the state"));
}

/// What a step reports, owned, for comparing two envs.
trait CloneParts {
    fn clone_parts(&self) -> (Vec<f32>, f64, bool);
}

impl CloneParts for gym::Step<'_, crate::ClusterInfo> {
    fn clone_parts(&self) -> (Vec<f32>, f64, bool) {
        (self.obs.to_vec(), self.reward, self.terminated || self.truncated)
    }
}

#[test]
fn count_ranges_parse_and_validate_naming_the_field() {
    let toml_count = |count: &str| -> Result<NodeCount, String> {
        #[derive(serde::Deserialize)]
        struct G {
            count: NodeCount,
        }
        let json: serde_json::Value = serde_json::from_str(&format!("{{\"count\": {count}}}")).unwrap();
        serde_json::from_value::<G>(json).map(|g| g.count).map_err(|e| e.to_string())
    };
    assert_eq!(toml_count("4"), Ok(NodeCount::Fixed(4)));
    assert_eq!(toml_count("[3, 11]"), Ok(NodeCount::Range { lo: 3, hi: 11 }));
    assert!(toml_count("-1").unwrap_err().contains("-1 is negative"));
    assert!(toml_count("[3]").unwrap_err().contains("a range of two counts [lo, hi]"));
    assert!(toml_count("[3, 4, 5]").unwrap_err().contains("a range of two counts [lo, hi]"));
    assert!(toml_count("\"many\"").unwrap_err().contains("a node count (an integer >= 0) or an inclusive range"));
    // Serialised as written.
    let cfg = var(10);
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(json["nodes"][0]["count"], serde_json::json!([3, 11]));
    assert_eq!(serde_json::to_value(scenarios::multi_resource()).unwrap()["nodes"][0]["count"], 4);
    assert_eq!(serde_json::from_value::<ScenarioConfig>(json).unwrap(), cfg);

    let field = |c: &ScenarioConfig| match c.validate() {
        Err(ClusterError::InvalidConfig { field, value, allowed }) => (field, value, allowed),
        other => panic!("expected an invalid-config error, got {other:?}"),
    };
    let mut c = var(10);
    c.nodes[2].count = NodeCount::Range { lo: 5, hi: 4 };
    assert_eq!(
        field(&c),
        ("nodes[2].count".into(), "[5, 4]".into(), "a range [lo, hi] with lo <= hi <= 1000000".into())
    );
    c.nodes[2].count = NodeCount::Range { lo: 1, hi: crate::MAX_NODES + 1 };
    assert_eq!(field(&c).0, "nodes[2].count");
    let mut c = var(10);
    c.nodes.iter_mut().for_each(|g| g.count = NodeCount::Range { lo: 0, hi: 2 });
    assert_eq!(field(&c).0, "nodes");
    // A group that may be absent is fine while the others hold every task.
    let mut c = var(10);
    c.nodes[3].count = NodeCount::Range { lo: 0, hi: 5 };
    c.validate().unwrap();
    // Only the big group holds a task of 20 cpus: it must be in every draw.
    c.workload.demand = crate::DemandConfig::Ranges { ranges: vec![[1.0, 20.0], [1.0, 2.0], [1.0, 2.0]] };
    assert_eq!(field(&c).0, "workload.demand");
    c.nodes[3].count = NodeCount::Range { lo: 1, hi: 5 };
    c.validate().unwrap();
    // Node indices mean nothing when the cluster changes.
    let mut c = var(10);
    c.failures.scheduled = vec![ScheduledFailure { node: 0, at: 1.0, duration: 1.0 }];
    assert_eq!(field(&c).0, "failures.scheduled");
    let mut c = var(10);
    c.workload.tenants = vec![crate::TenantConfig { name: "any".into(), prob: 1.0, nodes: Some(vec![0, 1]) }];
    assert_eq!(field(&c).0, "workload.tenants[0].nodes");
}

/// Random failures on a drawn cluster: only real nodes fail, and every task still completes.
#[test]
fn failures_on_a_drawn_cluster_complete_every_task() {
    let mut cfg = var(300);
    cfg.failures.mtbf = Some(300.0);
    cfg.failures.mttr = Some(20.0);
    let mut sim = Simulator::new(&cfg).unwrap();
    let mut policy = baseline("least-loaded").unwrap();
    for seed in 0..3 {
        let m = run_episode(&mut sim, policy.as_mut(), seed).unwrap();
        assert_eq!(m.completed, 300);
        assert!(m.retried > 0 || seed > 0, "failures happen");
    }
}

/// The transfer evaluation encodes every multi-resource-* preset with multi-resource-var's
/// constants: they must be the same, coming only from node shapes and the workload. By hand:
/// mean work 41, mean group speed (1 + 1 + 2 + 0.75) / 4 = 1.1875, fastest 2, largest
/// capacity 32 each, largest weight 3.
#[test]
fn the_scalable_presets_share_their_constants() {
    let constants = |name: &str| {
        let mut cfg = scenarios::preset(name).unwrap();
        cfg.workload.n_tasks = 10;
        let layout = CompiledScenario::new(&cfg).unwrap().observation_layout().clone();
        let n = layout.n_nodes();
        (layout.with_n_nodes(1), n)
    };
    let (var_layout, n) = constants("multi-resource-var");
    assert_eq!(n, 32);
    assert_eq!(
        var_layout,
        ObservationLayout::Scalable {
            n_nodes: 1,
            resources: vec!["cpu".into(), "mem".into(), "net".into()],
            time_scale: 41.0 / 1.1875,
            max_speed: 2.0,
            max_capacity: vec![32.0; 3],
            mean_work: 41.0,
            max_weight: 3.0,
            tasks_scale: 10.0,
            packing: false,
            completion: false,
        }
    );
    for (name, nodes) in [("multi-resource-x1", 12), ("multi-resource-x4", 48), ("multi-resource-x10", 120)] {
        assert_eq!(constants(name), (var_layout.clone(), nodes), "{name}");
        let cfg = scenarios::preset(name).unwrap();
        assert_eq!(cfg.workload.n_tasks, 1000 * nodes / 12, "{name}");
        assert_eq!(cfg.workload.arrivals, scenarios::multi_resource().workload.arrivals);
    }
    let large = scenarios::preset("large-scalable").unwrap();
    assert_eq!(
        (large.n_nodes(), large.observation),
        (1000, crate::ObservationKind::Scalable { packing: false, completion: false })
    );
    assert_eq!(large.workload, scenarios::large().workload);
}
