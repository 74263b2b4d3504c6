//! Environment throughput: simulator decisions per second with the least-loaded policy
//! (`park-lb` and `large`, one thread), `ClusterEnv::step` with the flat observation, and the
//! rayon vector env with 1 and 2 threads.
//!
//! `cargo bench --bench env`

use std::hint::black_box;

use cluster_env::baselines::LeastLoaded;
use cluster_env::{ClusterEnv, Scheduler, Simulator, scenarios};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gym::{Env, VectorEnv};

/// One full episode with least-loaded; returns the decisions taken.
fn episode(sim: &mut Simulator, seed: u64) -> u64 {
    let mut policy = LeastLoaded;
    sim.reset(seed);
    while !sim.is_done() {
        let node = policy.act(&sim.view()).unwrap();
        sim.place(node).expect("least-loaded picks a valid node");
    }
    sim.decisions()
}

fn simulator(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator");
    for (name, n_tasks) in [("park-lb", 1000u64), ("large", 100_000)] {
        let cfg = scenarios::preset(name).unwrap();
        let mut sim = Simulator::new(&cfg).unwrap();
        group.throughput(Throughput::Elements(n_tasks));
        if name == "large" {
            group.sample_size(10);
        }
        let mut seed = 0;
        group.bench_function(format!("{name}/least-loaded-episode"), |b| {
            b.iter(|| {
                seed += 1;
                black_box(episode(&mut sim, seed))
            })
        });
    }
    group.finish();
}

fn cluster_env_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster-env");
    let cfg = scenarios::preset("park-lb").unwrap();
    let mut env = ClusterEnv::new(&cfg).unwrap();
    group.throughput(Throughput::Elements(1000));
    let mut seed = 0;
    group.bench_function("park-lb/step-with-obs-episode", |b| {
        b.iter(|| {
            seed += 1;
            env.reset(Some(seed));
            let mut policy = LeastLoaded;
            loop {
                let a = policy.act(&env.simulator().view()).unwrap();
                let s = env.step(a).unwrap();
                black_box(s.obs);
                if s.terminated || s.truncated {
                    break;
                }
            }
        })
    });
    group.finish();
}

fn vector_env(c: &mut Criterion) {
    let mut group = c.benchmark_group("vector-env");
    let cfg = scenarios::preset("park-lb").unwrap();
    const N: usize = 16;
    const STEPS: usize = 500;
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let envs = (0..N).map(|_| ClusterEnv::new(&cfg).unwrap()).collect();
        let mut venv = VectorEnv::new(envs).unwrap();
        venv.reset(0);
        let mut actions = vec![0usize; N];
        group.throughput(Throughput::Elements((N * STEPS) as u64));
        group.bench_function(format!("park-lb/{N}-envs/{threads}-threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    for _ in 0..STEPS {
                        for (a, env) in actions.iter_mut().zip(venv.envs()) {
                            *a = LeastLoaded.act(&env.simulator().view()).unwrap();
                        }
                        venv.step(&actions).unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, simulator, cluster_env_step, vector_env);
criterion_main!(benches);
