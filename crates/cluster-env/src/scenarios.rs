//! Named scenario presets. Each is a plain [`ScenarioConfig`], so any field can be overridden
//! (the trainer merges a TOML file over the preset).

use crate::config::*;
use crate::error::ClusterError;

/// Names of the presets, in documentation order.
pub const NAMES: [&str; 12] = [
    "park-lb",
    "seed-case",
    "multi-resource",
    "faulty",
    "large",
    "openb",
    "openb-gpuspec",
    "multi-resource-var",
    "multi-resource-x1",
    "multi-resource-x4",
    "multi-resource-x10",
    "large-scalable",
];

/// The shipped openb node list, relative to the repository root (see
/// [`crate::resolve_path`]).
pub const OPENB_NODES: &str = "experiments/traces/openb/openb_node_list_all_node.csv";
/// The shipped openb pod list without GPU-model constraints.
pub const OPENB_PODS: &str = "experiments/traces/openb/openb_pod_list_default.csv";
/// The shipped openb pod list with `gpu_spec` constraints on about a third of the GPU pods.
pub const OPENB_PODS_GPUSPEC: &str = "experiments/traces/openb/openb_pod_list_gpuspec33.csv";
/// The presets' target offered load on the bottleneck resource (GPUs): high enough that the
/// best heuristic queues (see the README's "Real workloads (openb)").
pub const OPENB_LOAD: f64 = 0.8;

/// The preset called `name`.
///
/// # Errors
/// [`ClusterError::UnknownScenario`] listing the valid names.
pub fn preset(name: &str) -> Result<ScenarioConfig, ClusterError> {
    Ok(match name {
        "park-lb" => park_lb(),
        "seed-case" => seed_case(),
        "multi-resource" => multi_resource(),
        "faulty" => faulty(),
        "large" => large(),
        "openb" => openb(),
        "openb-gpuspec" => openb_gpuspec(),
        "multi-resource-var" => multi_resource_var(),
        "multi-resource-x1" => multi_resource_scaled(1),
        "multi-resource-x4" => multi_resource_scaled(4),
        "multi-resource-x10" => multi_resource_scaled(10),
        "large-scalable" => large_scalable(),
        _ => return Err(ClusterError::UnknownScenario { name: name.into(), valid: NAMES.join(", ") }),
    })
}

fn group(count: usize, capacity: &[f64], speed: f64) -> NodeGroup {
    NodeGroup { count: count.into(), capacity: capacity.to_vec(), speed }
}

/// A scenario with the defaults every preset but `park-lb` shares: no failures, weighted-JCT
/// reward, the full observation, continuous time, no truncation.
fn scenario(name: &str, resources: Vec<String>, nodes: Vec<NodeGroup>, workload: WorkloadConfig) -> ScenarioConfig {
    ScenarioConfig {
        name: name.into(),
        resources,
        nodes,
        workload,
        failures: FailureConfig::default(),
        reward: RewardKind::WeightedJct,
        observation: ObservationKind::Full,
        integer_time: false,
        max_decisions: None,
    }
}

fn three() -> Vec<String> {
    ["cpu", "mem", "net"].map(String::from).to_vec()
}

/// Park's `load_balance`: 10 single-slot FIFO servers with service rates 0.15..1.05, 1000 jobs of
/// size `int((pareto(1.5) + 1) * 100)` arriving every `int(exponential(55))`, integer time,
/// Park's observation and reward (−Δt × jobs in system).
pub fn park_lb() -> ScenarioConfig {
    let rates = [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05];
    ScenarioConfig {
        name: "park-lb".into(),
        resources: vec!["slot".into()],
        nodes: rates.iter().map(|&s| group(1, &[1.0], s)).collect(),
        workload: WorkloadConfig {
            n_tasks: 1000,
            arrivals: Arrivals::Poisson { rate: 1.0 / 55.0 },
            size: SizeDist::Pareto { shape: 1.5, scale: 100.0 },
            demand: DemandConfig::Ranges { ranges: vec![[1.0, 1.0]] },
            priorities: vec![PriorityClass { name: "job".into(), weight: 1.0, prob: 1.0 }],
            tenants: vec![],
            trace: None,
            openb: None,
        },
        failures: FailureConfig::default(),
        reward: RewardKind::WeightedJct,
        observation: ObservationKind::Park { high: 500_000.0 },
        integer_time: true,
        max_decisions: None,
    }
}

