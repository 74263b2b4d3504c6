//! CSV traces (`env.workload.trace`, `cluster_env::check_trace`): the text is checked against
//! three scenario presets (one resource; two resources with tenants; three resources). A trace
//! one of them accepts is then replayed for a whole episode with a baseline scheduler. Any
//! input is a typed error or a finished episode; never a panic or a hang.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use cluster_env::{ScenarioConfig, Simulator, baseline, check_trace, run_episode, scenarios};
use libfuzzer_sys::fuzz_target;

fn presets() -> &'static [ScenarioConfig] {
    static PRESETS: OnceLock<Vec<ScenarioConfig>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        ["park-lb", "seed-case", "multi-resource"].iter().map(|n| scenarios::preset(n).unwrap()).collect()
    })
}

/// Where the trace is written for the simulator, which reads it from a file.
fn trace_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("cluster-rl-fuzz-trace-{}.csv", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for preset in presets() {
        if check_trace(text, preset).is_err() {
            continue;
        }
        std::fs::write(trace_path(), text).unwrap();
        let mut cfg = preset.clone();
        cfg.workload.trace = Some(trace_path().clone());
        let mut sim = Simulator::new(&cfg).expect("a checked trace compiles");
        let mut policy = baseline("least-loaded").unwrap();
        run_episode(&mut sim, policy.as_mut(), 1).expect("a checked trace replays");
        return;
    }
});
