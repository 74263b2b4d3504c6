//! `cluster-rl sweep run --backend slurm`: the runs as one Slurm job array.
//!
//! `DIR/sweep.sbatch` ([`script`]) is a plain batch script, readable and reusable by hand
//! (`sbatch DIR/sweep.sbatch`; `sbatch --array=3,5 DIR/sweep.sbatch` for some runs only). Array
//! task `i` runs `cluster-rl sweep run-one DIR i` in the background and forwards SIGUSR1 to it:
//! `--signal=B:USR1@<s>` signals only the batch shell, and bash runs a trap only between
//! commands, hence a background child and a `wait` loop. The run checkpoints and exits 75; the
//! task then requeues itself (`scontrol requeue`), and the rerun resumes from the checkpoint. A
//! SIGTERM (scancel, `scontrol requeue` from outside, the time limit) is forwarded too, but never
//! leads to a requeue from the script: a cancelled task must stay cancelled.
//!
//! `sweep run --backend slurm` writes the script, submits the unfinished runs with `sbatch
//! --parsable --array=<their indices>`, and with `--wait` polls `squeue -h -j <job>` until the
//! array has left the queue (no output, or "Invalid job id specified" once it is purged; any
//! other failure is retried, never taken for completion). Completion is then read from the
//! runs' own state files, and with `--jobcomp FILE` each task's final `JobState` and `ExitCode`
//! from Slurm's jobcomp/filetxt log (the last line of a task wins: a requeued task has several).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::RunArgs;
use super::local::{EXIT_UNFINISHED, check_all_done, unfinished};
use super::plan::{Plan, write_file};
use super::state::utc_now;
use crate::signals::EXIT_RESUME;

/// The batch script in a sweep directory.
pub const SCRIPT_FILE: &str = "sweep.sbatch";
/// The record of submitted array jobs in a sweep directory.
pub const JOBS_FILE: &str = "slurm.json";

/// `s` quoted for bash (single quotes; a `'` inside becomes `'\''`).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A path that can stand unquoted in an `#SBATCH` line (Slurm splits those on whitespace and
/// expands `%` patterns in file names).
fn sbatch_path(path: &Path) -> Result<&str> {
    let s = path.to_str().filter(|s| !s.chars().any(|c| c.is_whitespace() || matches!(c, '%' | '"' | '\'' | '\\')));
    s.with_context(|| {
        format!(
            "{}: the Slurm backend needs a sweep directory path without spaces, quotes, '\\' or '%'",
            path.display()
        )
    })
}

