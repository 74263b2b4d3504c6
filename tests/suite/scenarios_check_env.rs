//! `gym::check_env` passes for every preset scenario, with failures, tenants and truncation.

use cluster_env::{ClusterEnv, FailureConfig, ScheduledFailure, scenarios};
use gym::{Env, check_env};

/// Steps for `check_env`: enough for every scenario below to end episodes (so the checks of
/// `reset(None)` and of stepping after the end run too).
fn steps_for(n_tasks: usize) -> usize {
    n_tasks * 5 / 2
}

#[test]
fn every_preset_passes_check_env() {
    for name in scenarios::NAMES {
        let mut cfg = scenarios::preset(name).unwrap();
        // Shrink the long workloads; `large` keeps its 1000 nodes.
        cfg.workload.n_tasks = cfg.workload.n_tasks.min(if name == "large" { 120 } else { 200 });
        // openb replays windows of its pod list (n_tasks is ignored): shrink the window.
        if let Some(o) = cfg.workload.openb.as_mut() {
            o.window = 200;
            cfg.workload.n_tasks = 200;
        }
        let mut env = ClusterEnv::new(&cfg).unwrap();
        check_env(&mut env, 11, steps_for(cfg.workload.n_tasks)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn full_length_park_lb_passes_check_env() {
    let cfg = scenarios::park_lb();
    let mut env = ClusterEnv::new(&cfg).unwrap();
    check_env(&mut env, 3, 2_100).unwrap();
}

#[test]
fn failures_tenants_and_truncation_pass_check_env() {
    // seed-case (secure tenant on nodes 2-5) with the secure nodes failing, random failures,
    // integer time.
    let mut cfg = scenarios::seed_case();
    cfg.failures = FailureConfig {
        mtbf: Some(40.0),
        mttr: Some(10.0),
        scheduled: vec![
            ScheduledFailure { node: 2, at: 0.0, duration: 25.0 },
            ScheduledFailure { node: 3, at: 0.0, duration: 25.0 },
            ScheduledFailure { node: 4, at: 0.0, duration: 30.0 },
            ScheduledFailure { node: 5, at: 0.0, duration: 35.0 },
        ],
    };
    let mut env = ClusterEnv::new(&cfg).unwrap();
    check_env(&mut env, 5, 400).unwrap();
    // Failed nodes really were masked in some decisions.
    env.reset(Some(5));
    assert_eq!(env.action_mask()[2..6], [false; 4], "secure nodes down at t = 0");
    cfg.integer_time = true;
    check_env(&mut ClusterEnv::new(&cfg).unwrap(), 6, 400).unwrap();
    // Truncation every 30 decisions.
    let mut cfg = scenarios::faulty();
    cfg.workload.n_tasks = 150;
    cfg.max_decisions = Some(30);
    check_env(&mut ClusterEnv::new(&cfg).unwrap(), 7, 200).unwrap();
    // Other rewards.
    for reward in [cluster_env::RewardKind::Slowdown, cluster_env::RewardKind::Utilisation] {
        let mut cfg = scenarios::seed_case();
        cfg.reward = reward;
        check_env(&mut ClusterEnv::new(&cfg).unwrap(), 8, 250).unwrap();
    }
}

#[test]
fn observation_spaces_have_the_documented_sizes() {
    let dims: Vec<(usize, usize)> = scenarios::NAMES
        .iter()
        .map(|name| {
            let mut cfg = scenarios::preset(name).unwrap();
            cfg.workload.n_tasks = 10;
            let env = ClusterEnv::new(&cfg).unwrap();
            (env.observation_space().dim(), env.action_space().n)
        })
        .collect();
    // park-lb: N + 1; full layout: N·(R+4) + R + 2.
    // openb and openb-gpuspec: the 1,523 nodes of the node list, R = 3 (cpu, mem, gpu).
    assert_eq!(
        dims,
        [
            (11, 10),
            (10 * 7 + 5, 10),
            (12 * 7 + 5, 12),
            (12 * 7 + 5, 12),
            (1000 * 7 + 5, 1000),
            (1523 * 7 + 5, 1523),
            (1523 * 7 + 5, 1523),
            // The scalable layout: N·(3R+4) + R + 2, N the largest draw (32) for -var.
            (32 * 13 + 5, 32),
            (12 * 13 + 5, 12),
            (48 * 13 + 5, 48),
            (120 * 13 + 5, 120),
            (1000 * 13 + 5, 1000)
        ]
    );
}