/// The founding case study: 10 nodes of five kinds (big-but-slow, small-but-fast, memory-heavy,
/// network-heavy, balanced) and 100 tasks with three priority classes and cpu/mem/net demands,
/// arriving in a burst (about 2 per time unit against ~20-unit runtimes). Memory is the
/// bottleneck (large-memory tasks fit only 6 of the 10 nodes) and 20% of tasks belong to a
/// `secure` tenant restricted to nodes 2–5, so both heterogeneity and resource fit matter.
pub fn seed_case() -> ScenarioConfig {
    scenario(
        "seed-case",
        three(),
        vec![
            group(2, &[32.0, 128.0, 10.0], 1.0), // 0-1 big, slow
            group(2, &[8.0, 16.0, 10.0], 2.5),   // 2-3 small, fast
            group(2, &[16.0, 256.0, 20.0], 1.2), // 4-5 memory-heavy
            group(2, &[16.0, 64.0, 40.0], 1.5),  // 6-7 network-heavy
            group(2, &[16.0, 64.0, 20.0], 1.0),  // 8-9 balanced
        ],
        WorkloadConfig {
            n_tasks: 100,
            arrivals: Arrivals::Poisson { rate: 2.0 },
            size: SizeDist::LogNormal { mu: 3.0, sigma: 0.8 },
            demand: DemandConfig::Ranges { ranges: vec![[1.0, 8.0], [2.0, 96.0], [0.5, 12.0]] },
            priorities: vec![
                PriorityClass { name: "batch".into(), weight: 1.0, prob: 0.5 },
                PriorityClass { name: "service".into(), weight: 2.0, prob: 0.35 },
                PriorityClass { name: "critical".into(), weight: 5.0, prob: 0.15 },
            ],
            tenants: vec![
                TenantConfig { name: "shared".into(), prob: 0.8, nodes: None },
                TenantConfig { name: "secure".into(), prob: 0.2, nodes: Some(vec![2, 3, 4, 5]) },
            ],
            trace: None,
            openb: None,
        },
    )
}

/// DeepRM-like: 12 heterogeneous nodes, three resources, each task dominant in one resource
/// (25–50% of a small node) and light in the others (5–10%); 80% short tasks (10–30 work), 20%
/// long (100–150); Poisson arrivals at 90% load on the bottleneck resource; 1000 tasks.
pub fn multi_resource() -> ScenarioConfig {
    scenario(
        "multi-resource",
        three(),
        vec![
            group(4, &[8.0, 8.0, 8.0], 1.0),
            group(4, &[16.0, 16.0, 16.0], 1.0),
            group(2, &[8.0, 8.0, 8.0], 2.0),
            group(2, &[32.0, 32.0, 32.0], 0.75),
        ],
        WorkloadConfig {
            n_tasks: 1000,
            arrivals: Arrivals::PoissonLoad { load: 0.9 },
            size: SizeDist::Bimodal { short: [10.0, 30.0], long: [100.0, 150.0], p_long: 0.2 },
            demand: DemandConfig::Dominant { dominant: [0.25, 0.5], other: [0.05, 0.1], unit: vec![8.0, 8.0, 8.0] },
            priorities: vec![
                PriorityClass { name: "normal".into(), weight: 1.0, prob: 0.8 },
                PriorityClass { name: "high".into(), weight: 3.0, prob: 0.2 },
            ],
            tenants: vec![],
            trace: None,
            openb: None,
        },
    )
}

/// `multi-resource`'s node shapes, workload and priorities on a cluster drawn per episode: the
/// four groups have 3–11, 3–11, 1–5 and 1–5 nodes, so 8 to 32 in all (12 is `multi-resource`'s).
/// The arrival rate follows the drawn cluster, so every episode offers the same 90% load on
/// its bottleneck resource. Scalable observation, sized for 32 nodes: the training scenario of
/// the node-scoring Q-network, whose constants (from the node shapes and the workload only)
/// every `multi-resource-*` preset shares.
pub fn multi_resource_var() -> ScenarioConfig {
    let mut cfg = multi_resource();
    cfg.name = "multi-resource-var".into();
    for (g, (lo, hi)) in cfg.nodes.iter_mut().zip([(3, 11), (3, 11), (1, 5), (1, 5)]) {
        g.count = NodeCount::Range { lo, hi };
    }
    cfg.observation = ObservationKind::Scalable { packing: false, completion: false };
    cfg
}

/// `multi-resource` with every group's count and `n_tasks` multiplied by `factor` (the
/// `multi-resource-x1`, `-x4` and `-x10` presets: 12, 48 and 120 nodes), at the same 90% load,
/// so that the arrival rate scales with the cluster and an episode spans about the same time.
/// Scalable observation: a policy trained on `multi-resource-var` reads every one of them.
///
/// # Panics
/// If `factor` is 0 (no preset uses it).
pub fn multi_resource_scaled(factor: usize) -> ScenarioConfig {
    assert!(factor > 0, "a cluster of 0 nodes");
    let mut cfg = multi_resource();
    cfg.name = format!("multi-resource-x{factor}");
    for g in &mut cfg.nodes {
        g.count = (g.count.hi() * factor).into();
    }
    cfg.workload.n_tasks *= factor;
    cfg.observation = ObservationKind::Scalable { packing: false, completion: false };
    cfg
}

