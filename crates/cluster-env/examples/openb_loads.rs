//! Sweeps the target load of an openb preset on held-out test windows: for each load, every
//! heuristic's mean slowdown and mean JCT beside the no-wait lower bound (mean runtime). A replay
//! is a benchmark only at loads where the best heuristic queues (slowdown clearly above 1).
//!
//! `cargo run --release -p cluster-env --example openb_loads -- [preset] [seeds] [load...]`
//! (defaults: openb, 20 seeds, loads 0.5 0.8 1.0 1.2). `OPENB_K=128` simulates a sub-cluster of
//! 128 nodes (seed 0) instead of the full cluster.

use std::process::ExitCode;

use cluster_env::{
    BASELINES, CompiledScenario, SchedulerSpec, SubclusterConfig, TraceSplit, evaluate_compiled, scenarios,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let preset = args.next().unwrap_or_else(|| "openb".into());
    let seeds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut loads: Vec<f64> = args.filter_map(|s| s.parse().ok()).collect();
    if loads.is_empty() {
        loads = vec![0.5, 0.8, 1.0, 1.2];
    }
    let mut cfg = match scenarios::preset(&preset) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openb_loads: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(o) = cfg.workload.openb.as_mut() else {
        eprintln!("openb_loads: {preset} is not an openb scenario");
        return ExitCode::from(2);
    };
    o.split = TraceSplit::Test;
    if let Some(k) = std::env::var("OPENB_K").ok().and_then(|k| k.parse().ok()) {
        o.subcluster = Some(SubclusterConfig { k, seed: 0 });
    }
    let policies: Vec<SchedulerSpec> =
        BASELINES.iter().map(|n| SchedulerSpec::baseline(n).expect("known baseline")).collect();
    let seeds: Vec<u64> = (1_000_000..1_000_000 + seeds).collect();
    for load in loads {
        cfg.workload.openb.as_mut().expect("set above").load = load;
        let compiled = match CompiledScenario::new(&cfg) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("openb_loads: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = compiled.openb().expect("openb scenario").no_wait_bound(&seeds);
        let start = std::time::Instant::now();
        let report = match evaluate_compiled(&compiled, &policies, &seeds, None) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("openb_loads: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "load {load}: no-wait bound mean JCT {:.0} s, weighted {:.0} s ({:.1} s)",
            bound.mean_jct,
            bound.weighted_mean_jct,
            start.elapsed().as_secs_f64()
        );
        for name in BASELINES {
            let p = report.policy(name).expect("evaluated");
            let m = |k: &str| p.metric(k).expect("known metric").value.mean;
            println!(
                "  {name:<20} slowdown {:>8.3}  mean JCT {:>9.0}  p95 {:>9.0}  wJCT {:>9.0}",
                m("mean_slowdown"),
                m("mean_jct"),
                m("p95_jct"),
                m("weighted_mean_jct")
            );
        }
    }
    ExitCode::SUCCESS
}
