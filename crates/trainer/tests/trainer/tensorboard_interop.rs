//! The event files `cluster-rl train` writes are read by the real TensorBoard: Python's
//! `tensorboard` package (EventAccumulator) must find the expected scalar and histogram tags
//! with the expected steps and values.
//!
//! Needs a Python with the `tensorboard` package: `$CLUSTER_RL_PYTHON`, or the workspace's
//! `.venv` (`python3 -m venv .venv && .venv/bin/pip install tensorboard`, as
//! `scripts/test.sh` does). Without one this test fails, naming what to install.

use std::process::Command;

use crate::common::python;

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");

const READER: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "histograms": {t: [[e.step, e.histogram_value.num] for e in acc.Histograms(t)] for t in tags["histograms"]},
    "text": {t: [[e.step, e.tensor_proto.string_val[0].decode()] for e in acc.Tensors(t)] for t in tags["tensors"]},
}
print(json.dumps(out))
"#;

#[test]
fn event_files_load_in_tensorboard() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("cluster-rl-tb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("tb.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[experiment]
name = "tb"
[env]
scenario = "park-lb"
reward = "attributed-jct"
workload.n_tasks = 100
[agent]
buffer_size = 5000
batch_size = 32
learning_starts = 200
train_frequency = 1
hidden_sizes = [16]
[training]
total_steps = 2000
num_envs = 2
eval_interval = 1000
eval_episodes = 2
checkpoint_interval = 1000
[evaluation]
baselines = ["least-loaded", "random"]
[logging]
runs_dir = "{0}/runs"
checkpoint_dir = "{0}/checkpoints"
histogram_interval = 500
"#,
            dir.display()
        ),
    )
    .unwrap();
    let o = Command::new(BIN).args(["train", "--quiet", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let run_dir = dir.join("runs/tb/run-1");
    let o = Command::new(&python)
        .args(["-c", READER, run_dir.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("tensorboard interop: cannot run {}: {e}", python.display()));
    assert!(o.status.success(), "tensorboard interop: the reader failed: {}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let scalars = got["scalars"].as_object().unwrap();
    for tag in [
        "charts/episodic_return",
        "charts/episodic_length",
        "charts/epsilon",
        "charts/SPS",
        "charts/learning_rate",
        "losses/td_loss",
        "losses/q_values",
        "sim/mean_jct",
        "sim/p95_jct",
        "sim/unfinished",
        "sim/mean_jct_with_unfinished",
        "eval/dqn/mean_jct",
        "eval/least-loaded/mean_jct",
        "eval/random/mean_utilisation",
    ] {
        assert!(scalars.contains_key(tag), "tag {tag} missing; have {:?}", scalars.keys().collect::<Vec<_>>());
    }
    // Evaluations at steps 1000 and 2000, the baselines' lines beside the agent's.
    let steps =
        |tag: &str| -> Vec<u64> { scalars[tag].as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect() };
    assert_eq!(steps("eval/dqn/mean_jct"), [1000, 2000]);
    assert_eq!(steps("eval/least-loaded/mean_jct"), [1000, 2000]);
    let ll: Vec<f64> =
        scalars["eval/least-loaded/mean_jct"].as_array().unwrap().iter().map(|e| e[1].as_f64().unwrap()).collect();
    assert!(ll[0] > 0.0 && ll[0] == ll[1], "baselines do not learn: {ll:?}");
    let lr = scalars["charts/learning_rate"][0][1].as_f64().unwrap();
    assert!((lr - 2.5e-4).abs() < 1e-9, "{lr}");
    // An episode of 100 tasks is 100 decisions.
    assert!(scalars["charts/episodic_length"].as_array().unwrap().iter().all(|e| e[1].as_f64() == Some(100.0)));
    let hist = got["histograms"].as_object().unwrap();
    // Q-values of 2 envs × 10 nodes, every 500 steps.
    let q = hist["charts/q_values"].as_array().unwrap();
    assert_eq!(q.len(), 4);
    assert!(q.iter().all(|e| e[1].as_f64() == Some(20.0)));
    // Training choices (ε-greedy) of 2 envs over each 500 environment steps: 500 decisions.
    let train_chosen = hist["charts/chosen_node"].as_array().unwrap();
    assert_eq!(train_chosen.len(), 4);
    assert!(train_chosen.iter().all(|e| e[1].as_f64() == Some(500.0)), "{train_chosen:?}");
    // Greedy choices of 2 validation episodes × 100 decisions.
    let chosen = hist["eval/dqn/chosen_node"].as_array().unwrap();
    assert_eq!(chosen[0][1].as_f64(), Some(200.0));
    // The resolved experiment as text, at step 0.
    let text = &got["text"]["config/experiment"][0];
    assert_eq!(text[0].as_u64(), Some(0));
    let body = text[1].as_str().unwrap();
    assert!(
        body.starts_with("```toml\n") && body.contains("name = \"tb\"") && body.contains("batch_size = 32"),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
