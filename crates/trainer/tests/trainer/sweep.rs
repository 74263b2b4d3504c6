//! `cluster-rl sweep` end to end: planning and strict sweep files, the local backend (every run
//! done once, never redone, the report recomputed independently), resuming killed and
//! interrupted runs, and the Slurm backend on a real local Slurm (a task interrupted with
//! SIGUSR1 requeues itself and resumes; the same sweep on the local backend gives the same
//! numbers).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-rl-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny park-lb experiment (its logging paths are the sweep's business).
fn tiny_experiment(dir: &Path, total_steps: u64, n_tasks: u64, checkpoint_interval: u64) -> PathBuf {
    let text = format!(
        r#"
[experiment]
name = "tiny"
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
eval_episodes = 2
checkpoint_interval = {checkpoint_interval}
keep_checkpoints = 100
[evaluation]
episodes = 4
baselines = ["least-loaded", "random", "shortest-expected-delay"]
"#
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A sweep of `tiny.toml` (in the same directory): 2 learning rates × `seeds`.
fn sweep_file(dir: &Path, name: &str, seeds: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nbase = \"tiny.toml\"\nseeds = {seeds}\n[grid]\n\"agent.learning_rate\" = [1e-3, 3e-4]\n{extra}"
    );
    let path = dir.join(format!("{name}-sweep.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn state(dir: &Path, id: &str) -> Value {
    json(&dir.join(format!("runs/{id}/state.json")))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The held-out mean JCT of `policy` in a run's eval/report.json.
fn eval_mean_jct(dir: &Path, id: &str, policy: &str) -> f64 {
    let report = json(&dir.join(format!("runs/{id}/eval/report.json")));
    let p = report["policies"].as_array().unwrap().iter().find(|p| p["name"] == policy).unwrap();
    let m = p["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "mean_jct").unwrap();
    m["value"]["mean"].as_f64().unwrap()
}

/// The step named by a checkpoint directory's `latest` pointer, if any.
fn latest_step(root: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(root.join("latest")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn plan_dry_run_and_strict_sweep_files() {
    let dir = scratch("plan");
    tiny_experiment(&dir, 2000, 60, 500);
    let file = sweep_file(&dir, "tiny", "[1, 2]", "[resources]\nmem = \"1G\"\ntime = \"00:10:00\"\nmax_parallel = 2\n");

    // --dry-run: the runs, nothing written.
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&dir.join("sw")), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("2 configurations × 2 seeds = 4 runs"), "{out}");
    for (i, id, seed, lr) in
        [(0, "c0-s1", 1, "0.001"), (1, "c0-s2", 2, "0.001"), (2, "c1-s1", 1, "0.0003"), (3, "c1-s2", 2, "0.0003")]
    {
        let line = out.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} missing: {out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[..3], [i.to_string().as_str(), id, seed.to_string().as_str()], "{line}");
        assert!(line.ends_with(&format!("agent.learning_rate={lr}")), "{line}");
    }
    assert!(!dir.join("sw").exists(), "a dry run writes nothing");
    // One of each is counted in the singular.
    let single = dir.join("single-sweep.toml");
    std::fs::write(&single, "[sweep]\nname = \"single\"\nbase = \"tiny.toml\"\nseeds = [7]\n").unwrap();
    let o = run(&["sweep", "plan", s(&single), "--dir", s(&dir.join("single")), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sweep single: 1 configuration × 1 seed = 1 run\n"), "{}", stdout(&o));

    // The plan: sweep.json, one resolved experiment and a pending state per run, the script.
    let sw = dir.join("sw");
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = json(&sw.join("sweep.json"));
    assert_eq!(plan["format"], "cluster-rl-sweep");
    assert_eq!(plan["runs"].as_array().unwrap().len(), 4);
    assert_eq!(plan["runs"][3]["id"], "c1-s2");
    assert_eq!(plan["configurations"][1]["values"]["agent.learning_rate"], 3e-4);
    assert_eq!(plan["configurations"][1]["sets"][0], "agent.learning_rate=0.0003");
    let exp = std::fs::read_to_string(sw.join("runs/c1-s2/experiment.toml")).unwrap();
    assert!(exp.contains("name = \"tiny-c1-s2\"") && exp.contains("seed = 2"), "{exp}");
    assert!(exp.contains("learning_rate = 0.0003"), "{exp}");
    assert!(exp.contains(&format!("runs_dir = \"{}\"", sw.join("runs/c1-s2/tensorboard").display())), "{exp}");
    assert!(exp.contains(&format!("checkpoint_dir = \"{}\"", sw.join("runs/c1-s2/checkpoints").display())), "{exp}");
    assert_eq!(state(&sw, "c0-s1")["status"], "pending");
    let script = std::fs::read_to_string(sw.join("sweep.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-3%2".to_string(),
        "#SBATCH --cpus-per-task=1".into(),
        "#SBATCH --mem=1G".into(),
        "#SBATCH --time=00:10:00".into(),
        "#SBATCH --requeue".into(),
        "#SBATCH --signal=B:USR1@120".into(),
        "#SBATCH --open-mode=append".into(),
        format!("#SBATCH --output={}/logs/%A_%a.out", sw.display()),
        format!("BIN='{}'", std::fs::canonicalize(BIN).unwrap().display()),
        "  scontrol requeue \"$task\"".into(),
    ] {
        assert!(script.lines().any(|l| l == line), "{line:?} not in\n{script}");
    }
    assert!(!script.contains("--partition"), "only the resources given: {script}");
    let o = run(&["sweep", "status", s(&sw)]);
    assert!(o.status.success() && stdout(&o).contains("4 pending"), "{}", stdout(&o));

    // Planning again is a no-op; another sweep into the same directory is refused.
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = sweep_file(&dir, "other", "[1, 2, 3]", "");
    let o = run(&["sweep", "plan", s(&other), "--dir", s(&sw)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds a different sweep") && stderr(&o).contains("another sweep file"),
        "{}",
        stderr(&o)
    );
    // The same sweep file edited: a dropped seed or other resources are refused, nothing changes.
    let plan_before = std::fs::read(sw.join("sweep.json")).unwrap();
    let res = "[resources]\nmem = \"1G\"\ntime = \"00:10:00\"\nmax_parallel = 2\n";
    for (seeds, extra, want) in [
        ("[2, 3]", res, "seeds [1] are gone from sweep.seeds; a sweep only grows"),
        ("[1, 2, 3]", "[resources]\nmem = \"2G\"\n", "other [resources]"),
    ] {
        sweep_file(&dir, "tiny", seeds, extra);
        let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
        assert_eq!(o.status.code(), Some(2), "{seeds}: {}", stdout(&o));
        assert!(stderr(&o).contains(want), "{seeds}: expected {want:?} in {}", stderr(&o));
        assert_eq!(std::fs::read(sw.join("sweep.json")).unwrap(), plan_before);
    }
    // Seeds listed in another order: the same sweep, the plan is left as it was.
    sweep_file(&dir, "tiny", "[2, 1]", res);
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(sw.join("sweep.json")).unwrap(), plan_before);
    sweep_file(&dir, "tiny", "[1, 2]", res);

    // Strict files: errors name the file and the key, exit 2, nothing planned.
    let head = "[sweep]\nname = \"x\"\nbase = \"tiny.toml\"\n";
    let cases: &[(&str, String, &str)] = &[
        ("unknown", format!("{head}seeds = [1]\nseed = 3\n"), "sweep.seed: unknown field `seed`"),
        (
            "zip",
            format!("{head}seeds = [1]\n[zip]\n\"agent.gamma\" = [0.9, 0.99]\n\"agent.n_step\" = [1, 2, 3]\n"),
            "zip.agent.n_step: has 3 values but zip.agent.gamma has 2",
        ),
        ("empty", format!("{head}seeds = []\n"), "sweep.seeds: the list is empty"),
        // Settings are checked as the experiment file's own: the error names the base file too.
        (
            "badkey",
            format!("{head}seeds = [1]\n[grid]\n\"agent.gama\" = [0.9]\n"),
            "configuration c0 (agent.gama=0.9), seed 1: ",
        ),
        (
            "badvalue",
            format!("{head}seeds = [1]\n[grid]\nagent.gamma = [0.9, 1.5]\n"),
            "configuration c1 (agent.gamma=1.5), seed 1: ",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let o = run(&["sweep", "plan", s(&path), "--dir", s(&dir.join(name))]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(s(&path)), "{name}: the error names the file: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!dir.join(name).exists(), "{name}: nothing planned");
    }
    let err = stderr(&run(&["sweep", "plan", s(&dir.join("badkey.toml")), "--dir", s(&dir.join("x"))]));
    assert!(err.contains("agent.gama: unknown field `gama`") && err.contains(s(&dir.join("tiny.toml"))), "{err}");
    let err = stderr(&run(&["sweep", "plan", s(&dir.join("badvalue.toml")), "--dir", s(&dir.join("x"))]));
    assert!(err.contains("agent.gamma: 1.5 is outside [0, 1]"), "{err}");
    // Every shipped sweep file plans (each header gives the commands that run it), and the
    // example sweep is the grid the README describes.
    let mut shipped = 0;
    for entry in std::fs::read_dir(Path::new(REPO).join("experiments/sweeps")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let o = run(&["sweep", "plan", s(&path), "--dry-run"]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
        // A sweep is named after its file, so its directory and report are easy to find.
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(stdout(&o).starts_with(&format!("sweep {stem}: ")), "{}: {}", path.display(), stdout(&o));
        if path.ends_with("park-lb-lr.toml") {
            assert!(stdout(&o).contains("2 configurations × 5 seeds = 10 runs"), "{}", stdout(&o));
        }
        shipped += 1;
    }
    assert!(shipped >= 10, "found only {shipped} shipped sweep files");
    let o = run(&["sweep", "run-one", s(&sw), "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("run index 4: sweep tiny has 4 runs (0..=3)"), "{}", stderr(&o));
    let o = run(&["sweep", "status", s(&dir)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is ") && stderr(&o).contains("a sweep directory?"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report's numbers, recomputed from the runs' own evaluation reports. With 2 seeds the
/// mean, the median and the IQM are all the mean of the two.
fn check_report(sw: &Path) {
    let report = json(&sw.join("report/report.json"));
    for (ci, c) in report["configurations"].as_array().unwrap().iter().enumerate() {
        let ids = [format!("c{ci}-s1"), format!("c{ci}-s2")];
        let dqn: Vec<f64> = ids.iter().map(|id| eval_mean_jct(sw, id, "dqn")).collect();
        let ll: Vec<f64> = ids.iter().map(|id| eval_mean_jct(sw, id, "least-loaded")).collect();
        let sed: Vec<f64> = ids.iter().map(|id| eval_mean_jct(sw, id, "shortest-expected-delay")).collect();
        let random: Vec<f64> = ids.iter().map(|id| eval_mean_jct(sw, id, "random")).collect();
        let mean = |v: &[f64]| (v[0] + v[1]) / 2.0;
        for stat in ["mean", "median", "iqm"] {
            let got = c["mean_jct"][stat]["estimate"].as_f64().unwrap();
            assert!(close(got, mean(&dqn)), "{ci} {stat}: {got} vs {}", mean(&dqn));
            let (lo, hi) =
                (c["mean_jct"][stat]["low"].as_f64().unwrap(), c["mean_jct"][stat]["high"].as_f64().unwrap());
            assert!(lo <= got && got <= hi && lo >= dqn[0].min(dqn[1]) && hi <= dqn[0].max(dqn[1]), "{c}");
        }
        let best = [("least-loaded", mean(&ll)), ("random", mean(&random)), ("shortest-expected-delay", mean(&sed))]
            .into_iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(c["best_heuristic"][0], best.0, "{c}");
        let best_v = match best.0 {
            "least-loaded" => &ll,
            "random" => &random,
            _ => &sed,
        };
        let d_ll = [dqn[0] - ll[0], dqn[1] - ll[1]];
        let d_best = [dqn[0] - best_v[0], dqn[1] - best_v[1]];
        assert!(close(c["diff_vs_least_loaded"]["iqm"]["estimate"].as_f64().unwrap(), mean(&d_ll)), "{c}");
        assert!(close(c["diff_vs_best_heuristic"]["mean"]["estimate"].as_f64().unwrap(), mean(&d_best)), "{c}");
        // P(dqn below least-loaded), ties ½, over the 2 × 2 pairs of runs.
        let mut p = 0.0;
        for d in &dqn {
            for l in &ll {
                p += if d < l {
                    1.0
                } else if d == l {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert_eq!(c["reference"][0], "least-loaded");
        assert!(close(c["probability_of_improvement"]["estimate"].as_f64().unwrap(), p / 4.0), "{c}");
        assert_eq!(c["seeds"][1]["mean_jct"].as_f64().unwrap(), dqn[1]);
        // The profile is a fraction of runs below τ: 0 below every score, 1 above.
        let fractions = c["profile"]["fractions"].as_array().unwrap();
        assert_eq!(fractions.first().unwrap()["estimate"], 0.0);
        assert_eq!(fractions.last().unwrap()["estimate"], 1.0);
    }
    let md = std::fs::read_to_string(sw.join("report/report.md")).unwrap();
    let row = md.lines().find(|l| l.starts_with("| c0 | agent.learning_rate=0.001")).unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains(" | 2/2 | "), "{row}");
    assert_eq!(std::fs::read_to_string(sw.join("report/report.csv")).unwrap().lines().count(), 3);
    assert_eq!(std::fs::read_to_string(sw.join("report/seeds.csv")).unwrap().lines().count(), 5);
    for svg in ["iqm.svg", "profile.svg"] {
        let text = std::fs::read_to_string(sw.join("report").join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{svg}");
    }
}

#[test]
fn local_backend_runs_everything_once_and_reports() {
    let dir = scratch("local");
    tiny_experiment(&dir, 2000, 60, 500);
    let file = sweep_file(&dir, "tiny", "[1, 2]", "");
    let sw = dir.join("sw");
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t0 = Instant::now();
    let o = run(&["sweep", "run", s(&sw), "--jobs", "2"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    eprintln!("local sweep of 4 tiny runs: {:.1} s", t0.elapsed().as_secs_f64());
    assert!(stdout(&o).contains("all 4 runs are done"), "{}", stdout(&o));
    for id in ["c0-s1", "c0-s2", "c1-s1", "c1-s2"] {
        let st = state(&sw, id);
        assert_eq!(st["status"], "done", "{id}: {st}");
        assert_eq!(st["attempts"], 1, "{id}: {st}");
        assert_eq!(st["last_exit_code"], 0);
        assert!(st["history"][0]["resumed_from_step"].is_null());
        assert!(sw.join(format!("runs/{id}/eval/report.json")).is_file());
        // Its own TensorBoard run, under the sweep directory.
        let tb = sw.join(format!("runs/{id}/tensorboard/tiny-{id}/run-1"));
        let events = std::fs::read_dir(&tb)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents"));
        assert_eq!(events.count(), 1, "{}", tb.display());
        assert!(
            std::fs::read_to_string(sw.join(format!("logs/{id}.log"))).unwrap().contains(&format!("run {id} done"))
        );
    }
    let o = run(&["sweep", "status", s(&sw)]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("4 done"), "{}", stdout(&o));
    assert_eq!(stdout(&o).lines().filter(|l| l.contains(" done ")).count(), 4, "{}", stdout(&o));

    // Finished runs are never redone.
    let before = std::fs::read(sw.join("runs/c0-s1/state.json")).unwrap();
    let report_before = std::fs::metadata(sw.join("runs/c0-s1/eval/report.json")).unwrap().modified().unwrap();
    let o = run(&["sweep", "run", s(&sw), "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("all 4 runs are done; nothing to run"), "{}", stdout(&o));
    let o = run(&["sweep", "run-one", s(&sw), "0"]);
    assert!(o.status.success() && stderr(&o).contains("run c0-s1 is done; nothing to do"), "{}", stderr(&o));
    assert_eq!(std::fs::read(sw.join("runs/c0-s1/state.json")).unwrap(), before);
    assert_eq!(std::fs::metadata(sw.join("runs/c0-s1/eval/report.json")).unwrap().modified().unwrap(), report_before);

    let o = run(&["sweep", "report", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("# Sweep tiny"), "{}", stdout(&o));
    check_report(&sw);
    // Reproducible: the same runs give the same report, byte for byte.
    let first = std::fs::read(sw.join("report/report.json")).unwrap();
    let o = run(&["sweep", "report", s(&sw), "--out", s(&dir.join("again"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("again/report.json")).unwrap(), first);
    assert!(!std::fs::read_to_string(sw.join("report/report.md")).unwrap().contains("Optional stopping"));

    // A seed added to the finished sweep: its runs are appended (the old ones keep their
    // indices and stay done), only they run, and the report says the sweep grew after results.
    sweep_file(&dir, "tiny", "[1, 2, 3]", "");
    let o = run(&["sweep", "plan", s(&file), "--dir", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "sweep tiny grew: seeds [3] added, 2 new runs (indices 4..=5); 4 of the 4 earlier runs were done"
        ),
        "{}",
        stdout(&o)
    );
    let plan = json(&sw.join("sweep.json"));
    let ids: Vec<&str> = plan["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c0-s1", "c0-s2", "c1-s1", "c1-s2", "c0-s3", "c1-s3"]);
    assert_eq!(plan["seeds"], serde_json::json!([1, 2, 3]));
    assert_eq!(plan["grown"], serde_json::json!([{"seeds_before": [1, 2], "seeds_added": [3], "runs_done": 4}]));
    assert!(std::fs::read_to_string(sw.join("sweep.sbatch")).unwrap().contains("#SBATCH --array=0-5"));
    let o = run(&["sweep", "run", s(&sw), "--jobs", "2"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all 6 runs are done"), "{}", stdout(&o));
    assert_eq!(std::fs::read(sw.join("runs/c0-s1/state.json")).unwrap(), before, "a finished run is not redone");
    assert_eq!(state(&sw, "c1-s3")["status"], "done");
    let o = run(&["sweep", "report", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(sw.join("report/report.md")).unwrap();
    assert!(md.contains("| c0 | agent.learning_rate=0.001 | 3/3 |"), "{md}");
    assert!(md.contains("**Optional stopping.** This sweep grew after runs had finished: seeds [3] were added to [1, 2] when 4 runs were done."), "{md}");
    assert_eq!(json(&sw.join("report/report.json"))["grown"][0]["runs_done"], 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One run is killed with SIGKILL and another gets SIGTERM (checkpoint, exit 75) after their
/// first checkpoints; the next `sweep run` resumes both from their checkpoints and finishes.
#[test]
fn killed_and_interrupted_runs_resume_from_their_checkpoints() {
    let dir = scratch("resume");
    tiny_experiment(&dir, 50000, 1000, 1000);
    let file = dir.join("resume.toml");
    std::fs::write(&file, "[sweep]\nname = \"r\"\nbase = \"tiny.toml\"\nseeds = [1, 2]\n").unwrap();
    let sw = dir.join("sw");
    assert!(run(&["sweep", "plan", s(&file), "--dir", s(&sw)]).status.success());
    let pool: Child = Command::new(BIN)
        .args(["sweep", "run", s(&sw), "--jobs", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ckpts = |id: &str| sw.join(format!("runs/{id}/checkpoints/r-{id}"));
    let mut killed_at = [0u64; 2];
    for (k, (id, signal)) in [("c0-s1", "-KILL"), ("c0-s2", "-TERM")].into_iter().enumerate() {
        wait_until(&format!("{id}'s second checkpoint"), Duration::from_secs(180), || {
            latest_step(&ckpts(id)).is_some_and(|s| s >= 2000)
        });
        let pid = state(&sw, id)["history"][0]["pid"].as_u64().unwrap();
        assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
        wait_until(&format!("{id} to stop"), Duration::from_secs(60), || {
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        });
        killed_at[k] = latest_step(&ckpts(id)).unwrap();
        assert!(killed_at[k] < 50000, "{id} finished before it was stopped");
    }
    let out = pool.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("c0-s1: killed by signal 9") && text.contains("c0-s2: exit 75"), "{text}");
    assert!(stderr(&out).contains("2 of 2 runs did not finish"), "{}", stderr(&out));
    // SIGKILL leaves "training" in the file, but nobody holds the lock: status says so.
    assert_eq!(state(&sw, "c0-s1")["status"], "training");
    let st = state(&sw, "c0-s2");
    assert_eq!(st["status"], "interrupted", "{st}");
    assert_eq!(st["last_exit_code"], 75);
    assert!(st["last_error"].as_str().unwrap().contains("interrupted by SIGTERM at step"), "{st}");
    let o = run(&["sweep", "status", s(&sw)]);
    assert!(stdout(&o).contains("training (not running)"), "{}", stdout(&o));
    let log = std::fs::read_to_string(sw.join("logs/c0-s2.log")).unwrap();
    assert!(log.contains("SIGTERM at step") && log.contains("checkpointed"), "{log}");

    let o = run(&["sweep", "run", s(&sw), "--jobs", "2"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    for (k, id) in ["c0-s1", "c0-s2"].into_iter().enumerate() {
        let st = state(&sw, id);
        assert_eq!(st["status"], "done", "{st}");
        assert_eq!(st["attempts"], 2, "{st}");
        let from = st["history"][1]["resumed_from_step"].as_u64().unwrap();
        assert_eq!(from, killed_at[k], "{id}: resumed from its last checkpoint");
        assert_eq!(latest_step(&ckpts(id)), Some(50000));
        let log = std::fs::read_to_string(sw.join(format!("logs/{id}.log"))).unwrap();
        assert!(log.contains(&format!("resuming r-{id} from")) && log.contains(&format!("(step {from})")), "{log}");
        // Resuming appends to the run's one TensorBoard run.
        assert_eq!(std::fs::read_dir(sw.join(format!("runs/{id}/tensorboard/r-{id}"))).unwrap().count(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stopping the pool itself stops the sweep: a SIGTERM to `sweep run` alone (as `kill` or
/// `timeout` sends it) and a Ctrl-C to its process group (as a terminal sends it, so each run
/// gets it twice: from the terminal and passed on by the pool) both start no further run, leave
/// the running ones checkpointed and resumable, and end the pool with 128 + the signal's number.
#[test]
fn stopping_the_pool_checkpoints_its_runs_and_starts_no_more() {
    use std::os::unix::process::CommandExt;
    let dir = scratch("stop");
    tiny_experiment(&dir, 50000, 1000, 1000);
    for (name, signal, group, code, run_code) in [("term", "-TERM", false, 143, 75), ("int", "-INT", true, 130, 130)] {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, format!("[sweep]\nname = \"{name}\"\nbase = \"tiny.toml\"\nseeds = [1, 2, 3]\n"))
            .unwrap();
        let sw = dir.join(name);
        assert!(run(&["sweep", "plan", s(&file), "--dir", s(&sw)]).status.success());
        // Its own process group, so that a signal to the group does not reach this test.
        let pool: Child = Command::new(BIN)
            .args(["sweep", "run", s(&sw), "--jobs", "2"])
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for id in ["c0-s1", "c0-s2"] {
            let ckpts = sw.join(format!("runs/{id}/checkpoints/{name}-{id}"));
            wait_until(&format!("{name}: {id}'s first checkpoint"), Duration::from_secs(180), || {
                latest_step(&ckpts).is_some()
            });
        }
        let target = if group { format!("-{}", pool.id()) } else { pool.id().to_string() };
        assert!(Command::new("kill").args([signal, "--", &target]).status().unwrap().success());
        let out = pool.wait_with_output().unwrap();
        let (text, err) = (stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(code), "{name}: {text}\n{err}");
        assert!(text.contains("starting no further run; 2 running runs checkpoint and stop"), "{name}: {text}");
        assert!(!text.contains("c0-s3: started"), "{name}: {text}");
        assert_eq!(state(&sw, "c0-s3")["status"], "pending", "{name}");
        assert!(!sw.join("logs/c0-s3.log").exists(), "{name}: c0-s3 was started");
        assert!(
            err.contains("3 of 3 runs did not finish") && err.contains("  c0-s3 (pending, 0 attempts)"),
            "{name}: {err}"
        );
        for id in ["c0-s1", "c0-s2"] {
            let st = state(&sw, id);
            assert_eq!(st["status"], "interrupted", "{name}: {id}: {st}");
            assert_eq!(st["last_exit_code"], run_code, "{name}: {id}: {st}");
            let ckpts = sw.join(format!("runs/{id}/checkpoints/{name}-{id}"));
            assert!(latest_step(&ckpts).is_some_and(|s| s < 50000), "{name}: {id} finished before it was stopped");
        }
        let o = run(&["sweep", "status", s(&sw)]);
        assert!(stdout(&o).contains("interrupted"), "{}", stdout(&o));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local test Slurm, stopped (scripts/slurm/stop.sh) when dropped, even if the test fails.
struct Slurm {
    state: PathBuf,
    conf: String,
}

/// Its own ports, so that it runs beside a cluster on the defaults or the selftest's.
const SLURM_PORTS: [(&str, &str); 2] = [("SLURMCTLD_PORT", "6837"), ("SLURMD_PORT", "6838")];

impl Slurm {
    fn start(state: &Path) -> Result<Self, String> {
        let scripts = Path::new(REPO).join("scripts/slurm");
        let install = Command::new(scripts.join("install.sh")).output().map_err(|e| format!("install.sh: {e}"))?;
        if !install.status.success() {
            return Err(format!("scripts/slurm/install.sh failed: {}", stderr(&install)));
        }
        let _ = Command::new(scripts.join("stop.sh")).arg(state).envs(SLURM_PORTS).output();
        let _ = std::fs::remove_dir_all(state);
        let start = Command::new(scripts.join("start.sh"))
            .arg(state)
            .envs(SLURM_PORTS)
            .output()
            .map_err(|e| format!("start.sh: {e}"))?;
        // Stop whatever did start, even if start.sh failed half-way.
        let mut guard = Self { state: state.to_path_buf(), conf: String::new() };
        if !start.status.success() {
            return Err(format!("scripts/slurm/start.sh failed: {}", stderr(&start)));
        }
        let conf = stdout(&start)
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF=").map(str::to_string))
            .ok_or_else(|| format!("start.sh printed no SLURM_CONF: {}", stdout(&start)))?;
        guard.conf = conf;
        Ok(guard)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let stop = Path::new(REPO).join("scripts/slurm/stop.sh");
        let _ = Command::new(stop).arg(&self.state).envs(SLURM_PORTS).output();
    }
}

/// Copies directory `from` to `to` recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The sweep through a real Slurm: `sweep run --backend slurm --wait` submits the job array;
/// one task is sent SIGUSR1 once it runs and has a checkpoint, checkpoints, exits 75, requeues
/// itself and resumes; every run finishes; the report is written. The same sweep on the local
/// backend — its interrupted run resumed from a copy of the same checkpoint — gives identical
/// evaluation reports and an identical sweep report.
#[test]
fn slurm_backend_requeues_an_interrupted_task_and_matches_the_local_backend() {
    let t0 = Instant::now();
    let dir = scratch("slurm");
    let slurm = match Slurm::start(&dir.join("slurm-state")) {
        Ok(s) => s,
        Err(e) if std::env::var("CLUSTER_RL_SKIP_SLURM").as_deref() == Ok("1") => {
            eprintln!("skipping the Slurm test (CLUSTER_RL_SKIP_SLURM=1): {e}");
            return;
        }
        Err(e) => panic!(
            "cannot start the local test Slurm (needs root and apt, see scripts/slurm/README.md; set \
             CLUSTER_RL_SKIP_SLURM=1 to skip this test): {e}"
        ),
    };
    eprintln!("slurm started in {:.1} s", t0.elapsed().as_secs_f64());
    tiny_experiment(&dir, 5000, 200, 1000);
    // Configuration c0 trains long enough to be interrupted on a fast machine too; c1 is short.
    let file = dir.join("tiny-sweep.toml");
    std::fs::write(
        &file,
        "[sweep]\nname = \"tiny\"\nbase = \"tiny.toml\"\nseeds = [1, 2]\n\
         [zip]\n\"agent.learning_rate\" = [1e-3, 3e-4]\n\"training.total_steps\" = [40000, 5000]\n\
         [resources]\nmax_parallel = 2\nsignal_seconds = 60\n",
    )
    .unwrap();
    let (sw, local) = (dir.join("slurm"), dir.join("local"));
    for d in [&sw, &local] {
        let o = run(&["sweep", "plan", s(&file), "--dir", s(d)]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let jobcomp = dir.join("slurm-state/jobcomp.log");
    let submit = slurm
        .command(BIN)
        .args([
            "sweep",
            "run",
            s(&sw),
            "--backend",
            "slurm",
            "--wait",
            "--poll-seconds",
            "0.5",
            "--jobcomp",
            s(&jobcomp),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Interrupt task 0 once it runs and has a checkpoint.
    wait_until("the submission", Duration::from_secs(30), || sw.join("slurm.json").is_file());
    let job = json(&sw.join("slurm.json"))[0]["job_id"].as_str().unwrap().to_string();
    let task = format!("{job}_0");
    let ckpts = sw.join("runs/c0-s1/checkpoints/tiny-c0-s1");
    wait_until("task 0's first checkpoint", Duration::from_secs(120), || latest_step(&ckpts).is_some());
    let squeue = slurm.command("squeue").args(["-h", "-j", &task, "-o", "%t"]).output().unwrap();
    assert_eq!(stdout(&squeue).trim(), "R", "task 0 runs: {}", stderr(&squeue));
    // scancel waits for Slurm's answer, and retries while the task is "in a transitional
    // state", which it is as soon as it has checkpointed, exited and requeued itself: in the
    // background, then, and stopped once the signal has done its work, so that it cannot
    // signal the rerun too.
    let mut scancel = slurm
        .command("scancel")
        .args(["--signal=USR1", "--batch", &task])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t_signal = Instant::now();
    wait_until("task 0 to checkpoint and stop", Duration::from_secs(60), || {
        state(&sw, "c0-s1")["status"] == "interrupted"
    });
    let _ = scancel.kill();
    let _ = scancel.wait();
    // The checkpoints as they were when it stopped, before the requeued task resumes (it
    // starts no sooner than cred_expire + 1 = 6 s later), for the local replay below.
    let stash = dir.join("stash");
    copy_dir(&ckpts, &stash);
    let st = state(&sw, "c0-s1");
    assert_eq!(st["attempts"], 1, "the rerun started before the checkpoints were copied: {st}");
    let stopped_at = latest_step(&stash).unwrap();
    assert!(stopped_at < 40000, "{st}");
    assert!(st["last_error"].as_str().unwrap().contains("interrupted by SIGUSR1"), "{st}");

    let out = submit.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    eprintln!(
        "slurm sweep done {:.1} s after the signal, {:.1} s after the start",
        t_signal.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert!(text.contains(&format!("array job {job} has left the queue")), "{text}");
    for (i, id) in ["c0-s1", "c0-s2", "c1-s1", "c1-s2"].into_iter().enumerate() {
        let row = text.lines().find(|l| l.split_whitespace().take(2).eq([i.to_string().as_str(), id])).unwrap();
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(words[2..4], ["COMPLETED", "0:0"], "{row}");
        // Task 0 ran twice: a PENDING line for the requeued run, then the final one.
        assert_eq!(words[4], if i == 0 { "2" } else { "1" }, "{row}");
        let st = state(&sw, id);
        assert_eq!(st["status"], "done", "{st}");
        assert_eq!(st["attempts"], if i == 0 { 2 } else { 1 }, "{st}");
        assert!(st["history"][0]["slurm"].as_str().unwrap().starts_with(&format!("{job}_{i} (restart 0)")), "{st}");
    }
    let st = state(&sw, "c0-s1");
    assert_eq!(st["history"][1]["resumed_from_step"], stopped_at, "{st}");
    assert_eq!(st["history"][1]["slurm"], format!("{job}_0 (restart 1)"));
    let log = std::fs::read_to_string(sw.join(format!("logs/{job}_0.out"))).unwrap();
    for want in [
        "SIGUSR1 at step".to_string(),
        "run-one exited 75 (signals: USR1)".into(),
        format!("requeueing {task}"),
        "restart 1".into(),
        format!(
            "resuming tiny-c0-s1 from {}",
            sw.join(format!("runs/c0-s1/checkpoints/tiny-c0-s1/step-{stopped_at:012}")).display()
        ),
        "run c0-s1 done".into(),
    ] {
        assert!(log.contains(&want), "{want:?} not in {job}_0.out:\n{log}");
    }
    let o = run(&["sweep", "report", s(&sw)]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_report(&sw);

    // The local backend on the same sweep, with run c0-s1 resuming from the same checkpoint
    // (its paths moved to the local sweep's directory).
    let local_ckpts = local.join("runs/c0-s1/checkpoints/tiny-c0-s1");
    copy_dir(&stash, &local_ckpts);
    for e in std::fs::read_dir(&local_ckpts).unwrap().flatten() {
        let trainer = e.path().join("trainer.json");
        if trainer.is_file() {
            let text = std::fs::read_to_string(&trainer).unwrap();
            std::fs::write(&trainer, text.replace(s(&sw), s(&local))).unwrap();
        }
    }
    // (The TensorBoard run it appends to.)
    std::fs::create_dir_all(local.join("runs/c0-s1/tensorboard/tiny-c0-s1/run-1")).unwrap();
    let o = run(&["sweep", "run", s(&local), "--jobs", "2"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(state(&local, "c0-s1")["history"][0]["resumed_from_step"], stopped_at);
    for id in ["c0-s1", "c0-s2", "c1-s1", "c1-s2"] {
        let a = std::fs::read_to_string(sw.join(format!("runs/{id}/eval/report.json"))).unwrap();
        let b = std::fs::read_to_string(local.join(format!("runs/{id}/eval/report.json"))).unwrap();
        assert!(a == b, "{id}: the Slurm and local evaluations differ");
    }
    let o = run(&["sweep", "report", s(&local)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(sw.join("report/report.json")).unwrap(),
        std::fs::read_to_string(local.join("report/report.json")).unwrap()
    );
    eprintln!("slurm test: {:.1} s", t0.elapsed().as_secs_f64());
    drop(slurm);
    let _ = std::fs::remove_dir_all(&dir);
}