/// `large` with the scalable observation.
pub fn large_scalable() -> ScenarioConfig {
    ScenarioConfig {
        name: "large-scalable".into(),
        observation: ObservationKind::Scalable { packing: false, completion: false },
        ..large()
    }
}

/// `multi-resource` plus node failures: each node fails after an exponential time with mean
/// 1000 and is repaired after an exponential time with mean 50 (95% availability, about four
/// failures per episode); work on a failed node is re-submitted.
pub fn faulty() -> ScenarioConfig {
    ScenarioConfig {
        name: "faulty".into(),
        failures: FailureConfig { mtbf: Some(1000.0), mttr: Some(50.0), scheduled: vec![] },
        ..multi_resource()
    }
}

/// Scale test: 1,000 nodes of four kinds, 100,000 tasks, exponential sizes (mean 100), Poisson
/// arrivals at 80% load.
pub fn large() -> ScenarioConfig {
    scenario(
        "large",
        three(),
        vec![
            group(400, &[16.0, 64.0, 10.0], 1.0),
            group(300, &[32.0, 128.0, 25.0], 1.5),
            group(200, &[8.0, 32.0, 10.0], 2.0),
            group(100, &[64.0, 256.0, 40.0], 1.0),
        ],
        WorkloadConfig {
            n_tasks: 100_000,
            arrivals: Arrivals::PoissonLoad { load: 0.8 },
            size: SizeDist::Exponential { mean: 100.0 },
            demand: DemandConfig::Ranges { ranges: vec![[0.5, 8.0], [1.0, 32.0], [0.1, 5.0]] },
            priorities: vec![
                PriorityClass { name: "normal".into(), weight: 1.0, prob: 0.9 },
                PriorityClass { name: "high".into(), weight: 4.0, prob: 0.1 },
            ],
            tenants: vec![],
            trace: None,
            openb: None,
        },
    )
}

/// Alibaba's production GPU cluster (openb, [`crate::openb`]): the full 1,523-node cluster and
/// windows of 1,000 pods of the default pod list (no GPU-model constraints) from the training
/// split, compressed to [`OPENB_LOAD`] on the bottleneck resource. The nodes, priority classes
/// and tenants come from the files when the scenario is compiled; `nodes` stays empty here and
/// `n_tasks`, `arrivals`, `size` and `demand` are placeholders that an openb workload ignores.
pub fn openb() -> ScenarioConfig {
    scenario(
        "openb",
        crate::openb::RESOURCES.map(String::from).to_vec(),
        vec![],
        WorkloadConfig {
            n_tasks: crate::openb::DEFAULT_WINDOW_LEN,
            arrivals: Arrivals::Batch,
            size: SizeDist::Exponential { mean: 1.0 },
            demand: DemandConfig::Ranges { ranges: vec![[0.0, 0.0]; 3] },
            priorities: vec![],
            tenants: vec![],
            trace: None,
            openb: Some(OpenbConfig {
                nodes: OPENB_NODES.into(),
                pods: OPENB_PODS.into(),
                split: TraceSplit::Train,
                window: crate::openb::DEFAULT_WINDOW_LEN,
                load: OPENB_LOAD,
                gpu_spec: false,
                subcluster: None,
                qos_weights: QosWeights::default(),
                drop_censored: false,
            }),
        },
    )
}

/// [`openb`] with the `gpuspec33` pod list and its GPU-model constraints: a pod with a
/// `gpu_spec` may run only on nodes of the models it lists.
pub fn openb_gpuspec() -> ScenarioConfig {
    let mut cfg = openb();
    cfg.name = "openb-gpuspec".into();
    let o = cfg.workload.openb.as_mut().expect("openb() sets it");
    o.pods = OPENB_PODS_GPUSPEC.into();
    o.gpu_spec = true;
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_named_after_themselves_and_unknown_names_are_errors() {
        for name in NAMES {
            assert_eq!(preset(name).unwrap().name, name);
        }
        assert_eq!(
            preset("tiny").unwrap_err().to_string(),
            "unknown scenario \"tiny\": valid scenarios are park-lb, seed-case, multi-resource, faulty, large, openb, \
             openb-gpuspec, multi-resource-var, multi-resource-x1, multi-resource-x4, multi-resource-x10, large-scalable"
        );
        let park = preset("park-lb").unwrap();
        assert_eq!(park.n_nodes(), 10);
        assert_eq!(park.node_speeds()[0], 0.15);
        assert!(park.integer_time);
        assert_eq!(preset("large").unwrap().n_nodes(), 1000);
        assert_eq!(preset("seed-case").unwrap().n_nodes(), 10);
        assert_eq!(preset("multi-resource").unwrap().n_nodes(), 12);
        let faulty = preset("faulty").unwrap();
        assert_eq!((faulty.failures.mtbf, faulty.failures.mttr), (Some(1000.0), Some(50.0)));
        assert_eq!(faulty.workload, multi_resource().workload);
    }
}
