//! TD-update and batched-acting time of the default Q-network (11-128-128-10, the cluster
//! env's shape) on the CPU backend.
//!
//! `cargo bench --bench dqn`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dqn::{Agent, DqnConfig, Transitions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OBS_DIM: usize = 11;
const N_ACTIONS: usize = 10;

/// An agent with the default network whose buffer holds 5000 random transitions.
fn filled_agent(batch_size: usize, num_envs: usize) -> Agent {
    let cfg = DqnConfig { batch_size, num_envs, buffer_size: 10_000, ..DqnConfig::default() };
    let mut agent = Agent::new(cfg, OBS_DIM, N_ACTIONS).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = num_envs;
    for _ in 0..5000 / n {
        let obs: Vec<f32> = (0..n * OBS_DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        let next_obs: Vec<f32> = (0..n * OBS_DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
        let actions: Vec<usize> = (0..n).map(|_| rng.random_range(0..N_ACTIONS)).collect();
        let rewards: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let masks: Vec<bool> = (0..n * N_ACTIONS).map(|_| rng.random_bool(0.8)).collect();
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
    targets = td_update, act_batch
}
criterion_main!(benches);
