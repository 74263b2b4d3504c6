//! `VectorEnv<ClusterEnv>` gives bit-identical results whatever the number of rayon threads, and
//! each of its rows is exactly the single env seeded `seed + i` (autoresets included).

use cluster_env::{ClusterEnv, ScenarioConfig, scenarios};
use gym::{Env, VectorEnv};

/// Everything the vector env exposed after each step, as bits.
#[derive(Debug, PartialEq)]
struct Record {
    obs: Vec<u32>,
    masks: Vec<bool>,
    rewards: Vec<u64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// Per env: final observation and (return bits, length) when its episode ended this step.
    finals: Vec<Option<(Vec<u32>, u64, u64)>>,
    /// Per env: simulated time of the current decision.
    times: Vec<u64>,
}

/// The first valid action of each env's mask row.
fn first_valid(masks: &[bool], n_actions: usize) -> Vec<usize> {
    masks.chunks_exact(n_actions).map(|row| row.iter().position(|&ok| ok).expect("a valid action")).collect()
}

fn run_vector(cfg: &ScenarioConfig, n_envs: usize, seed: u64, steps: usize, threads: usize) -> Vec<Record> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let envs = (0..n_envs).map(|_| ClusterEnv::new(cfg).unwrap()).collect();
        let mut v = VectorEnv::new(envs).unwrap();
        v.reset(seed);
        let n_actions = v.n_actions();
        let mut records = Vec::with_capacity(steps);
        for _ in 0..steps {
            let actions = first_valid(v.masks(), n_actions);
            v.step(&actions).unwrap();
            records.push(Record {
                obs: v.obs().iter().map(|x| x.to_bits()).collect(),
                masks: v.masks().to_vec(),
                rewards: v.rewards().iter().map(|r| r.to_bits()).collect(),
                terminated: v.terminated().to_vec(),
                truncated: v.truncated().to_vec(),
                finals: (0..n_envs)
                    .map(|i| {
                        v.infos()[i].episode.map(|e| {
                            let fin = v.final_obs(i).unwrap().iter().map(|x| x.to_bits()).collect();
                            (fin, e.episode_return.to_bits(), e.length)
                        })
                    })
                    .collect(),
                times: v.infos().iter().map(|info| info.info.time.to_bits()).collect(),
            });
        }
        records
    })
}

/// Env `i` alone: seeded `seed + i`, first valid action, `reset(None)` after each episode.
fn run_single(cfg: &ScenarioConfig, seed: u64, steps: usize) -> (Vec<Vec<u32>>, Vec<u64>, Vec<bool>) {
    let mut env = ClusterEnv::new(cfg).unwrap();
    env.reset(Some(seed));
    let (mut obs, mut rewards, mut ends) = (vec![], vec![], vec![]);
    for _ in 0..steps {
        let action = env.action_mask().iter().position(|&ok| ok).unwrap();
        let s = env.step(action).unwrap();
        let ended = s.terminated || s.truncated;
        rewards.push(s.reward.to_bits());
        ends.push(ended);
        let next = if ended { env.reset(None).0.to_vec() } else { s.obs.to_vec() };
        obs.push(next.iter().map(|x| x.to_bits()).collect());
    }
    (obs, rewards, ends)
}

fn check(cfg: &ScenarioConfig, n_envs: usize, seed: u64, steps: usize) {
    let one = run_vector(cfg, n_envs, seed, steps, 1);
    let four = run_vector(cfg, n_envs, seed, steps, 4);
    assert_eq!(one.len(), four.len());
    for (k, (a, b)) in one.iter().zip(&four).enumerate() {
        assert_eq!(a, b, "{}: step {k} differs between 1 and 4 threads", cfg.name);
    }
    let episodes: usize = one.iter().map(|r| r.finals.iter().flatten().count()).sum();
    assert!(episodes >= n_envs, "{}: only {episodes} episodes ended; autoreset not exercised", cfg.name);
    // Row i is the single env seeded seed + i.
    let dim = one[0].obs.len() / n_envs;
    for i in [0, n_envs - 1] {
        let (obs, rewards, ends) = run_single(cfg, seed + i as u64, steps);
        for (k, r) in one.iter().enumerate() {
            assert_eq!(r.obs[i * dim..(i + 1) * dim], obs[k], "{}: env {i} step {k} obs", cfg.name);
            assert_eq!(r.rewards[i], rewards[k], "{}: env {i} step {k} reward", cfg.name);
            assert_eq!(r.terminated[i] || r.truncated[i], ends[k]);
        }
    }
}

#[test]
fn seed_case_vector_is_thread_count_independent() {
    // 100 tasks per episode: ~3 episodes per env in 300 steps.
    check(&scenarios::seed_case(), 6, 40, 300);
}

#[test]
fn faulty_truncated_vector_is_thread_count_independent() {
    // Failures (random retries) and truncation mixed with termination.
    let mut cfg = scenarios::faulty();
    cfg.workload.n_tasks = 120;
    cfg.failures.mtbf = Some(150.0);
    cfg.max_decisions = Some(90);
    let one = run_vector(&cfg, 5, 7, 400, 1);
    assert!(one.iter().any(|r| r.truncated.contains(&true)), "no truncation happened");
    check(&cfg, 5, 7, 400);
}

#[test]
fn park_vector_is_thread_count_independent() {
    let mut cfg = scenarios::park_lb();
    cfg.workload.n_tasks = 150;
    check(&cfg, 8, 1_000, 400);
}
