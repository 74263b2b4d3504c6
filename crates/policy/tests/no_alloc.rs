//! `Policy::act`, `q_values` and `act_state`, and `Runtime::act` and `q_values`, must not touch
//! the heap: a production scheduler (and the trainer's evaluation) calls them on its hot path. A
//! counting global allocator checks it. A node-scoring policy may allocate when it first sees a
//! larger cluster than before (its buffers grow), never after that.
//!
//! The count is per thread, so the test harness's own threads cannot disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use policy::{
    Activation, ClusterState, Dense, Export, Mlp, Network, NodeScoring, NodeState, Normalization, ObservationLayout,
    Policy, PolicyMeta, Runtime, Source, TaskRequest,
};

/// The system allocator, counting this thread's allocations and reallocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A full-layout policy on 12 nodes × 3 resources (obs_dim 89), 64-64 hidden, dueling, gelu
/// (the slowest activation), with normalisation; deterministic pseudo-random weights.
fn policy() -> Policy {
    let (n, r) = (12, 3);
    let obs_dim = n * (r + 4) + r + 2;
    let dense = |d_in: usize, d_out: usize| {
        let weight = (0..d_in * d_out).map(|k| ((k / d_out * 31 + k % d_out * 17) as f32).sin() * 0.2);
        let bias = (0..d_out).map(|j| (j as f32).cos() * 0.1);
        Dense::new(d_in, d_out, weight.collect(), bias.collect()).unwrap()
    };
    let mlp = Mlp {
        hidden: vec![dense(obs_dim, 64), dense(64, 64)],
        head: dense(64, n),
        value: Some(dense(64, 1)),
        activation: Activation::Gelu,
    };
    let layout = ObservationLayout::Full {
        n_nodes: n,
        resources: vec!["cpu".into(), "mem".into(), "net".into()],
        time_scale: 30.0,
        max_speed: 2.0,
        max_capacity: vec![32.0; 3],
        mean_work: 40.0,
        max_weight: 3.0,
        tasks_scale: 10.0,
    };
    let norm = Normalization { mean: vec![0.3; obs_dim], var: vec![0.5; obs_dim], epsilon: 1e-8, clip: 10.0 };
    let meta = PolicyMeta::new("multi-resource", Source::default(), mlp.shape(), Some(norm), layout);
    Policy::from_export(Export { meta, network: Network::Mlp(mlp) }).unwrap()
}

fn state(step: usize) -> ClusterState {
    ClusterState {
        nodes: (0..12)
            .rev()
            .map(|id| NodeState {
                id,
                capacity: vec![8.0, 16.0, 32.0],
                usage: vec![(id % 4) as f64, 2.0, (step % 7) as f64],
                speed: 1.0 + (id % 3) as f64 * 0.5,
                up: id != step % 12,
                queued_tasks: id % 3,
                queued_work: (id * step % 50) as f64,
                running_tasks: 1,
                running_work: 12.5,
            })
            .collect(),
        task: TaskRequest {
            id: step as u64,
            priority: 1.0,
            demands: vec![2.0, 4.0, 1.0],
            size: 20.0,
            allowed_nodes: None,
        },
    }
}

#[test]
fn acting_does_not_allocate() {
    let mut p = policy();
    let mut runtime: Runtime = p.runtime().clone();
    let dim = p.obs_dim();
    let observations: Vec<Vec<f32>> =
        (0..1000).map(|k| (0..dim).map(|j| ((k * dim + j) as f32 * 0.013).sin().abs()).collect()).collect();
    let masks: Vec<Vec<bool>> = (0..1000).map(|k| (0..12).map(|a| (a + k) % 5 != 0).collect()).collect();
    let states: Vec<ClusterState> = (0..100).map(state).collect();
    // Warm up (lazy statics in std, first-touch of anything).
    p.act(&observations[0], &masks[0]).unwrap();
    p.act_state(&states[0]).unwrap();
    runtime.act(&observations[0], &masks[0]).unwrap();

    let before = allocations();
    let mut chosen = 0;
    for (obs, mask) in observations.iter().zip(&masks) {
        chosen += p.act(obs, mask).unwrap();
    }
    assert_eq!(allocations() - before, 0, "Policy::act allocated");

    let before = allocations();
    let mut runtime_chosen = 0;
    for (obs, mask) in observations.iter().zip(&masks) {
        runtime_chosen += runtime.act(obs, mask).unwrap();
        runtime_chosen += runtime.q_values(obs).unwrap().len();
    }
    assert_eq!(allocations() - before, 0, "Runtime::act / q_values allocated");
    // The same network: the same choices.
    assert_eq!(runtime_chosen, chosen + observations.len() * 12);

    let before = allocations();
    for obs in &observations {
        chosen += p.q_values(obs).unwrap().len();
    }
    for s in &states {
        chosen += p.act_state(s).unwrap().0;
    }
    assert_eq!(allocations() - before, 0, "Policy::q_values / act_state allocated");
    // The counter works (and the loop above was not optimised away).
    let before = allocations();
    let v = std::hint::black_box(vec![chosen]);
    assert_eq!(allocations() - before, 1);
    drop(v);
}

