//! Prints the baseline comparison table for a scenario (no CLI crate needed).
//!
//! `cargo run --release -p cluster-env --example baselines -- [scenario] [seeds]`
//! (defaults: park-lb, 200 seeds).

use std::process::ExitCode;

use cluster_env::{BASELINES, SchedulerSpec, evaluate, scenarios};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "park-lb".into());
    let seeds: u64 = match args.next().map(|s| s.parse()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("baselines: the number of seeds must be a positive integer");
            return ExitCode::from(2);
        }
    };
    let cfg = match scenarios::preset(&scenario) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baselines: {e}");
            return ExitCode::from(2);
        }
    };
    let policies: Vec<SchedulerSpec> =
        BASELINES.iter().map(|n| SchedulerSpec::baseline(n).expect("known baseline")).collect();
    // Evaluation seeds start at 1,000,000, away from the small seeds training runs use.
    let seeds: Vec<u64> = (1_000_000..1_000_000 + seeds).collect();
    let start = std::time::Instant::now();
    match evaluate(&cfg, &policies, &seeds, Some("least-loaded")) {
        Ok(report) => {
            print!("{}", report.table());
            println!("({:.1} s)", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("baselines: {e}");
            ExitCode::FAILURE
        }
    }
}
