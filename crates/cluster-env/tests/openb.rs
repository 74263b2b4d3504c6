//! Trace scenarios from Alibaba's openb cluster, run by every heuristic through the public API: GPU-model constraints
//! and missing resources are honoured at every placement, checked against the files themselves
//! (not through the tenant machinery that enforces them), and no task is ever lost.

use std::path::Path;

use cluster_env::openb::{NodeList, PodList};
use cluster_env::{
    BASELINES, CompiledScenario, ScenarioConfig, Simulator, SubclusterConfig, TraceSplit, baseline, resolve_path,
    scenarios,
};

/// `cfg` on the test split, with a sub-cluster of `k` nodes (none: the full cluster) at `load`.
fn variant(mut cfg: ScenarioConfig, k: Option<usize>, load: f64, window: usize) -> ScenarioConfig {
    let o = cfg.workload.openb.as_mut().unwrap();
    o.split = TraceSplit::Test;
    o.subcluster = k.map(|k| SubclusterConfig { k, seed: 5 });
    o.load = load;
    o.window = window;
    cfg
}

/// Runs every baseline on the episodes of `seeds` (stopping after `max_decisions` if given, as
/// the env truncates) and checks, at
/// every placement, that the pod's `gpu_spec` lists the node's GPU model and that the node has
/// every resource the pod needs; at the end, that every task arrived and completed or is
/// reported unfinished.
fn check_every_baseline(cfg: &ScenarioConfig, seeds: &[u64], max_decisions: Option<u64>) {
    let c = CompiledScenario::new(cfg).unwrap();
    let replay = c.openb().unwrap();
    let o = cfg.workload.openb.as_ref().unwrap();
    let nodes = NodeList::read(resolve_path(&o.nodes)).unwrap();
    let pods = PodList::read(resolve_path(&o.pods)).unwrap();
    let model_of: Vec<Option<String>> = replay.node_order().iter().map(|&n| nodes.nodes()[n].model.clone()).collect();
    let n_tasks = replay.window_len();
    for name in BASELINES {
        let mut policy = baseline(name).unwrap();
        let mut sim = Simulator::from_compiled(c.clone());
        let mut constrained = 0usize;
        for &seed in seeds {
            sim.reset(seed);
            policy.reset(seed);
            let start = replay.window(seed).0.start;
            while !sim.is_done() && max_decisions.is_none_or(|m| sim.decisions() < m) {
                let view = sim.view();
                let task = view.task().unwrap();
                let node = policy.act(&view).unwrap();
                // Tasks are numbered in arrival order: task id j is the window's j-th pod.
                let pod = &pods.pods()[replay.tasks().tasks[start + task.id as usize].pod];
                if o.gpu_spec
                    && let Some(spec) = &pod.gpu_spec
                {
                    constrained += 1;
                    let model = model_of[node].as_deref().unwrap_or("none");
                    assert!(spec.iter().any(|m| m == model), "{name}: {} ({spec:?}) on a {model} node", pod.name);
                }
                let cap = sim.node_capacity(node);
                for (r, (&d, &c)) in task.demand.iter().zip(cap).enumerate() {
                    assert!(c > 0.0 || d == 0.0, "{name}: {} needs resource {r}, node {node} has none", pod.name);
                }
                sim.place(node).unwrap();
            }
            let m = sim.metrics();
            assert_eq!(m.error, None, "{name}");
            assert_eq!(m.tasks, n_tasks);
            // No task lost: completed + still in the system + not arrived yet = the window.
            let not_arrived = n_tasks - sim.tasks_submitted();
            assert_eq!(m.completed + m.unfinished + not_arrived, n_tasks, "{name} seed {seed}");
            if max_decisions.is_none() {
                assert_eq!((m.completed, m.unfinished, not_arrived), (n_tasks, 0, 0), "{name} seed {seed}");
            }
        }
        if o.gpu_spec && max_decisions.is_none() {
            assert!(constrained > 0, "{name}: the windows hold constrained pods");
        }
    }
}

/// gpu_spec is honoured by every heuristic on a contended sub-cluster (where the fit-based
/// heuristics fall back to least-loaded) and on the full cluster.
#[test]
fn gpu_spec_constraints_hold_for_every_baseline() {
    let gpuspec = scenarios::openb_gpuspec();
    check_every_baseline(&variant(gpuspec.clone(), Some(64), 20.0, 400), &[1, 2], None);
    check_every_baseline(&variant(gpuspec, None, 0.8, 300), &[3], None);
}

/// CPU-only nodes (0 GPUs) take CPU pods and never a GPU pod, under every heuristic.
#[test]
fn nodes_without_gpus_never_get_gpu_tasks() {
    let cfg = variant(scenarios::openb(), Some(96), 10.0, 400);
    let c = CompiledScenario::new(&cfg).unwrap();
    assert!(c.scenario().node_capacities().iter().any(|cap| cap[2] == 0.0), "the sub-cluster has CPU-only nodes");
    check_every_baseline(&cfg, &[4, 5], None);
}

/// Truncated episodes lose no task either: each is completed, in the system or yet to arrive.
#[test]
fn no_task_is_lost_on_truncated_trace_episodes() {
    check_every_baseline(&variant(scenarios::openb_gpuspec(), Some(64), 20.0, 400), &[6], Some(150));
}

/// The presets resolve their files from the repository root wherever the test runs.
#[test]
fn presets_find_their_files() {
    for name in ["openb", "openb-gpuspec"] {
        let cfg = scenarios::preset(name).unwrap();
        let o = cfg.workload.openb.as_ref().unwrap();
        assert!(o.nodes.is_relative() && resolve_path(&o.nodes).is_file(), "{name}");
        assert!(resolve_path(Path::new(&o.pods)).is_file(), "{name}");
    }
}

/// The openb presets pass `gym::check_env` through `ClusterEnv` (the suite's
/// `every_preset_passes_check_env` covers them too, with burn linked in).
#[test]
fn openb_presets_pass_check_env() {
    for name in ["openb", "openb-gpuspec"] {
        let mut cfg = scenarios::preset(name).unwrap();
        cfg.workload.openb.as_mut().unwrap().window = 200;
        let mut env = cluster_env::ClusterEnv::new(&cfg).unwrap();
        gym::check_env(&mut env, 11, 500).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
