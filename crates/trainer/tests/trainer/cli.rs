//! End-to-end tests of the `cluster-rl` binary: bad input, baselines, train → checkpoint →
//! interrupt → resume → eval, kill -9 then resume, and TensorBoard interop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-rl-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny park-lb experiment writing under `dir`.
fn tiny(dir: &Path, total_steps: u64, n_tasks: u64) -> PathBuf {
    let text = format!(
        r#"
[experiment]
name = "tiny"
seed = 1
[env]
scenario = "park-lb"
reward = "attributed-jct"
workload.n_tasks = {n_tasks}
[agent]
learning_rate = 1e-3
buffer_size = 5000
batch_size = 32
learning_starts = 200
hidden_sizes = [16]
normalize_obs = true
reward_scale = 0.001
[training]
total_steps = {total_steps}
num_envs = 2
eval_interval = 1000
eval_episodes = 3
checkpoint_interval = 500
keep_checkpoints = 2
[evaluation]
episodes = 4
baselines = ["least-loaded", "random"]
[logging]
runs_dir = "{0}/runs"
checkpoint_dir = "{0}/checkpoints"
histogram_interval = 500
"#,
        dir.display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn trainer_step(dir: &Path) -> u64 {
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("trainer.json")).unwrap()).unwrap();
    state["global_step"].as_u64().unwrap()
}

