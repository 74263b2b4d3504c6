//! Exact resume (issue 13): a run killed with `kill -9` after a checkpoint and resumed ends
//! with the same weights, optimizer state, replay-driven counters and environment states as an
//! uninterrupted run, and with the same TensorBoard scalars (read by the real TensorBoard);
//! a crash after the TensorBoard events of a checkpoint were written but before the checkpoint
//! itself is cut back on resume. Without a saved replay buffer the resume says it is
//! approximate. Needs the `failpoints` feature (`scripts/test.sh` enables it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::python;

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");

/// A small park-lb run with n-step returns, observation normalisation, episodes that end
/// often (60 tasks), validation every 1000 steps and checkpoints every 2000.
const EXPERIMENT: &str = r#"
[experiment]
name = "exact"
seed = 5
[env]
scenario = "park-lb"
reward = "attributed-jct"
workload.n_tasks = 60
[agent]
learning_rate = 1e-3
buffer_size = 5000
batch_size = 32
learning_starts = 300
n_step = 3
hidden_sizes = [16]
normalize_obs = true
reward_scale = 0.001
target_network_frequency = 250
[training]
total_steps = 4000
num_envs = 2
eval_interval = 1000
eval_episodes = 3
checkpoint_interval = 2000
keep_checkpoints = 3
[evaluation]
episodes = 4
baselines = ["least-loaded"]
[logging]
runs_dir = "runs"
checkpoint_dir = "checkpoints"
histogram_interval = 500
"#;

/// A fresh directory holding the experiment file, in which the binary runs.
fn case(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-rl-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("exact.toml"), EXPERIMENT).unwrap();
    dir
}

fn train(dir: &Path, extra: &[&str], fail_at: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(["train", "--config", "exact.toml", "--quiet"]).args(extra);
    match fail_at {
        Some(f) => cmd.env("CLUSTER_RL_FAIL_AT", f),
        None => cmd.env_remove("CLUSTER_RL_FAIL_AT"),
    };
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts training with failpoint `hang-after-step-<step>`, waits until it hangs there and
/// kills it with SIGKILL (`kill -9`: no handler runs, nothing is flushed).
fn train_and_kill_at(dir: &Path, step: u64) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["train", "--config", "exact.toml", "--quiet"])
        .env("CLUSTER_RL_FAIL_AT", format!("hang-after-step-{step}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let hung = line.contains(&format!("failpoint hang-after-step-{step}: waiting"));
        seen.push(line);
        if hung {
            break;
        }
    }
    assert!(seen.last().is_some_and(|l| l.contains("waiting")), "the run never reached step {step}: {seen:#?}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// What of the final step checkpoint must match bit for bit: the agent's counters, RNG,
/// statistics and config (`agent.json` without the burnpack checksums), the replay buffer, the environments, and the online
/// and target weights (as `Debug` text, which tells every `f32` apart, `-0.0` from `0.0`).
/// The burnpack files themselves differ between processes: they carry burn's parameter ids,
/// drawn at random when a network is created (a resumed run reads them back). The optimizer's
/// moments are checked through their effect: 2,000 more Adam steps give the same weights.
fn final_checkpoint(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let step = dir.join("checkpoints/exact/step-000000004000");
    let mut out: Vec<(String, Vec<u8>)> = ["replay.bin", "envs.bin"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(step.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))))
        .collect();
    // agent.json less the checksums of the burnpack files.
    let mut agent: serde_json::Value =
        serde_json::from_slice(&std::fs::read(step.join("agent.json")).unwrap()).unwrap();
    agent.as_object_mut().unwrap().remove("checksums").unwrap();
    out.push(("agent.json".into(), agent.to_string().into_bytes()));
    let agent = dqn::Agent::load(&step).unwrap();
    for (name, net) in [("online weights", agent.online()), ("target weights", agent.target())] {
        out.push((name.into(), format!("{:?}", net.to_host().unwrap()).into_bytes()));
    }
    out
}

/// Every scalar of the run directory as TensorBoard reads it, `(tag, step, value)` in file
/// order; `charts/SPS` (a wall-clock rate) left out.
fn scalars(run: &Path) -> Vec<(String, i64, f64)> {
    const READER: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"#;
    let out = Command::new(python()).args(["-c", READER]).arg(run).output().unwrap();
    assert!(out.status.success(), "tensorboard: {}", stderr(&out));
    let tags: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut all = Vec::new();
    for (tag, points) in tags {
        if tag == "charts/SPS" {
            continue;
        }
        for p in points.as_array().unwrap() {
            all.push((tag.clone(), p[0].as_i64().unwrap(), p[1].as_f64().unwrap()));
        }
    }
    all
}

#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "needs the failpoints feature: cargo test -p trainer --features failpoints"
)]
fn kill_9_then_resume_is_bit_identical_to_an_uninterrupted_run() {
    let whole = case("whole");
    let o = train(&whole, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));

    // Killed at step 2600, after the checkpoint at 2000; resumed; then crashed at the final
    // checkpoint after its TensorBoard events were on disk but before the checkpoint was;
    // resumed again from 2000 and finished.
    let cut = case("cut");
    train_and_kill_at(&cut, 2600);
    let latest = std::fs::read_to_string(cut.join("checkpoints/exact/latest")).unwrap();
    assert_eq!(latest.trim(), "step-000000002000");
    let o = train(&cut, &["--resume"], Some("events-synced-4000"));
    assert!(!o.status.success(), "the failpoint aborts: {}", stderr(&o));
    assert!(stderr(&o).contains("resuming exact from") && stderr(&o).contains("exactly"), "{}", stderr(&o));
    let o = train(&cut, &["--resume"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(step 2000), exactly"), "{}", stderr(&o));

    let (a, b) = (final_checkpoint(&whole), final_checkpoint(&cut));
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between the uninterrupted and the resumed run");
    }
    let (sa, sb) = (scalars(&whole.join("runs/exact/run-1")), scalars(&cut.join("runs/exact/run-1")));
    assert!(sa.iter().any(|(t, s, _)| t == "losses/td_loss" && *s > 2000), "scalars after the cut are compared");
    assert!(sa.iter().any(|(t, _, _)| t.starts_with("eval/")) && sa.iter().any(|(t, _, _)| t.starts_with("sim/")));
    assert_eq!(sa, sb, "the same scalars, each once, in the same order");
    for dir in [whole, cut] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "needs the failpoints feature: cargo test -p trainer --features failpoints"
)]
fn without_a_saved_replay_buffer_resume_says_it_is_approximate() {
    let dir = case("approx");
    let text = EXPERIMENT.replace("keep_checkpoints = 3", "keep_checkpoints = 3\nsave_replay = false");
    std::fs::write(dir.join("exact.toml"), text).unwrap();
    train_and_kill_at(&dir, 2200);
    let o = train(&dir, &["--resume"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("approximately: the checkpoint has no replay buffer (training.save_replay = false)"), "{err}");
    // The empty buffer refills for learning_starts (300) steps before learning resumes.
    let from: u64 = err.split("(step ").nth(1).and_then(|s| s.split(')').next()).unwrap().parse().unwrap();
    assert!(err.contains(&format!("learning restarts at step {}", from + 300)), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
