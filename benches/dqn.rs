//! TD-update and batched-acting time of the default Q-network (11-128-128-10, the cluster
//! env's shape) on the CPU backend, and the TD update of the node-scoring network beside the
//! MLP's on a 12-node scalable observation (issue 10: at most 4× the MLP's).
//!
//! `cargo bench --bench dqn`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dqn::{Agent, DqnConfig, NetworkKind, NodeRows, Transitions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OBS_DIM: usize = 11;
const N_ACTIONS: usize = 10;

/// An agent with the default network whose buffer holds 5000 random transitions.
fn filled_agent(batch_size: usize, num_envs: usize) -> Agent {
    let cfg = DqnConfig { batch_size, num_envs, buffer_size: 10_000, ..DqnConfig::default() };
    fill(Agent::new(cfg, OBS_DIM, N_ACTIONS).unwrap(), OBS_DIM, N_ACTIONS)
}

/// `agent` (observations of `obs_dim`, `n_actions` actions) after 5000 random transitions.
fn fill(mut agent: Agent, obs_dim: usize, n_actions: usize) -> Agent {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = agent.config().num_envs;
    for _ in 0..5000 / n {
        let obs: Vec<f32> = (0..n * obs_dim).map(|_| rng.random_range(0.05..1.0)).collect();
        let next_obs: Vec<f32> = (0..n * obs_dim).map(|_| rng.random_range(0.05..1.0)).collect();
        let actions: Vec<usize> = (0..n).map(|_| rng.random_range(0..n_actions)).collect();
        let rewards: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut masks: Vec<bool> = (0..n * n_actions).map(|_| rng.random_bool(0.8)).collect();
        masks.chunks_exact_mut(n_actions).for_each(|m| m[0] = true);
        let terminated: Vec<bool> = (0..n).map(|_| rng.random_bool(0.02)).collect();
        agent
            .observe(&Transitions {
                obs: &obs,
                actions: &actions,
                rewards: &rewards,
                next_obs: &next_obs,
                next_masks: &masks,
                terminated: &terminated,
                truncated: &vec![false; n],
            })
            .unwrap();
    }
    agent
}

fn td_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("td_update_11-128-128-10");
    for batch in [32, 128, 512] {
        let mut agent = filled_agent(batch, 1);
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, _| b.iter(|| agent.update().unwrap()));
    }
    group.finish();
}

/// multi-resource with the scalable observation: 12 node rows of 13 values, a task row of 5.
const ROWS: NodeRows = NodeRows { node_width: 13, task_width: 5, present_column: None, fits_now_column: None };

/// TD update, batch 128, on the 12-node scalable observation (161 values): the MLP of the
/// shipped experiments (128-128) beside the node-scoring network of
/// `experiments/multi-resource-node-scoring.toml` (32-32) and a wider one (64-64-64).
fn td_update_node_scoring(c: &mut Criterion) {
    let (obs_dim, n) = (12 * 13 + 5, 12);
    let base =
        DqnConfig { batch_size: 128, num_envs: 8, buffer_size: 10_000, normalize_obs: true, ..DqnConfig::default() };
    let mut group = c.benchmark_group("td_update_12_nodes_batch_128");
    let cases = [
        ("mlp-128-128", NetworkKind::Mlp, vec![128, 128]),
        ("node-scoring-32-32", NetworkKind::NodeScoring, vec![32, 32]),
        ("node-scoring-64-64-64", NetworkKind::NodeScoring, vec![64, 64, 64]),
    ];
    for (name, network, hidden_sizes) in cases {
        let cfg = DqnConfig { network, hidden_sizes, ..base.clone() };
        let mut agent = fill(Agent::with_node_rows(cfg, obs_dim, n, ROWS).unwrap(), obs_dim, n);
        group.bench_function(name, |b| b.iter(|| agent.update().unwrap()));
    }
    group.finish();
}

fn act_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("act_batch_greedy_11-128-128-10");
    for n_envs in [1, 16, 64] {
        let mut agent = filled_agent(32, n_envs);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let obs: Vec<f32> = (0..n_envs * OBS_DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        let masks = vec![true; n_envs * N_ACTIONS];
        group.bench_with_input(BenchmarkId::from_parameter(n_envs), &n_envs, |b, &n| {
            // ε = 1 at step 5000 of the default schedule would mostly skip the network: time
            // the greedy path, which always runs the forward pass.
            b.iter(|| agent.greedy_actions(&obs, &masks, n).unwrap()[0])
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = td_update, td_update_node_scoring, act_batch
}
criterion_main!(benches);
