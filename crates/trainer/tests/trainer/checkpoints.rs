//! Checkpoints under failure, through the real binary (issue 13): `--resume` never replaces
//! `best/` with a worse policy nor scores it on another validation setup, a fresh start never
//! overwrites an existing `best/`, a crash at any step of replacing `best/` leaves a whole one
//! (failpoints), and a full disk stops training with the earlier checkpoints intact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");

/// A tiny park-lb experiment validated every 500 steps and checkpointed every 1000, as
/// `experiments/seed-case.toml` validates more often than it checkpoints. Its paths are
/// relative, so a copy of a run's directory is a run of its own.
const EXPERIMENT: &str = r#"
[experiment]
name = "tiny"
seed = 1
[env]
scenario = "park-lb"
reward = "attributed-jct"
workload.n_tasks = 60
[agent]
learning_rate = 1e-3
buffer_size = 5000
batch_size = 32
learning_starts = 200
hidden_sizes = [16]
normalize_obs = true
reward_scale = 0.001
[training]
total_steps = 2000
num_envs = 2
eval_interval = 500
eval_episodes = 3
checkpoint_interval = 1000
keep_checkpoints = 2
[evaluation]
episodes = 4
baselines = ["least-loaded"]
[logging]
runs_dir = "runs"
checkpoint_dir = "checkpoints"
histogram_interval = 500
"#;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-rl-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.clone(), std::fs::read(p).unwrap())).collect()
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("trainer.json")).unwrap()).unwrap()
}

