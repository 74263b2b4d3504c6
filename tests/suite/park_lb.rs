//! Sanity of the park-lb dynamics: random and round-robin overload the slow servers, while
//! least-loaded keeps completion times low (the ordering Park reports).

use cluster_env::{SchedulerSpec, evaluate, scenarios};

#[test]
fn park_lb_baselines_have_the_expected_ordering() {
    let cfg = scenarios::preset("park-lb").unwrap();
    let seeds: Vec<u64> = (0..1000).collect();
    let policies: Vec<SchedulerSpec> =
        ["random", "round-robin", "least-loaded"].iter().map(|n| SchedulerSpec::baseline(n).unwrap()).collect();
    let report = evaluate(&cfg, &policies, &seeds, Some("least-loaded")).unwrap();
    let jct = |p: &str| report.policy(p).unwrap().metric("mean_jct").unwrap().value.mean;
    assert!(jct("random") > 10_000.0, "random: {}", jct("random"));
    assert!(jct("round-robin") > 10_000.0, "round-robin: {}", jct("round-robin"));
    assert!(jct("least-loaded") < 1_500.0, "least-loaded: {}", jct("least-loaded"));
}