/// The batch script of the sweep in `dir` (absolute), running `exe`.
///
/// # Errors
/// A directory or executable path that an `#SBATCH` line cannot hold.
pub fn script(plan: &Plan, dir: &Path, exe: &Path) -> Result<String> {
    let r = &plan.resources;
    let n = plan.runs.len();
    let dir_s = sbatch_path(dir)?;
    let exe_s = exe.to_str().with_context(|| format!("{}: the executable path is not UTF-8", exe.display()))?;
    let throttle = r.max_parallel.map(|p| format!("%{p}")).unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/bin/env bash");
    let _ = writeln!(s, "# Sweep {}: {n} runs as a Slurm job array (written by `cluster-rl sweep`).", plan.name);
    let _ = writeln!(s, "#   sbatch {dir_s}/{SCRIPT_FILE}                 every run (a done run exits at once)");
    let _ = writeln!(s, "#   sbatch --array=2,5 {dir_s}/{SCRIPT_FILE}     some runs (indices in sweep.json)");
    let _ = writeln!(s, "# Task i runs `cluster-rl sweep run-one DIR i`: train (resuming from the run's checkpoint)");
    let _ = writeln!(s, "# then evaluate. SIGUSR1 ({}s before the time limit, or", r.signal_seconds);
    let _ = writeln!(s, "# `scancel --signal=USR1 --batch JOB_TASK`) makes the run checkpoint and exit {EXIT_RESUME};");
    let _ = writeln!(s, "# the task then requeues itself and the rerun resumes. See `cluster-rl sweep status DIR`.");
    let _ = writeln!(s, "#SBATCH --job-name={}", plan.name);
    let _ = writeln!(s, "#SBATCH --array=0-{}{throttle}", n.saturating_sub(1));
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", r.cpus);
    if let Some(mem) = &r.mem {
        let _ = writeln!(s, "#SBATCH --mem={mem}");
    }
    if let Some(time) = &r.time {
        let _ = writeln!(s, "#SBATCH --time={time}");
    }
    if let Some(p) = &r.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    let _ = writeln!(s, "#SBATCH --requeue");
    let _ = writeln!(s, "#SBATCH --signal=B:USR1@{}", r.signal_seconds);
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    let _ = writeln!(s, "#SBATCH --output={dir_s}/logs/%A_%a.out");
    let _ = writeln!(s, "#SBATCH --chdir={dir_s}");
    s.push_str(&format!(
        r#"set -u
BIN={exe}
SWEEP={dir}
EXIT_RESUME={EXIT_RESUME}
# The run's rayon threads: the CPUs Slurm gave it.
export RAYON_NUM_THREADS="${{RAYON_NUM_THREADS:-${{SLURM_CPUS_PER_TASK:-1}}}}"
task="${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
say() {{ echo "[sweep.sbatch $(date -u +%Y-%m-%dT%H:%M:%SZ) $task] $*"; }}
say "job $SLURM_JOB_ID on $(hostname), restart ${{SLURM_RESTART_COUNT:-0}}"

"$BIN" sweep run-one "$SWEEP" "$SLURM_ARRAY_TASK_ID" &
child=$!
got=""
# Slurm's B: signals reach only this shell: pass them on to the run.
trap 'got="$got USR1"; kill -USR1 "$child" 2>/dev/null' USR1
trap 'got="$got TERM"; kill -TERM "$child" 2>/dev/null' TERM
# A trapped signal interrupts `wait` (status > 128) while the run goes on: wait again until it
# has really exited (kill -0 fails once it is reaped).
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break
done
say "run-one exited $rc${{got:+ (signals:$got)}}"
# Checkpointed but not finished: requeue this task; the rerun resumes from the checkpoint.
# Not after a SIGTERM: that is scancel, a requeue from outside, or the time limit.
if [ "$rc" -eq "$EXIT_RESUME" ] && [[ "$got" != *TERM* ]]; then
  say "requeueing $task"
  scontrol requeue "$task"
fi
exit "$rc"
"#,
        exe = sh_quote(exe_s),
        dir = sh_quote(dir_s),
    ));
    Ok(s)
}

/// Writes `DIR/sweep.sbatch` for this executable, executable by its owner.
///
/// # Errors
/// An unsuitable path, or I/O failures.
pub fn write_script(dir: &Path, plan: &Plan) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the cluster-rl executable")?;
    let text = script(plan, dir, &exe)?;
    let path = dir.join(SCRIPT_FILE);
    write_file(&path, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("{}: cannot make executable", path.display()))?;
    Ok(path)
}

/// `0-3,5,7-8` (ranges of consecutive indices) followed by `%p` when throttled.
pub fn array_spec(indices: &[usize], max_parallel: Option<u32>) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { indices[i].to_string() } else { format!("{}-{}", indices[i], indices[j]) });
        i = j + 1;
    }
    let mut spec = parts.join(",");
    if let Some(p) = max_parallel {
        let _ = write!(spec, "%{p}");
    }
    spec
}

/// One submission in `DIR/slurm.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The array job id `sbatch --parsable` printed.
    pub job_id: String,
    /// The `--array` it was submitted with.
    pub array: String,
    /// When (UTC).
    pub submitted_at: String,
}

