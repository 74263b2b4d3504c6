//! The node-scoring agent: it learns a placement rule from a few thousand decisions on
//! clusters of several sizes padded to the largest, its burn forward pass is the host
//! network's at any node count, and it survives a save and a load.

use dqn::{Agent, DqnConfig, Network, NetworkKind, NodeRows, SaveOptions, Transitions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Slots of the padded observation (the largest cluster).
const SLOTS: usize = 8;
/// Node row: `[speed, free]`; task row: `[1]`. Speed (column 0) is > 0 for every real node.
const ROWS: NodeRows = NodeRows { node_width: 2, task_width: 1, present_column: Some(0), fits_now_column: None };
const OBS_DIM: usize = SLOTS * 2 + 1;

/// One decision (a one-step episode: n-step windows end at once): `n` real nodes (3 ≤ n ≤ 8) with speeds in [0.1, 1], each free with
/// probability 0.7 (at least one is); padded slots are zero rows. The mask allows the free real
/// nodes; the reward of node i is its speed divided by the fastest free node's, so the best
/// rule is "the fastest free node".
fn decision(rng: &mut ChaCha8Rng, slots: usize) -> (Vec<f32>, Vec<bool>, usize) {
    let n = rng.random_range(3..=slots);
    let mut obs = vec![0.0f32; slots * 2 + 1];
    let mut mask = vec![false; slots];
    for i in 0..n {
        obs[2 * i] = rng.random_range(0.1f32..1.0);
        let free = rng.random::<f64>() < 0.7;
        obs[2 * i + 1] = if free { 1.0 } else { 0.0 };
        mask[i] = free;
    }
    if !mask.contains(&true) {
        mask[0] = true;
        obs[1] = 1.0;
    }
    obs[slots * 2] = 1.0;
    (obs, mask, n)
}

fn reward(obs: &[f32], mask: &[bool], action: usize) -> f64 {
    let best = (0..mask.len()).filter(|&i| mask[i]).map(|i| obs[2 * i]).fold(0.0f32, f32::max);
    f64::from(obs[2 * action] / best)
}

fn fastest(obs: &[f32], mask: &[bool]) -> usize {
    (0..mask.len()).filter(|&i| mask[i]).max_by(|&a, &b| obs[2 * a].total_cmp(&obs[2 * b])).unwrap()
}

fn cfg() -> DqnConfig {
    DqnConfig {
        seed: 5,
        num_envs: 8,
        total_timesteps: 8000,
        learning_rate: 2e-3,
        buffer_size: 4000,
        batch_size: 64,
        learning_starts: 256,
        target_network_frequency: 50,
        exploration_fraction: 0.3,
        network: NetworkKind::NodeScoring,
        hidden_sizes: vec![16, 16],
        ..DqnConfig::default()
    }
}

/// Trains `agent` on `iterations` batches of 8 one-decision episodes.
fn train(agent: &mut Agent, rng: &mut ChaCha8Rng, iterations: usize) {
    for it in 0..iterations {
        let (mut obs, mut masks) = (Vec::new(), Vec::new());
        for _ in 0..8 {
            let (o, m, _) = decision(rng, SLOTS);
            obs.extend(o);
            masks.extend(m);
        }
        let actions = agent.act_batch(&obs, &masks, 8).unwrap().to_vec();
        let rewards: Vec<f64> = (0..8)
            .map(|e| reward(&obs[e * OBS_DIM..(e + 1) * OBS_DIM], &masks[e * SLOTS..(e + 1) * SLOTS], actions[e]))
            .collect();
        agent
            .observe(&Transitions {
                obs: &obs,
                actions: &actions,
                rewards: &rewards,
                next_obs: &obs,
                next_masks: &masks,
                terminated: &[true; 8],
                truncated: &[false; 8],
            })
            .unwrap();
        if agent.global_step() >= 256 {
            agent.update().unwrap();
        }
        if it % 10 == 0 {
            agent.update_target();
        }
    }
}

/// Share of `k` fresh padded decisions on which the greedy action is the fastest free node.
fn accuracy(agent: &mut Agent, rng: &mut ChaCha8Rng, k: usize) -> f64 {
    let hits = (0..k)
        .filter(|_| {
            let (obs, mask, _) = decision(rng, SLOTS);
            agent.greedy_action(&obs, &mask).unwrap() == fastest(&obs, &mask)
        })
        .count();
    hits as f64 / k as f64
}

#[test]
fn learns_the_fastest_free_node_on_padded_clusters_and_serves_larger_ones() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = Agent::with_node_rows(cfg(), OBS_DIM, SLOTS, ROWS).unwrap();
    assert_eq!(agent.network_config().to_string(), "17-16-16-8 relu node-scoring 2+1");
    let before = accuracy(&mut agent, &mut ChaCha8Rng::seed_from_u64(99), 400);
    train(&mut agent, &mut rng, 600);
    let after = accuracy(&mut agent, &mut ChaCha8Rng::seed_from_u64(99), 400);
    assert!(after >= 0.9, "greedy accuracy {after} after training (before: {before})");

    // The same weights on clusters of 20 and 100 nodes (no padding, host network): the rule
    // carries over to sizes it never saw.
    let Network::NodeScoring(host) = agent.online().to_host().unwrap() else { panic!("node-scoring") };
    for n in [20usize, 100] {
        let mut hits = 0;
        for _ in 0..200 {
            let mut obs = vec![0.0f32; 2 * n + 1];
            let mut mask = vec![false; n];
            for i in 0..n {
                obs[2 * i] = rng.random_range(0.1f32..1.0);
                mask[i] = rng.random::<f64>() < 0.7;
                obs[2 * i + 1] = if mask[i] { 1.0 } else { 0.0 };
            }
            mask[0] = true;
            obs[1] = 1.0;
            obs[2 * n] = 1.0;
            let q = host.forward(&obs, None);
            if dqn::masked_argmax(&q, &mask) == Some(fastest(&obs, &mask)) {
                hits += 1;
            }
        }
        assert!(hits >= 160, "{hits}/200 right at {n} nodes");
    }
}