/// A node-scoring policy on the same 3-resource full layout (node rows of 7, a task row of 5),
/// hidden `[64, 64, 64]`, dueling, gelu, with normalisation; trained (as its layout says) on 12
/// nodes.
fn node_scoring_policy() -> Policy {
    let (w, t) = (7, 5);
    let dense = |d_in: usize, d_out: usize, zero_bias: bool| {
        let weight = (0..d_in * d_out).map(|k| ((k / d_out * 29 + k % d_out * 13) as f32).sin() * 0.2);
        let bias = (0..d_out).map(|j| if zero_bias { 0.0 } else { (j as f32).cos() * 0.1 });
        Dense::new(d_in, d_out, weight.collect(), bias.collect()).unwrap()
    };
    let net = NodeScoring {
        embed_node: dense(w, 64, false),
        embed_task: dense(t, 64, true),
        embed: vec![dense(64, 64, false)],
        score_node: dense(64, 64, false),
        score_pool: dense(128, 64, true),
        head: dense(64, 1, false),
        value: Some(dense(128, 1, false)),
        activation: Activation::Gelu,
    };
    let layout = ObservationLayout::Full {
        n_nodes: 12,
        resources: vec!["cpu".into(), "mem".into(), "net".into()],
        time_scale: 30.0,
        max_speed: 2.0,
        max_capacity: vec![32.0; 3],
        mean_work: 40.0,
        max_weight: 3.0,
        tasks_scale: 10.0,
    };
    let norm = Normalization { mean: vec![0.3; w + t], var: vec![0.5; w + t], epsilon: 1e-8, clip: 10.0 };
    let meta = PolicyMeta::new("multi-resource", Source::default(), net.shape(12), Some(norm), layout);
    Policy::from_export(Export { meta, network: Network::NodeScoring(net) }).unwrap()
}

/// [`state`] with `n` nodes.
fn state_of(n: usize, step: usize) -> ClusterState {
    let mut s = state(step);
    let node = s.nodes[0].clone();
    s.nodes = (0..n)
        .map(|id| NodeState { id, up: id != step % n, queued_work: (id * step % 50) as f64, ..node.clone() })
        .collect();
    s
}

#[test]
fn node_scoring_at_1000_nodes_does_not_allocate_after_warm_up() {
    let n = 1000;
    let mut p = node_scoring_policy();
    let mut runtime: Runtime = p.runtime().clone();
    let dim = n * 7 + 5;
    let observations: Vec<Vec<f32>> =
        (0..20).map(|k| (0..dim).map(|j| ((k * dim + j) as f32 * 0.013).sin().abs()).collect()).collect();
    let masks: Vec<Vec<bool>> = (0..20).map(|k| (0..n).map(|a| (a + k) % 5 != 0).collect()).collect();
    let states: Vec<ClusterState> = (0..5).map(|k| state_of(n, k)).collect();
    // Warm up at the largest size: the buffers grow once.
    p.act(&observations[0], &masks[0]).unwrap();
    p.act_state(&states[0]).unwrap();
    runtime.act(&observations[0], &masks[0]).unwrap();

    let before = allocations();
    let mut chosen = 0;
    for (obs, mask) in observations.iter().zip(&masks) {
        chosen += p.act(obs, mask).unwrap();
        chosen += runtime.act(obs, mask).unwrap();
        chosen += runtime.q_values(obs).unwrap().len();
        chosen += p.q_values(obs).unwrap().len();
    }
    // Smaller clusters reuse the larger buffers.
    for k in [1, 3, 12, 100] {
        chosen += p.act(&observations[k % 20][..k * 7 + 5], &masks[0][1..=k]).unwrap();
    }
    for s in &states {
        chosen += p.act_state(s).unwrap().0;
    }
    assert_eq!(allocations() - before, 0, "node-scoring act / q_values / act_state allocated after warm-up");
    assert!(std::hint::black_box(chosen) > 0);
}