/// Reads `DIR/slurm.json` (empty when absent).
///
/// # Errors
/// A corrupt file.
pub fn submissions(dir: &Path) -> Result<Vec<Submission>> {
    let path = dir.join(JOBS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{}: corrupt", path.display())),
        Err(_) => Ok(Vec::new()),
    }
}

/// Runs a Slurm client command, failing with its stderr.
fn slurm_command(program: &str, args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program} (is Slurm installed and on PATH?)"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// What `squeue` says about an array job: `None` when it has left the queue.
///
/// # Errors
/// squeue failed for another reason than an unknown (purged) job id.
fn queued(job: &str) -> Result<Option<String>> {
    let (ok, out, err) = slurm_command("squeue", &["-h", "-j", job, "-o", "%i %t"])?;
    if ok {
        let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        return Ok((!lines.is_empty()).then(|| lines.join(", ")));
    }
    if err.contains("Invalid job id specified") {
        return Ok(None);
    }
    bail!("squeue -j {job}: {}", err.trim())
}

/// The final jobcomp line of each task of array `job`: task → (JobState, ExitCode, lines).
pub fn jobcomp_tasks(text: &str, job: &str) -> BTreeMap<usize, (String, String, usize)> {
    let mut tasks: BTreeMap<usize, (String, String, usize)> = BTreeMap::new();
    for line in text.lines() {
        // Key=Value pairs separated by spaces; Name= and WorkDir= may hold spaces, so look
        // each key up by its " Key=" prefix rather than splitting the whole line.
        let field = |key: &str| {
            let at = line
                .find(&format!(" {key}="))
                .map(|i| i + 1)
                .or_else(|| line.starts_with(&format!("{key}=")).then_some(0))?;
            let rest = &line[at + key.len() + 1..];
            Some(rest.split(' ').next().unwrap_or("").to_string())
        };
        if field("ArrayJobId").as_deref() != Some(job) {
            continue;
        }
        let Some(task) = field("ArrayTaskId").and_then(|t| t.parse().ok()) else { continue };
        let entry = tasks.entry(task).or_insert_with(|| (String::new(), String::new(), 0));
        entry.0 = field("JobState").unwrap_or_default();
        entry.1 = field("ExitCode").unwrap_or_default();
        entry.2 += 1;
    }
    tasks
}

