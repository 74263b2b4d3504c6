//! Batch-1 latency of the burn-free runtime, as a production scheduler calls it: `act` on the
//! default Q-network (11-128-128-10 relu, park-lb's shape) with normalisation, and on a
//! full-layout network for 64 nodes × 3 resources (453-128-128-64), where `act_state` also
//! encodes the cluster state; and the shipped park-lb export (trained weights) when present.
//! Target: ≤ 2 µs for the default network. The node-scoring network (hidden 32-32 and 64-64-64, relu,
//! normalised) deciding on a 1000-node cluster, from an observation and from a cluster state
//! (issue 10's target: ≤ 200 µs per decision). And a validation as the trainer runs it (50
//! park-lb episodes of the shipped export) on 1 and 2 threads.
//!
//! `cargo bench --bench policy`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use policy::{
    Activation, ClusterState, Dense, Export, Mlp, Network, NodeScoring, NodeState, Normalization, ObservationLayout,
    Policy, PolicyMeta, Source, TaskRequest,
};

use cluster_env::{
    ClusterError, ClusterView, CompiledScenario, RewardKind, Scheduler, SchedulerSpec, evaluate_compiled, scenarios,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A relu network with PyTorch-style `U(−1/√fan_in, 1/√fan_in)` weights and normalisation.
fn random_policy(layout: ObservationLayout, hidden: &[usize], rng: &mut ChaCha8Rng) -> Policy {
    let (obs_dim, n_actions) = (layout.obs_dim(), layout.n_nodes());
    let mut dense = |d_in: usize, d_out: usize| {
        let bound = 1.0 / (d_in as f32).sqrt();
        let weight = (0..d_in * d_out).map(|_| rng.random_range(-bound..bound)).collect();
        let bias = (0..d_out).map(|_| rng.random_range(-bound..bound)).collect();
        Dense::new(d_in, d_out, weight, bias).unwrap()
    };
    let mut width = obs_dim;
    let mut layers = Vec::new();
    for &h in hidden {
        layers.push(dense(width, h));
        width = h;
    }
    let mlp = Mlp { hidden: layers, head: dense(width, n_actions), value: None, activation: Activation::Relu };
    let norm = Normalization { mean: vec![0.5; obs_dim], var: vec![2.0; obs_dim], epsilon: 1e-8, clip: 10.0 };
    let meta = PolicyMeta::new("bench", Source::default(), mlp.shape(), Some(norm), layout);
    Policy::from_export(Export { meta, network: Network::Mlp(mlp) }).unwrap()
}

/// A node-scoring relu network with `U(−1/√fan_in, 1/√fan_in)` weights, hidden sizes
/// `[h, h, h]` (embedding h → h, scoring h) when `deep`, else `[h, h]` (embedding h, scoring
/// h, as `experiments/multi-resource-node-scoring.toml`), normalisation of one node row and the
/// task row, on the full layout of [`full_64`] (the layout's 64 nodes are the "trained" count;
/// the policy serves any).
fn node_scoring_policy(rng: &mut ChaCha8Rng, h: usize, deep: bool) -> Policy {
    let layout = full_64();
    let (w, t) = (layout.node_width(), layout.task_width());
    let mut dense = |d_in: usize, d_out: usize, zero_bias: bool| {
        let bound = 1.0 / (d_in as f32).sqrt();
        let weight = (0..d_in * d_out).map(|_| rng.random_range(-bound..bound)).collect();
        let bias = (0..d_out).map(|_| if zero_bias { 0.0 } else { rng.random_range(-bound..bound) }).collect();
        Dense::new(d_in, d_out, weight, bias).unwrap()
    };
    let net = NodeScoring {
        embed_node: dense(w, h, false),
        embed_task: dense(t, h, true),
        embed: if deep { vec![dense(h, h, false)] } else { vec![] },
        score_node: dense(h, h, false),
        score_pool: dense(2 * h, h, true),
        head: dense(h, 1, false),
        value: None,
        activation: Activation::Relu,
    };
    let norm = Normalization { mean: vec![0.5; w + t], var: vec![2.0; w + t], epsilon: 1e-8, clip: 10.0 };
    let meta = PolicyMeta::new("bench", Source::default(), net.shape(layout.n_nodes()), Some(norm), layout);
    Policy::from_export(Export { meta, network: Network::NodeScoring(net) }).unwrap()
}

fn park_lb() -> ObservationLayout {
    ObservationLayout::Park { n_nodes: 10, resources: vec!["slot".into()], high: 500_000.0 }
}

fn full_64() -> ObservationLayout {
    ObservationLayout::Full {
        n_nodes: 64,
        resources: vec!["cpu".into(), "mem".into(), "net".into()],
        time_scale: 40.0,
        max_speed: 2.0,
        max_capacity: vec![32.0; 3],
        mean_work: 40.0,
        max_weight: 3.0,
        tasks_scale: 10.0,
    }
}

/// A 64-node cluster with random usage and queues.
fn state_64(rng: &mut ChaCha8Rng) -> ClusterState {
    state_of(64, rng)
}

/// An `n`-node cluster (3 resources) with random usage and queues.
fn state_of(n: usize, rng: &mut ChaCha8Rng) -> ClusterState {
    ClusterState {
        nodes: (0..n)
            .map(|id| NodeState {
                id,
                capacity: vec![8.0, 16.0, 32.0],
                usage: (0..3).map(|_| rng.random_range(0.0..8.0)).collect(),
                speed: [0.75, 1.0, 2.0][id % 3],
                up: true,
                queued_tasks: rng.random_range(0..4),
                queued_work: rng.random_range(0.0..200.0),
                running_tasks: rng.random_range(0..3),
                running_work: rng.random_range(0.0..100.0),
            })
            .collect(),
        task: TaskRequest { id: 1, priority: 1.0, demands: vec![2.0, 4.0, 1.0], size: 30.0, allowed_nodes: None },
    }
}

fn act(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut group = c.benchmark_group("policy_act_batch1");

    let mut p = random_policy(park_lb(), &[128, 128], &mut rng);
    let obs: Vec<f32> = (0..11).map(|_| rng.random_range(0.0..2000.0)).collect();
    let mask = vec![true; 10];
    group.bench_function("11-128-128-10_relu_norm", |b| b.iter(|| p.act(std::hint::black_box(&obs), &mask).unwrap()));

    // The shipped park-lb export: trained weights, so a realistic share of ReLU zeros.
    if let Ok(mut shipped) = Policy::load("checkpoints/shipped-park-lb-export") {
        let obs = [900.0, 350.0, 0.0, 120.0, 2400.0, 0.0, 15000.0, 800.0, 60.0, 0.0, 210.0];
        group.bench_function("shipped-park-lb-export", |b| {
            b.iter(|| shipped.act(std::hint::black_box(&obs), &mask).unwrap())
        });
    }

    let mut p = random_policy(full_64(), &[128, 128], &mut rng);
    let obs: Vec<f32> = (0..p.obs_dim()).map(|_| rng.random_range(0.0..1.0)).collect();
    let mask = vec![true; 64];
    group.bench_function("453-128-128-64_relu_norm", |b| b.iter(|| p.act(std::hint::black_box(&obs), &mask).unwrap()));
    let state = state_64(&mut rng);
    group.bench_function("453-128-128-64_act_state", |b| {
        b.iter(|| p.act_state(std::hint::black_box(&state)).unwrap().0)
    });

    // Node-scoring at 1000 nodes: the first call grows the buffers, the timed ones reuse them.
    let n = 1000;
    let obs: Vec<f32> = (0..n * 7 + 5).map(|_| rng.random_range(0.0..1.0)).collect();
    let mask = vec![true; n];
    let mut small = node_scoring_policy(&mut rng, 32, false);
    small.act(&obs, &mask).unwrap();
    group.bench_function("node-scoring_32-32_relu_norm_n1000", |b| {
        b.iter(|| small.act(std::hint::black_box(&obs), &mask).unwrap())
    });
    let mut p = node_scoring_policy(&mut rng, 64, true);
    p.act(&obs, &mask).unwrap();
    group.bench_function("node-scoring_64-64-64_relu_norm_n1000", |b| {
        b.iter(|| p.act(std::hint::black_box(&obs), &mask).unwrap())
    });
    let state = state_of(n, &mut rng);
    p.act_state(&state).unwrap();
    group.bench_function("node-scoring_64-64-64_act_state_n1000", |b| {
        b.iter(|| p.act_state(std::hint::black_box(&state)).unwrap().0)
    });
    group.finish();
}

/// The shipped park-lb export as a scheduler: one clone of the runtime per episode, as the
/// trainer's validation and `cluster-rl eval` run it.
struct Learned {
    runtime: Policy,
    obs: Vec<f32>,
}

impl Scheduler for Learned {
    fn name(&self) -> &str {
        "dqn"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        view.observation(&mut self.obs);
        self.runtime.act(&self.obs, view.mask()).map_err(|e| ClusterError::PolicyFailed {
            policy: "dqn".into(),
            task: 0,
            message: e.to_string(),
        })
    }
}

/// A validation as `cluster-rl train` runs it: 50 park-lb episodes of the greedy policy, in
/// parallel over rayon's workers, with 1 and 2 threads (the speed-up is the ratio).
fn validation(c: &mut Criterion) {
    let Ok(shipped) = Policy::load("checkpoints/shipped-park-lb-export") else { return };
    let mut cfg = scenarios::park_lb();
    cfg.reward = RewardKind::AttributedJct;
    let compiled = CompiledScenario::new(&cfg).unwrap();
    let spec = SchedulerSpec {
        name: "dqn".into(),
        make: Arc::new(move || {
            let obs = vec![0.0; shipped.obs_dim()];
            Box::new(Learned { runtime: shipped.clone(), obs }) as Box<dyn Scheduler>
        }),
    };
    let seeds: Vec<u64> = (2_000_000..2_000_050).collect();
    let mut group = c.benchmark_group("validation_50_park_lb");
    group.sample_size(10);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| pool.install(|| evaluate_compiled(&compiled, std::slice::from_ref(&spec), &seeds, None).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, act, validation);
criterion_main!(benches);