fn latest(ckpt_root: &Path) -> PathBuf {
    let name = std::fs::read_to_string(ckpt_root.join("latest")).unwrap();
    ckpt_root.join(name.trim())
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let dir = scratch("bad");
    let cfg = tiny(&dir, 1000, 50);
    let c = cfg.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--config", c, "--set", "agent.gama=0.9"], "agent.gama: unknown field `gama`"),
        (&["train", "--config", c, "--set", "agent.gamma=1.5"], "agent.gamma: 1.5 is outside [0, 1]"),
        (&["train", "--config", c, "--set", "agent.gamma=\"x\""], "agent.gamma: invalid type: string"),
        (&["train", "--config", c, "--set", "agent.batch_size=9000"], "agent.batch_size: 9000 exceeds buffer_size"),
        (&["train", "--config", c, "--set", "env.nodes=[]"], "env.nodes = 0: allowed: at least one node"),
        (&["train", "--config", c, "--set", "env.scenario=tiny"], "unknown scenario \"tiny\": valid scenarios are"),
        (&["train", "--config", c, "--set", "evaluation.baselines=[\"fastest\"]"], "unknown baseline \"fastest\""),
        (&["train", "--config", c, "--set", "training.num_envs=0"], "training.num_envs: must be at least 1"),
        (&["train", "--config", c, "--resume"], "no checkpoint to resume from"),
        (&["train", "--config", "/nonexistent/x.toml"], "/nonexistent/x.toml: cannot read"),
        (&["eval", "--checkpoint", "/nonexistent/ckpt"], "no such checkpoint"),
        (&["baselines", "--scenario", "nope"], "unknown scenario \"nope\""),
        (&["baselines", "--scenario", "park-lb", "--baselines", "least-loaded,nope"], "unknown baseline \"nope\""),
        (&["baselines", "--scenario", "park-lb", "--episodes", "0"], "--episodes: must be at least 1"),
    ];
    for (args, want) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if args[0] == "train" && args.len() > 3 && args[3].starts_with("agent") {
            assert!(err.contains(c), "the error names the file: {err}");
        }
    }
    assert!(!dir.join("runs").exists() && !dir.join("checkpoints").exists(), "nothing was started");
    // Not a checkpoint, corrupt checkpoint.
    std::fs::write(dir.join("latest"), "../../etc\n").unwrap();
    let o = run(&["eval", "--checkpoint", dir.join("latest").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a checkpoint pointer"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dry_run_prints_the_resolved_experiment() {
    let dir = scratch("dry");
    let cfg = tiny(&dir, 1000, 50);
    let o = run(&["train", "--config", cfg.to_str().unwrap(), "--dry-run", "--set", "agent.learning_rate=1e-4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("learning_rate = 0.0001"), "{text}");
    assert!(text.contains("n_tasks = 50") && text.contains("scenario = \"park-lb\""), "{text}");
    assert!(!dir.join("runs").exists(), "a dry run starts nothing");
    // The resolved experiment is itself a valid experiment file.
    std::fs::write(dir.join("resolved.toml"), &text).unwrap();
    let again = run(&["train", "--config", dir.join("resolved.toml").to_str().unwrap(), "--dry-run"]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn baselines_writes_all_reports() {
    let dir = scratch("baselines");
    let out = dir.join("out");
    let o = run(&[
        "baselines",
        "--scenario",
        "seed-case",
        "--episodes",
        "5",
        "--baselines",
        "least-loaded,random,tetris",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("Δ mean JCT vs least-loaded") && table.contains("tetris"), "{table}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["policies"].as_array().unwrap().len(), 3);
    assert_eq!(json["seeds"][0], 1_000_000);
    assert_eq!(std::fs::read_to_string(out.join("report.csv")).unwrap().lines().count(), 4);
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("| tetris |"));
    assert!(std::fs::read_to_string(out.join("report.svg")).unwrap().starts_with("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_checkpoint_interrupt_resume_eval() {
    let dir = scratch("cycle");
    let cfg = tiny(&dir, 3000, 60);
    let c = cfg.to_str().unwrap();
    let ckpts = dir.join("checkpoints/tiny");

    // A complete short run: step checkpoints (the newest 2 kept), best, latest, TensorBoard.
    let o = run(&[
        "train",
        "--config",
        c,
        "--quiet",
        "--set",
        "training.total_steps=2000",
        "--set",
        "experiment.name=short",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let short = dir.join("checkpoints/short");
    assert_eq!(trainer_step(&latest(&short)), 2000);
    let steps: Vec<_> = std::fs::read_dir(&short)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .collect();
    assert_eq!(steps.len(), 2, "keep_checkpoints = 2");
    assert!(short.join("best/agent.json").is_file());
    assert!(latest(&short).join("replay.bin").is_file());
    let run_dir = dir.join("runs/short/run-1");
    assert!(run_dir.join("experiment.toml").is_file());
    let events: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents"))
        .collect();
    assert_eq!(events.len(), 1);
    assert!(events[0].metadata().unwrap().len() > 1000);
    // Training again without --resume would clobber it: refused.
    let o = run(&["train", "--config", c, "--set", "training.total_steps=2000", "--set", "experiment.name=short"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already has checkpoints"), "{}", stderr(&o));

    // Interrupt (SIGINT) a longer run: it checkpoints and stops; --resume finishes it.
    let mut child = Command::new(BIN)
        .args([
            "train",
            "--config",
            c,
            "--quiet",
            "--set",
            "env.workload.n_tasks=1000",
            "--set",
            "training.total_steps=40000",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ckpts.join("latest").exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let at = trainer_step(&latest(&ckpts));
    if status.code() == Some(130) {
        assert!(at < 40000);
    } else {
        assert!(status.success(), "{status:?}");
    }
    let o = run(&[
        "train",
        "--config",
        c,
        "--quiet",
        "--resume",
        "--set",
        "env.workload.n_tasks=1000",
        "--set",
        "training.total_steps=40000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("(step {at})")), "{}", stderr(&o));
    assert_eq!(trainer_step(&latest(&ckpts)), 40000);
    assert_eq!(std::fs::read_dir(dir.join("runs/tiny")).unwrap().count(), 1, "resume appends to the same run");

    // Evaluate the final checkpoint on held-out seeds.
    let out = dir.join("report");
    let o = run(&[
        "eval",
        "--checkpoint",
        ckpts.to_str().unwrap(),
        "--episodes",
        "3",
        "--baselines",
        "least-loaded",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = json["policies"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dqn", "least-loaded"]);
    assert_eq!(json["seeds"].as_array().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_then_resume_finishes_the_run() {
    let dir = scratch("kill9");
    let cfg = tiny(&dir, 40000, 1000);
    let c = cfg.to_str().unwrap();
    let ckpts = dir.join("checkpoints/tiny");
    let mut child = Command::new(BIN).args(["train", "--config", c, "--quiet"]).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    // Wait until `latest` names the second checkpoint (it is updated after the checkpoint's
    // directory is in place), so the kill lands while training is well under way.
    let latest_name = || std::fs::read_to_string(ckpts.join("latest")).unwrap_or_default();
    while latest_name().trim() < "step-000000001000" {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at = trainer_step(&latest(&ckpts));
    assert!(at >= 1000);
    let o = run(&["train", "--config", c, "--quiet", "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming tiny from"), "{}", stderr(&o));
    assert_eq!(trainer_step(&latest(&ckpts)), 40000);
    assert!(
        std::fs::read_dir(&ckpts).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint() {
    let dir = scratch("nan");
    let cfg = tiny(&dir, 3000, 100);
    // Learning starts after the checkpoint at step 500; the first gradient step (at 610, one
    // per 10 steps) diverges and is caught at once.
    let c = cfg.to_str().unwrap();
    let o = run(&[
        "train",
        "--config",
        c,
        "--quiet",
        "--set",
        "agent.reward_scale=1e300",
        "--set",
        "agent.learning_starts=600",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("training diverged at step 610: losses/td_loss is not finite (gradient step 1)"), "{err}");
    assert!(err.contains("the last good checkpoint is") && err.contains("step-000000000500"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = latest(&dir.join("checkpoints/tiny"));
    assert!(last.join("agent.json").is_file() && trainer_step(&last) < 3000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The policy shipped in `checkpoints/` evaluates right after cloning, and on held-out seeds it
/// still beats least-loaded (it was trained with `experiments/park-lb.toml`).
#[test]
fn shipped_park_lb_policy_evaluates_and_beats_least_loaded() {
    let dir = scratch("shipped");
    let ckpt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../checkpoints/shipped-park-lb");
    let out = dir.join("report");
    let o = run(&[
        "eval",
        "--checkpoint",
        ckpt,
        "--episodes",
        "50",
        "--baselines",
        "least-loaded",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let dqn = &json["policies"][0];
    assert_eq!(dqn["name"], "dqn");
    let jct = dqn["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "mean_jct").unwrap();
    let diff = jct["diff_vs_reference"]["mean"].as_f64().unwrap();
    assert!(diff < -50.0, "shipped dqn − least-loaded mean JCT on 50 held-out seeds: {diff}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every shipped experiment file parses and validates.
#[test]
fn every_shipped_experiment_resolves() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let o = run(&["train", "--config", path.to_str().unwrap(), "--dry-run"]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
        checked += 1;
    }
    assert!(checked >= 6, "found only {checked} experiment files in {}", dir.display());
}

/// CartPole trains through the same driver: validation by greedy return, best checkpoint,
/// `eval` reports the mean return; `export` (cluster observations only) refuses it clearly.
#[test]
fn cartpole_trains_and_evaluates_through_the_binary() {
    let dir = scratch("cartpole");
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments/cartpole.toml");
    let sets = [
        "training.total_steps=3000".to_string(),
        "training.eval_interval=1500".to_string(),
        "training.eval_episodes=2".to_string(),
        format!("logging.runs_dir=\"{}/runs\"", dir.display()),
        format!("logging.checkpoint_dir=\"{}/checkpoints\"", dir.display()),
    ];
    let mut args = vec!["train", "--config", cfg, "--quiet"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let o = run(&args);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("step 1500: validation mean return") && err.contains("best validation mean return"), "{err}");
    let best = dir.join("checkpoints/cartpole/best");
    let o = run(&["eval", "--checkpoint", best.to_str().unwrap(), "--episodes", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dqn greedy mean return") && out.contains("over 3 CartPole-v1 episodes from seed 12345"),
        "{out}"
    );
    let o = run(&["export", "--checkpoint", best.to_str().unwrap(), "--out", dir.join("x").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("experiment cartpole trains on cartpole; export needs a cluster scenario"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same experiment trained with 1 and with 3 rayon threads ends with bit-identical weights
/// (compared through `export`: burn's `.bpk` files embed random parameter ids), a bit-identical
/// replay buffer (every transition, so every action taken) and the same held-out evaluation:
/// every env and episode has its own seeded RNG, so rayon's scheduling cannot change results.
#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let dir = scratch("threads");
    let cfg = tiny(&dir, 2000, 60);
    let c = cfg.to_str().unwrap();
    let mut replays = Vec::new();
    let mut weights = Vec::new();
    let mut reports = Vec::new();
    for threads in ["1", "3"] {
        let name = format!("experiment.name=t{threads}");
        let o = Command::new(BIN)
            .args(["train", "--config", c, "--quiet", "--set", &name, "--set", "training.num_envs=4"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let ckpt = latest(&dir.join(format!("checkpoints/t{threads}")));
        assert_eq!(trainer_step(&ckpt), 2000);
        replays.push(std::fs::read(ckpt.join("replay.bin")).unwrap());
        let export = dir.join(format!("export-{threads}"));
        let o = run(&["export", "--checkpoint", ckpt.to_str().unwrap(), "--out", export.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        weights.push(std::fs::read(export.join("policy.safetensors")).unwrap());
        let out = dir.join(format!("report-{threads}"));
        let o = Command::new(BIN)
            .args(["eval", "--checkpoint", ckpt.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        reports.push(std::fs::read_to_string(out.join("report.csv")).unwrap());
    }
    assert!(replays[0] == replays[1], "replay buffers differ between 1 and 3 threads");
    assert!(weights[0] == weights[1], "weights differ between 1 and 3 threads");
    assert_eq!(reports[0], reports[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13: `baselines --out` into a directory where `eval` wrote before left its
/// `source.json`, so `summary` attributed the baselines' results to that training run.
#[test]
fn baselines_into_an_eval_directory_drop_its_source_and_summary_attributes_nothing() {
    let dir = scratch("stale-source");
    let out = dir.join("report");
    let ckpt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../checkpoints/shipped-park-lb");
    let o = run(&[
        "eval",
        "--checkpoint",
        ckpt,
        "--episodes",
        "3",
        "--baselines",
        "least-loaded",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let source: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("source.json")).unwrap()).unwrap();
    assert_eq!(source["learned_policy"], "dqn");
    let summary = run(&["summary", out.to_str().unwrap()]);
    assert!(summary.status.success(), "{}", stderr(&summary));
    assert!(String::from_utf8_lossy(&summary.stdout).contains("| dqn − reference (paired) | "));

    let o = run(&[
        "baselines",
        "--scenario",
        "park-lb",
        "--episodes",
        "3",
        "--baselines",
        "least-loaded,random",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("source.json").exists(), "a stale source.json stayed beside the baselines' reports");
    let summary = run(&["summary", out.to_str().unwrap()]);
    assert!(summary.status.success(), "{}", stderr(&summary));
    let table = String::from_utf8_lossy(&summary.stdout).into_owned();
    assert!(table.contains("| training | — |"), "{table}");
    assert!(table.contains("| learned policy − reference (paired) | — |"), "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13: seed ranges are checked everywhere: training against validation at load,
/// `eval --episodes` against validation, and overflowing `--seed-offset`s are errors, not panics.
#[test]
fn seed_ranges_stay_disjoint_through_every_command() {
    let dir = scratch("seeds");
    let cfg = tiny(&dir, 1000, 50);
    let c = cfg.to_str().unwrap();
    let ckpt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../checkpoints/shipped-park-lb");
    // The shipped checkpoint with its test seeds moved to 1999990.. (it validates on
    // 2000000..2000050): 10 episodes fit, 11 reach the validation seeds.
    let moved = dir.join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for entry in std::fs::read_dir(ckpt).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, moved.join(path.file_name().unwrap())).unwrap();
    }
    let toml = std::fs::read_to_string(moved.join("experiment.toml")).unwrap();
    assert!(toml.contains("\nseed_offset = 1000000\n") && toml.contains("\nepisodes = 200\n"));
    let toml = toml.replace("\nseed_offset = 1000000\n", "\nseed_offset = 1999990\n");
    std::fs::write(moved.join("experiment.toml"), toml.replace("\nepisodes = 200\n", "\nepisodes = 10\n")).unwrap();
    let m = moved.to_str().unwrap();
    let o = run(&[
        "eval",
        "--checkpoint",
        m,
        "--episodes",
        "10",
        "--baselines",
        "none",
        "--out",
        dir.join("r").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let max = u64::MAX.to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "--config", c, "--set", "experiment.seed=2000000", "--dry-run"],
            "experiment.seed = 2000000, training.num_envs = 2: the training seeds 2000000..2000002 overlap the \
             validation seeds 2000000..2000003",
        ),
        (
            &["eval", "--checkpoint", m, "--episodes", "11"],
            "evaluation.seed_offset = 1999990, --episodes = 11: the test seeds 1999990..2000001 overlap the \
             validation seeds 2000000..2000050",
        ),
        (&["eval", "--checkpoint", ckpt, "--episodes", &max], "--episodes: 18446744073709551615 is more than 1000000"),
        (&["eval", "--checkpoint", ckpt, "--episodes", "0"], "--episodes: must be at least 1"),
        (
            &["baselines", "--scenario", "park-lb", "--seed-offset", &max, "--episodes", "5"],
            "--seed-offset = 18446744073709551615, --episodes = 5: the test seeds 18446744073709551615..18446744073709551615 + 5 do not fit below 2^63",
        ),
        (
            &["baselines", "--scenario", "park-lb", "--seed-offset", "1999999", "--episodes", "5"],
            "the test seeds 1999999..2000004 overlap the validation seeds 2000000..3000000",
        ),
    ];
    for (args, want) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13 (11): a trace scenario's checkpoint named the trace by a path relative to where
/// training ran, so `eval` or `export` elsewhere failed, or read a trace changed since. Now the
/// checkpoint (and its export) holds a copy named by its hash, used from any directory and
/// checked on load; `--resume` refuses a changed trace.
#[test]
fn a_trace_checkpoint_is_self_contained_and_notices_a_changed_trace() {
    use std::fmt::Write as _;
    let dir = scratch("trace");
    let cfg = tiny(&dir, 1000, 50);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut csv = String::from("arrival,work,slot,priority\n");
    for k in 0..40 {
        let _ = writeln!(csv, "{},{},1,0", k * 50, 100 + (k * 37) % 400);
    }
    std::fs::write(work.join("jobs.csv"), &csv).unwrap();
    let in_dir = |cwd: &Path, args: &[&str]| Command::new(BIN).current_dir(cwd).args(args).output().unwrap();
    let train = ["train", "--config", cfg.to_str().unwrap(), "--quiet", "--set", "env.workload.trace=jobs.csv"];
    let o = in_dir(&work, &train);
    assert!(o.status.success(), "{}", stderr(&o));

    // The checkpoint names its own copy, by hash.
    let ckpts = dir.join("checkpoints/tiny");
    let last = latest(&ckpts);
    let copies: Vec<String> = std::fs::read_dir(&last)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("trace-"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(std::fs::read_to_string(last.join(&copies[0])).unwrap(), csv);
    let toml = std::fs::read_to_string(last.join("experiment.toml")).unwrap();
    assert!(toml.contains(&format!("trace = \"{}\"", copies[0])), "{toml}");

    // eval and export from another directory; the export carries the copy and evaluates too.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let eval = |checkpoint: &Path| {
        let c = checkpoint.to_str().unwrap().to_owned();
        in_dir(
            &elsewhere,
            &["eval", "--checkpoint", &c, "--episodes", "2", "--baselines", "least-loaded", "--out", "r"],
        )
    };
    let o = eval(&ckpts);
    assert!(o.status.success(), "{}", stderr(&o));
    let export = dir.join("export");
    for _ in 0..2 {
        // Twice: a re-export replaces an export that holds a trace copy.
        let o =
            in_dir(&elsewhere, &["export", "--checkpoint", ckpts.to_str().unwrap(), "--out", export.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(export.join(&copies[0])).unwrap(), csv);
    let o = eval(&export);
    assert!(o.status.success(), "{}", stderr(&o));

    // A changed copy is noticed, naming the file.
    std::fs::write(last.join(&copies[0]), format!("{csv}2000,100,1,0\n")).unwrap();
    let o = eval(&ckpts);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}: the trace changed after it was saved", last.join(&copies[0]).display())),
        "{}",
        stderr(&o)
    );
    std::fs::write(last.join(&copies[0]), &csv).unwrap();

    // --resume goes on with the same trace and refuses another one.
    let resume: Vec<&str> = train.iter().copied().chain(["--resume"]).collect();
    std::fs::write(work.join("jobs.csv"), format!("{csv}2000,100,1,0\n")).unwrap();
    let o = in_dir(&work, &resume);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--resume: the trace jobs.csv is not the one"), "{}", stderr(&o));
    std::fs::write(work.join("jobs.csv"), &csv).unwrap();
    let o = in_dir(&work, &resume);
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