/// Sets the best validation score recorded in checkpoint `dir`'s trainer state.
fn set_record(dir: &Path, score: f64) {
    let mut s = state(dir);
    s["best"][0] = serde_json::json!(score);
    std::fs::write(dir.join("trainer.json"), serde_json::to_vec_pretty(&s).unwrap()).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// One run directory: the experiment file, `runs/` and `checkpoints/`; the binary runs in it.
struct Case {
    dir: PathBuf,
}

impl Case {
    /// A run of [`EXPERIMENT`] as a crash between a validation and the next checkpoint leaves
    /// it: trained to step 2000, then `step-000000002000` removed and `latest` pointed back at
    /// `step-000000001000`, so `best/` may come from a later validation than `latest` knew of.
    fn new(name: &str) -> Self {
        let case = Self { dir: scratch(name) };
        std::fs::write(case.dir.join("tiny.toml"), EXPERIMENT).unwrap();
        let o = case.train(&[]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::remove_dir_all(case.ckpts().join("step-000000002000")).unwrap();
        std::fs::write(case.ckpts().join("latest"), "step-000000001000\n").unwrap();
        assert_eq!(entries(&case.ckpts()), ["best", "latest", "step-000000001000"]);
        case
    }

    /// A copy of this run named `name` (its paths are relative: a run of its own).
    fn copy(&self, name: &str) -> Self {
        let dir = scratch(name);
        copy_dir(&self.dir, &dir);
        Self { dir }
    }

    fn ckpts(&self) -> PathBuf {
        self.dir.join("checkpoints/tiny")
    }

    fn best(&self) -> PathBuf {
        self.ckpts().join("best")
    }

    fn latest(&self) -> PathBuf {
        let name = std::fs::read_to_string(self.ckpts().join("latest")).unwrap();
        self.ckpts().join(name.trim())
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(BIN).args(args).envs(env.iter().copied()).current_dir(&self.dir).output().unwrap()
    }

    fn train(&self, extra: &[&str]) -> Output {
        self.run(&[&["train", "--config", "tiny.toml", "--quiet"], extra].concat(), &[])
    }

    /// Evaluates `checkpoint` on one held-out episode, so it loads and runs; returns its
    /// `source.json`: the step and the directory evaluated.
    fn eval(&self, checkpoint: &str) -> serde_json::Value {
        let out = format!("report-{}", std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos());
        let o = self
            .run(&["eval", "--checkpoint", checkpoint, "--episodes", "1", "--baselines", "none", "--out", &out], &[]);
        assert!(o.status.success(), "eval {checkpoint}: {}", stderr(&o));
        serde_json::from_slice(&std::fs::read(self.dir.join(&out).join("source.json")).unwrap()).unwrap()
    }

    /// The step of the checkpoint `checkpoint` designates, after evaluating it.
    fn eval_step(&self, checkpoint: &str) -> u64 {
        self.eval(checkpoint)["global_step"].as_u64().unwrap()
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Issue 13.2: the best record is restored from `best/` too, not only from `latest`.
#[test]
fn resume_never_replaces_best_with_a_worse_policy() {
    let case = Case::new("resume-best");
    // `latest` recorded a worse best than `best/` holds (validation ran after it), and nothing
    // the resumed run validates can beat `best/`'s record.
    set_record(&case.latest(), 1e300);
    set_record(&case.best(), 1e-9);
    let best_step = state(&case.best())["best"][1].as_u64().unwrap();
    let before = snapshot(&case.best());
    let o = case.train(&["--resume"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("best validation mean JCT 0.0 at step {best_step}")), "{err}");
    assert!(snapshot(&case.best()) == before, "the resumed run replaced best/ with a worse policy: {err}");
}

/// Issue 13.2: a validation setup that changed makes the best record meaningless: refused,
/// naming the key, its two values and what to do.
#[test]
fn resume_refuses_a_changed_validation_setup() {
    let case = Case::new("resume-setup");
    let o = case.train(&["--resume", "--set", "training.eval_episodes=4"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--resume: training.eval_episodes is 3 in the checkpoint (") && err.contains("but 4 now"),
        "{err}"
    );

    let o = case.train(&["--resume", "--set", "env.workload.n_tasks=61"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--resume: env.workload.n_tasks is 60 in the checkpoint (") && err.contains("but 61 now"),
        "{err}"
    );

    // `best/` scored on other validation episodes than `latest` (a resume by an older binary).
    let path = case.best().join("experiment.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("eval_episodes = 3", "eval_episodes = 5")).unwrap();
    let o = case.train(&["--resume"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--resume: training.eval_episodes is 5 for the best checkpoint (")
            && err.contains("resume with training.eval_episodes = 5, or move"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Issue 13.4: a run that died after its first `best/` but before `latest` is not overwritten
/// by a fresh start, and the message says what to do.
#[test]
fn a_fresh_start_refuses_when_only_best_or_steps_exist() {
    let case = Case::new("fresh");
    let before = snapshot(&case.best());
    std::fs::remove_file(case.ckpts().join("latest")).unwrap();
    let o = case.train(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("already has checkpoints (best, step-000000001000) but no latest pointer"), "{err}");

    std::fs::remove_dir_all(case.ckpts().join("step-000000001000")).unwrap();
    let o = case.train(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("already has checkpoints (best) but no latest pointer to --resume from"), "{err}");
    assert!(err.contains("choosing another experiment.name, or delete checkpoints/tiny to start over"), "{err}");
    assert!(snapshot(&case.best()) == before, "best/ was touched");

    let o = case.train(&["--resume"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no latest pointer); it has") && err.contains("best (the run stopped before"), "{err}");
    assert!(snapshot(&case.best()) == before, "best/ was touched");
    assert_eq!(entries(&case.ckpts()), ["best"]);
}

/// Issue 13.3: the process aborts at each step of replacing `best/` (the atomic exchange, and
/// the two renames of the portable fallback); a reader right after the crash and a restart
/// both find a whole `best/` holding the old or the new policy.
#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "needs the failpoints feature: cargo test -p trainer --features failpoints"
)]
fn best_is_whole_after_a_crash_at_every_step_of_its_replacement() {
    // (CLUSTER_RL_FAIL_AT, whether best/ then holds the new policy)
    let cases = [
        ("best-staged", false),
        ("best-exchanged", true),
        ("rename-exchange,best-moved-aside", false),
        ("rename-exchange,best-renamed-in", true),
    ];
    let base = Case::new("crash");
    for (i, (failpoints, new)) in cases.into_iter().enumerate() {
        let t0 = Instant::now();
        let case = base.copy(&format!("crash-{i}"));
        // Both records unbeatably bad: the first validation of the resumed run (step 1500)
        // replaces best/.
        set_record(&case.latest(), 1e300);
        set_record(&case.best(), 1e300);
        let o =
            case.run(&["train", "--config", "tiny.toml", "--quiet", "--resume"], &[("CLUSTER_RL_FAIL_AT", failpoints)]);
        let err = stderr(&o);
        let point = failpoints.rsplit(',').next().unwrap();
        if point == "best-exchanged" && o.status.success() {
            eprintln!("skipped {point}: this file system has no RENAME_EXCHANGE (the fallback replaced best/)");
            continue;
        }
        assert!(err.contains(&format!("failpoint {point}: aborting")), "{failpoints}: {err}");
        assert_eq!(o.status.code(), None, "{failpoints}: killed by SIGABRT: {err}");

        // A reader right after the crash finds a whole checkpoint: the old best/ (its record
        // is the one set above) or the new one (the real score of the validation at 1500).
        let source = case.eval("checkpoints/tiny/best");
        let found = state(&case.dir.join(source["policy"].as_str().unwrap()));
        assert_eq!(found["best"][0].as_f64().unwrap() < 1e300, new, "{failpoints}: {found}");
        // A restart: repairs, then finishes the run.
        let o = case.train(&["--resume"]);
        assert!(o.status.success(), "{failpoints}: {}", stderr(&o));
        assert_eq!(state(&case.latest())["global_step"], 2000);
        let names = entries(&case.ckpts());
        assert!(names.iter().all(|n| !n.starts_with('.')), "{failpoints}: leftovers {names:?}");
        assert!(case.best().is_dir());
        case.eval("checkpoints/tiny/best");
        eprintln!("{failpoints}: {:.1} s", t0.elapsed().as_secs_f64());
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB at `dir`; `Err` with the reason where that is impossible.
    fn mount(dir: &Path, kib: u64) -> Result<Self, String> {
        let uid = Command::new("id").arg("-u").output().map_err(|e| format!("id -u: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs", dir.to_str().unwrap()])
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !o.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", stderr(&o).trim()));
        }
        Ok(Self(dir.to_path_buf()))
    }

    fn resize(&self, kib: u64) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k"), self.0.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "remount: {}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A disk that fills up during a checkpoint: training stops with a message naming the path
/// and what is intact, the last checkpoint and `best/` load, and `--resume` finishes the run
/// once there is space again.
#[test]
fn a_full_disk_stops_training_and_resume_continues_once_there_is_space() {
    let dir = scratch("disk-full");
    // Declared before the mount, so that a failing assertion unmounts before it deletes.
    let case = Case { dir: dir.clone() };
    let mnt = dir.join("mnt");
    // A step checkpoint of this experiment takes about 590 KiB (most of it the replay buffer,
    // saved at its capacity) and `best/` about 30 KiB. With two step checkpoints kept, the third
    // one is written while the first two still exist: 1500 KiB hold `best/` and two, not three.
    let fs = match Tmpfs::mount(&mnt, 1500) {
        Ok(fs) => fs,
        Err(reason) => {
            eprintln!("skipped a_full_disk_stops_training_and_resume_continues_once_there_is_space: {reason}");
            return;
        }
    };
    let text = EXPERIMENT
        .replace("total_steps = 2000", "total_steps = 3000")
        .replace("checkpoint_interval = 1000", "checkpoint_interval = 500")
        .replace("checkpoint_dir = \"checkpoints\"", "checkpoint_dir = \"mnt/checkpoints\"");
    std::fs::write(dir.join("tiny.toml"), text).unwrap();
    let ckpts = mnt.join("checkpoints/tiny");

    let o = case.train(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("mnt/checkpoints/tiny/step-") && err.contains("No space left on device"), "{err}");
    assert!(err.contains("a checkpoint could not be written (the last complete checkpoint is"), "{err}");
    assert!(
        err.contains("best is intact; fix the cause (free space on a full disk), then continue with --resume"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let names = entries(&ckpts);
    assert!(names.iter().all(|n| !n.starts_with('.')), "a failed write leaves nothing behind: {names:?}");
    let latest = std::fs::read_to_string(ckpts.join("latest")).unwrap();
    let at = case.eval_step("mnt/checkpoints/tiny");
    assert!(latest.trim() == format!("step-{at:012}") && at < 3000, "{latest} {at}");
    case.eval("mnt/checkpoints/tiny/best");

    fs.resize(64 * 1024);
    let o = case.train(&["--resume"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("(step {at})")), "{err}");
    assert_eq!(case.eval_step("mnt/checkpoints/tiny"), 3000);
    drop(fs);
}
