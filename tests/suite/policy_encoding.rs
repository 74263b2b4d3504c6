//! The exported policy's state encoding against the simulator: at every decision of real
//! episodes (park-lb, multi-resource, faulty), a `policy::ClusterState` built from the
//! simulator's structured view, encoded with the layout the env reports, gives bit for bit the
//! observation and exactly the mask the env gives the learner. And `Policy::act_state` on that
//! state chooses what `Policy::act` chooses on the env's own observation.
//!
//! Both layouts are compared bit for bit. The state carries `running_work` =
//! outstanding work − queued work (what a production scheduler would report), so the encoder
//! computes `queued + (outstanding − queued)` where the simulator uses `outstanding` (full), and
//! `queued + running_work / speed` where it uses `queued + remaining time` (park). Both are exact
//! in practice: the first is exact whenever outstanding ≤ 2·queued or queued ≤ outstanding / 2
//! (Sterbenz, then a single rounding), and a last-bit `f64` difference in the second vanishes
//! when the value is rounded to `f32` (park loads are integers in integer time and stay below
//! 2²⁴ under the clip at 500000). Should a different scenario ever hit a rounding boundary,
//! this test names the decision and feature.

use cluster_env::{ClusterEnv, NodeView, ScenarioConfig, scenarios};
use gym::Env;
use policy::{
    Activation, ClusterState, Dense, Export, Mlp, Network, NodeState, Normalization, ObservationLayout, Policy,
    PolicyMeta, Source, TaskRequest,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The env's observation layout, as an export records it (through a TOML round trip: the
/// serialised form is what travels in `policy.json`).
fn layout_of(env: &ClusterEnv) -> ObservationLayout {
    let text = toml::to_string(env.observation_layout()).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// What a production scheduler would report: the simulator's view of every node and the task.
fn state_of(env: &ClusterEnv) -> ClusterState {
    let view = env.simulator().view();
    let task = view.task().expect("a decision is pending");
    let node = |n: NodeView<'_>| NodeState {
        id: n.index,
        capacity: n.capacity.to_vec(),
        usage: n.used.to_vec(),
        speed: n.speed,
        up: n.up,
        queued_tasks: n.queued,
        queued_work: n.queued_work,
        running_tasks: n.running,
        running_work: n.outstanding_work - n.queued_work,
    };
    ClusterState {
        nodes: view.nodes().map(node).collect(),
        task: TaskRequest {
            id: u64::from(task.id),
            priority: task.weight,
            demands: task.demand.to_vec(),
            size: task.work,
            // The tenant's placement constraint, listed only when it excludes a node.
            allowed_nodes: (0..view.n_nodes())
                .any(|i| !view.tenant_allows(task.tenant, i))
                .then(|| (0..view.n_nodes()).filter(|&i| view.tenant_allows(task.tenant, i)).collect()),
        },
    }
}

/// A seeded random policy for `layout`, 32-32 relu, with normalisation (so `act_state` and
/// `act` run the whole pipeline).
fn random_policy(scenario: &str, layout: ObservationLayout, rng: &mut ChaCha8Rng) -> Policy {
    let (obs_dim, n) = (layout.obs_dim(), layout.n_nodes());
    let mut dense = |d_in: usize, d_out: usize| {
        let weight = (0..d_in * d_out).map(|_| rng.random_range(-0.3..0.3)).collect();
        let bias = (0..d_out).map(|_| rng.random_range(-0.1..0.1)).collect();
        Dense::new(d_in, d_out, weight, bias).unwrap()
    };
    let mlp = Mlp {
        hidden: vec![dense(obs_dim, 32), dense(32, 32)],
        head: dense(32, n),
        value: None,
        activation: Activation::Relu,
    };
    let norm = Normalization {
        mean: (0..obs_dim).map(|i| (i % 5) as f64 * 0.2).collect(),
        var: (0..obs_dim).map(|i| 0.5 + (i % 3) as f64).collect(),
        epsilon: 1e-8,
        clip: 10.0,
    };
    let meta = PolicyMeta::new(scenario, Source::default(), mlp.shape(), Some(norm), layout);
    Policy::from_export(Export { meta, network: Network::Mlp(mlp) }).unwrap()
}

/// What one scenario's episodes exercised.
#[derive(Debug, Default)]
struct Coverage {
    decisions: usize,
    with_down_node: usize,
    with_masked_node: usize,
    with_queue: usize,
}

/// Runs `episodes` episodes of `cfg` (shortened to `n_tasks`), alternating least-loaded and
/// random placements, and checks every decision.
fn check_scenario(name: &str, n_tasks: usize, episodes: u64) -> Coverage {
    let mut cfg: ScenarioConfig = scenarios::preset(name).unwrap();
    cfg.workload.n_tasks = n_tasks;
    let mut env = ClusterEnv::new(&cfg).unwrap();
    let layout = layout_of(&env);
    assert_eq!(layout.obs_dim(), env.observation_space().dim(), "{name}: obs_dim");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut policy = random_policy(name, layout.clone(), &mut rng);
    let mut least_loaded = cluster_env::baseline("least-loaded").unwrap();
    let mut random = cluster_env::baseline("random").unwrap();
    let mut obs = vec![0.0f32; layout.obs_dim()];
    let mut mask = vec![false; layout.n_nodes()];
    let mut cov = Coverage::default();
    for seed in 0..episodes {
        random.reset(seed);
        let mut env_obs = env.reset(Some(seed)).0.to_vec();
        for decision in 0.. {
            let mut state = state_of(&env);
            // Production lists nodes in whatever order it keeps them.
            state.nodes.shuffle(&mut rng);
            state
                .encode(&layout, &mut obs, &mut mask)
                .unwrap_or_else(|e| panic!("{name} seed {seed} #{decision}: {e}"));
            for (j, (a, b)) in obs.iter().zip(&env_obs).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "{name} seed {seed} decision {decision}: feature {j} encodes to {a}, the env has {b}"
                );
            }
            assert_eq!(mask, env.action_mask(), "{name} seed {seed} decision {decision}: mask");
            let (chosen, q) = policy.act_state(&state).unwrap();
            let q = q.to_vec();
            assert_eq!(chosen, policy.act(&env_obs, env.action_mask()).unwrap(), "{name} seed {seed} #{decision}");
            assert_eq!(q, policy.q_values(&env_obs).unwrap(), "{name} seed {seed} #{decision}: Q-values");

            cov.decisions += 1;
            cov.with_down_node += usize::from(state.nodes.iter().any(|n| !n.up));
            cov.with_masked_node += usize::from(mask.contains(&false));
            cov.with_queue += usize::from(state.nodes.iter().any(|n| n.queued_tasks > 0));
            let view = env.simulator().view();
            let action = if decision % 2 == 0 { least_loaded.act(&view) } else { random.act(&view) }.unwrap();
            let step = env.step(action).unwrap();
            if step.terminated || step.truncated {
                break;
            }
            env_obs.copy_from_slice(step.obs);
        }
    }
    cov
}

#[test]
fn park_lb_encoding_matches_the_env() {
    let cov = check_scenario("park-lb", 1000, 2);
    assert_eq!(cov.decisions, 2000);
    assert!(cov.with_queue > 100, "{cov:?}");
}

#[test]
fn multi_resource_encoding_matches_the_env() {
    let cov = check_scenario("multi-resource", 1000, 2);
    assert_eq!(cov.decisions, 2000);
    assert!(cov.with_queue > 100, "{cov:?}");
}

#[test]
fn faulty_encoding_matches_the_env_with_down_nodes() {
    let cov = check_scenario("faulty", 1000, 3);
    // Failures re-submit tasks: more decisions than tasks, some with nodes down (masked).
    assert!(cov.decisions > 3000, "{cov:?}");
    assert!(cov.with_down_node > 50 && cov.with_masked_node >= cov.with_down_node, "{cov:?}");
}

#[test]
fn seed_case_encoding_matches_the_env_with_tenant_constraints() {
    let cov = check_scenario("seed-case", 500, 2);
    assert_eq!(cov.decisions, 1000);
    // Some tasks' tenants exclude nodes: the mask has false entries on every node up.
    assert!(cov.with_masked_node > 50, "{cov:?}");
}