/// `cluster-rl sweep run DIR --backend slurm [--wait] [--jobcomp FILE]`.
///
/// # Errors
/// An unsuitable directory, sbatch or squeue failures, or I/O failures.
pub fn run(dir: &Path, plan: &Plan, args: &RunArgs) -> Result<ExitCode> {
    let dir = std::path::absolute(dir).with_context(|| format!("{}: cannot make absolute", dir.display()))?;
    if !(args.poll_seconds.is_finite() && args.poll_seconds > 0.0) {
        bail!("--poll-seconds: must be a positive number of seconds");
    }
    let todo = unfinished(&dir, plan)?;
    if todo.is_empty() {
        println!("sweep {}: all {} runs are done; nothing to submit", plan.name, plan.runs.len());
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("{}: cannot create", dir.display()))?;
    let script = write_script(&dir, plan)?;
    let array = array_spec(&todo, plan.resources.max_parallel);
    let array_arg = format!("--array={array}");
    let script_s = script.to_str().context("script path is not UTF-8")?;
    let (ok, out, err) = slurm_command("sbatch", &["--parsable", &array_arg, script_s])?;
    if !ok {
        bail!("sbatch {array_arg} {script_s}: {}", err.trim());
    }
    // `--parsable` prints `<job id>` or `<job id>;<cluster>`.
    let job = out.trim().split(';').next().unwrap_or("").to_string();
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch: unexpected output {:?}", out.trim());
    }
    let mut jobs = submissions(&dir)?;
    jobs.push(Submission { job_id: job.clone(), array: array.clone(), submitted_at: utc_now() });
    write_file(&dir.join(JOBS_FILE), (serde_json::to_string_pretty(&jobs)? + "\n").as_bytes())?;
    println!(
        "sweep {}: submitted array job {job} ({} runs: --array={array}); logs in {}/logs",
        plan.name,
        todo.len(),
        dir.display()
    );
    if !args.wait {
        println!("follow it with `squeue -j {job}` and `cluster-rl sweep status {}`", dir.display());
        return Ok(ExitCode::SUCCESS);
    }

    let poll = Duration::from_secs_f64(args.poll_seconds);
    let start = Instant::now();
    let mut last = String::new();
    let mut failures = 0;
    loop {
        match queued(&job) {
            Ok(None) => break,
            Ok(Some(now)) => {
                failures = 0;
                if now != last {
                    println!("[{:>6.1} s] {now}", start.elapsed().as_secs_f64());
                    last = now;
                }
            }
            // A controller that does not answer is not a finished job: retry, for a while.
            Err(e) => {
                failures += 1;
                eprintln!("cluster-rl: warning: {e:#}");
                if failures >= 60 {
                    return Err(e.context(format!("squeue failed {failures} times in a row; the job may still run")));
                }
            }
        }
        std::thread::sleep(poll);
    }
    println!("[{:>6.1} s] array job {job} has left the queue", start.elapsed().as_secs_f64());
    if let Some(path) = &args.jobcomp {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let tasks = jobcomp_tasks(&text, &job);
        println!("{:>5}  {:<12} {:<10} {:<8} runs", "task", "run", "JobState", "ExitCode");
        for &i in &todo {
            let id = &plan.runs[i].id;
            match tasks.get(&i) {
                Some((state, code, lines)) => println!("{i:>5}  {id:<12} {state:<10} {code:<8} {lines}"),
                None => println!("{i:>5}  {id:<12} (no jobcomp line)"),
            }
        }
    }
    if check_all_done(&dir, plan, &todo)? {
        println!("sweep {}: all {} runs are done", plan.name, plan.runs.len());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_UNFINISHED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_ranges() {
        assert_eq!(array_spec(&[0, 1, 2, 3], Some(2)), "0-3%2");
        assert_eq!(array_spec(&[1, 3, 4, 5, 9], None), "1,3-5,9");
        assert_eq!(array_spec(&[7], Some(1)), "7%1");
    }

    #[test]
    fn jobcomp_last_line_of_each_task_wins() {
        let text = "\
JobId=9 UserId=root(0) GroupId=root(0) Name=my sweep JobState=PENDING Partition=debug ArrayJobId=8 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=75:0 \n\
JobId=10 UserId=root(0) GroupId=root(0) Name=s JobState=COMPLETED Partition=debug ArrayJobId=8 ArrayTaskId=0 DerivedExitCode=0:0 ExitCode=0:0 \n\
JobId=9 UserId=root(0) GroupId=root(0) Name=s JobState=COMPLETED Partition=debug ArrayJobId=8 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=0:0 \n\
JobId=3 UserId=root(0) GroupId=root(0) Name=s JobState=FAILED Partition=debug ArrayJobId=18 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=3:0 \n\
JobId=4 UserId=root(0) GroupId=root(0) Name=s JobState=FAILED Partition=debug DerivedExitCode=0:0 ExitCode=3:0 \n";
        let t = jobcomp_tasks(text, "8");
        assert_eq!(t.len(), 2);
        assert_eq!(t[&0], ("COMPLETED".to_string(), "0:0".to_string(), 1));
        assert_eq!(t[&1], ("COMPLETED".to_string(), "0:0".to_string(), 2));
        assert_eq!(jobcomp_tasks(text, "18")[&1].0, "FAILED");
    }

    #[test]
    fn the_script_quotes_what_it_must() {
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert!(sbatch_path(Path::new("/tmp/a b")).is_err());
        assert!(sbatch_path(Path::new("/tmp/a%b")).is_err());
        assert_eq!(sbatch_path(Path::new("/tmp/ab")).unwrap(), "/tmp/ab");
    }
}