#[test]
fn burn_and_host_forward_agree_with_padding_and_normalisation() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let cfg = DqnConfig { dueling: true, normalize_obs: true, hidden_sizes: vec![8, 6, 5], ..cfg() };
    let mut agent = Agent::with_node_rows(cfg, OBS_DIM, SLOTS, ROWS).unwrap();
    // Feed the statistics (and take a few steps) so normalisation is not the identity.
    train(&mut agent, &mut rng, 60);
    let stats = agent.obs_stats().unwrap().clone();
    assert_eq!(stats.dim(), 3, "statistics per node feature and task feature, shared by every node");
    let Network::NodeScoring(host) = agent.online().to_host().unwrap() else { panic!("node-scoring") };
    for _ in 0..20 {
        let (obs, _, n) = decision(&mut rng, SLOTS);
        let q = agent.q_values(&obs, 1).unwrap();
        let mut norm = vec![0.0; OBS_DIM];
        policy_core::normalize_nodes_into(&obs, &stats.mean, &stats.var, dqn::NORM_EPSILON, 10.0, 2, &mut norm);
        let present: Vec<bool> = (0..SLOTS).map(|i| i < n).collect();
        let want = host.forward(&norm, Some(&present));
        for i in 0..n {
            assert!((q[i] - want[i]).abs() < 1e-4, "node {i}: burn {} host {}", q[i], want[i]);
        }
        // Only the real nodes, unpadded: the same Q-values (padding changes nothing).
        let mut real = norm[..2 * n].to_vec();
        real.push(norm[2 * SLOTS]);
        let unpadded = host.forward(&real, None);
        for i in 0..n {
            assert!((unpadded[i] - want[i]).abs() < 1e-5, "node {i}: {} vs {}", unpadded[i], want[i]);
        }
    }
}

#[test]
fn a_node_scoring_agent_resumes_exactly_after_save_and_load() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let cfg = DqnConfig { normalize_obs: true, prioritized_replay: true, dueling: true, n_step: 3, ..cfg() };
    let mut agent = Agent::with_node_rows(cfg, OBS_DIM, SLOTS, ROWS).unwrap();
    train(&mut agent, &mut rng, 50);
    let dir = std::env::temp_dir().join(format!("dqn-node-scoring-{}", std::process::id()));
    agent.save(&dir, SaveOptions { replay: true }).unwrap();
    let mut loaded = Agent::load(&dir).unwrap();
    assert_eq!(loaded.node_rows(), Some(&ROWS));
    assert_eq!(loaded.network_config(), agent.network_config());
    let (obs, _, _) = decision(&mut rng, SLOTS);
    assert_eq!(loaded.q_values(&obs, 1).unwrap(), agent.q_values(&obs, 1).unwrap());
    // Both continue identically.
    let mut rng_a = ChaCha8Rng::seed_from_u64(4);
    let mut rng_b = ChaCha8Rng::seed_from_u64(4);
    train(&mut agent, &mut rng_a, 20);
    train(&mut loaded, &mut rng_b, 20);
    assert_eq!(loaded.q_values(&obs, 1).unwrap(), agent.q_values(&obs, 1).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn node_scoring_needs_node_rows_that_fit() {
    let e = Agent::new(cfg(), OBS_DIM, SLOTS).unwrap_err().to_string();
    assert!(e.contains("network") && e.contains("node rows"), "{e}");
    let bad = NodeRows { node_width: 3, ..ROWS };
    let e = Agent::with_node_rows(cfg(), OBS_DIM, SLOTS, bad).unwrap_err().to_string();
    assert!(e.contains("is not 8 node rows of 3 and a task row of 1"), "{e}");
    let e = Agent::with_node_rows(DqnConfig { hidden_sizes: vec![16], ..cfg() }, OBS_DIM, SLOTS, ROWS)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs at least 2"), "{e}");
    // An MLP agent ignores node rows.
    let mlp = DqnConfig { network: NetworkKind::Mlp, ..cfg() };
    let agent = Agent::with_node_rows(mlp, OBS_DIM, SLOTS, ROWS).unwrap();
    assert_eq!(agent.network_config().to_string(), "17-16-16-8 relu");
    assert!(agent.node_rows().is_none());
}
