//! `cluster-rl train`: the training driver around [`dqn::Loop`].
//!
//! The DQN algorithm itself lives in `dqn` (one vector step per [`dqn::Loop::step`]); this file
//! owns everything on a clock or a step count around it: periodic validation against the
//! baselines, checkpoints, TensorBoard, the progress bar, Ctrl-C (exit 130) and SIGUSR1/SIGTERM
//! (checkpoint and exit 75, see [`crate::signals`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use cluster_env::{CompiledScenario, DERIVED_SEED_BIT};
use dqn::{Agent, DqnError, Logger, Loop, crossed};
use gym::{Env, Snapshot, VectorEnv};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::TrainArgs;
use crate::checkpoint::{self, Checkpoints, ENVS_FILE, EXPERIMENT_FILE, TrainerState, failpoints};
use crate::config::{self, EnvSpec, Experiment, LoadedExperiment, SavedExperiment};
use crate::signals;
use crate::task::{CartPoleTask, ClusterTask, Task};
use crate::tensorboard::{self, TensorBoard};

/// Environment steps between the schedule scalars (ε, learning rate, SPS) and progress updates.
const SCALAR_INTERVAL: u64 = 1000;

/// What the training loop reports: its scalars go to TensorBoard, and the nodes it chooses are
/// counted for the `charts/chosen_node` histogram.
struct Recorder {
    tb: TensorBoard,
    chosen: Vec<u64>,
}

impl Logger for Recorder {
    fn scalar(&mut self, tag: &str, value: f64, step: u64) {
        self.tb.scalar(tag, value, step);
    }

    fn actions(&mut self, actions: &[usize], _step: u64) {
        for &a in actions {
            if let Some(c) = self.chosen.get_mut(a) {
                *c += 1;
            }
        }
    }
}

/// The seed that restarts the envs on resume: derived from the experiment seed and the step,
/// with bit 63 set like every derived training seed (disjoint from evaluation seeds).
fn resume_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z & ((1 << 62) - 1)) | DERIVED_SEED_BIT
}

/// `<runs_dir>/<experiment>/run-<k>` for the first unused `k`.
fn new_run_dir(parent: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
    let used = std::fs::read_dir(parent)
        .with_context(|| format!("{}: cannot list", parent.display()))?
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("run-").and_then(|k| k.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    let dir = parent.join(format!("run-{}", used + 1));
    std::fs::create_dir(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    Ok(dir)
}

/// What a resumed run may not change: what the agent, its schedules and its replay buffer were
/// built for, and the validation setup (below), so that the best record still compares.
const RESUME_FIXED: [&str; 5] = ["env", "agent", "training.num_envs", "training.total_steps", "training.eval_episodes"];

/// What a validation score depends on: the scenario and the validation episodes (their seeds
/// start at [`config::VALIDATION_SEED`]). The baselines and `[evaluation]` do not enter it.
const VALIDATION_SETUP: [&str; 2] = ["env", "training.eval_episodes"];

/// The first of `keys` (dotted, a whole section or one key) whose value differs between the
/// `saved` and the `now` experiment, as the full key of the first differing value with both
/// values: `("env.workload.n_tasks", "60", "100")`.
///
/// # Errors
/// If an experiment cannot be written as TOML.
fn first_difference(saved: &Experiment, now: &Experiment, keys: &[&str]) -> Result<Option<(String, String, String)>> {
    // Compared as resolved TOML, so the key named is the one a user writes in a file.
    let saved: toml::Table = toml::from_str(&saved.to_toml()?).context("the saved experiment")?;
    let now: toml::Table = toml::from_str(&now.to_toml()?).context("the experiment")?;
    let lookup = |t: &toml::Table, key: &str| {
        let mut parts = key.split('.');
        let first = t.get(parts.next()?);
        parts.try_fold(first?, |v, p| v.get(p)).cloned()
    };
    Ok(keys.iter().find_map(|key| differ(key.to_string(), lookup(&saved, key).as_ref(), lookup(&now, key).as_ref())))
}

/// The first differing leaf under `key` between `a` and `b`, with both values as TOML.
fn differ(key: String, a: Option<&toml::Value>, b: Option<&toml::Value>) -> Option<(String, String, String)> {
    use toml::Value;
    match (a, b) {
        (Some(Value::Table(x)), Some(Value::Table(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| differ(format!("{key}.{k}"), x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| differ(format!("{key}[{i}]"), Some(p), Some(q)))
        }
        _ if a == b => None,
        _ => {
            let show = |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), |v| v.to_string());
            Some((key, show(a), show(b)))
        }
    }
}

/// Refuses to resume from checkpoint `dir` (experiment `saved`) with an experiment `now` that
/// changed what a resumed run may not change.
///
/// # Errors
/// Naming the first changed key, both values and the file.
fn check_compatible(saved: &Experiment, now: &Experiment, dir: &Path) -> Result<()> {
    match first_difference(saved, now, &RESUME_FIXED)? {
        Some((key, was, is)) => bail!(
            "--resume: {key} is {was} in the checkpoint ({}) but {is} now; resume with the experiment it was \
             trained with",
            dir.join(EXPERIMENT_FILE).display()
        ),
        None => Ok(()),
    }
}

/// `now` as checkpoint `dir` (experiment `loaded`) would have saved it, for comparing the two:
/// a checkpoint replays its own copy of the trace, so the run goes on only with the same trace
/// (equal copy names: equal hashes), and then the paths do not matter.
///
/// # Errors
/// A trace that is not the one the checkpoint was trained on.
fn as_saved_in(now: &Experiment, saved: &SavedExperiment, loaded: &LoadedExperiment, dir: &Path) -> Result<Experiment> {
    let mut now = now.clone();
    if let (Some(ours), Some(theirs), Some(path)) = (&saved.trace, &loaded.trace, now.trace_mut()) {
        if ours.name != theirs.name {
            bail!(
                "--resume: the trace {} is not the one {} was trained on ({} there, {} now): resume with the same \
                 trace",
                path.display(),
                dir.display(),
                theirs.name,
                ours.name
            );
        }
        *path = loaded.experiment.trace().map(Path::to_path_buf).unwrap_or_default();
    }
    Ok(now)
}

/// The best record a resumed run continues from: `latest`'s, or `best/`'s own when that is
/// better. Validations run more often than checkpoints, so `best/` may hold a better policy
/// than `latest` knew of when it was written; starting from `latest`'s record alone would let
/// a worse validation replace it.
///
/// # Errors
/// A `best/` that cannot be read, or one scored on another validation setup than `now`'s (its
/// score would not compare with the new ones).
fn resumed_best(
    ckpts: &Checkpoints,
    latest: Option<(f64, u64)>,
    now: &Experiment,
    saved: &SavedExperiment,
) -> Result<Option<(f64, u64)>> {
    let Some(dir) = ckpts.best() else { return Ok(latest) };
    let loaded = config::load_saved(&dir.join(EXPERIMENT_FILE)).context("--resume: the best checkpoint")?;
    let now = as_saved_in(now, saved, &loaded, &dir)?;
    if let Some((key, was, is)) = first_difference(&loaded.experiment, &now, &VALIDATION_SETUP)? {
        bail!(
            "--resume: {key} is {was} for the best checkpoint ({}) but {is} now, so its validation score \
             does not compare with new ones; resume with {key} = {was}, or move {} out of {} to start a new \
             best record",
            dir.join(EXPERIMENT_FILE).display(),
            dir.display(),
            ckpts.root().display()
        );
    }
    let best = checkpoint::load_state(&dir).context("--resume: the best checkpoint")?.best;
    Ok(match (latest, best) {
        (Some(l), Some(b)) => Some(if b.0 < l.0 { b } else { l }),
        (l, b) => l.or(b),
    })
}

/// Turns a non-finite loss or weights (from a gradient step, or refused by a save) into the
/// divergence message; any other error passes through.
fn check_divergence(e: anyhow::Error, ckpts: &Checkpoints) -> anyhow::Error {
    match e.downcast_ref::<DqnError>() {
        Some(&DqnError::NonFinite { what, global_step, update_step }) => {
            let what = match what {
                "weights" => format!("the weights are not finite (after gradient step {update_step})"),
                tag => format!("{tag} is not finite (gradient step {update_step})"),
            };
            anyhow!("{}", diverged(global_step, &what, ckpts))
        }
        _ => e,
    }
}

/// A checkpoint that could not be written (a full disk, say), with what is intact and how to
/// go on: the earlier checkpoints and `best/` are untouched by a failed write. Weights that are
/// not finite (refused by the save) are divergence instead.
fn save_failed(e: anyhow::Error, step: u64, ckpts: &Checkpoints) -> anyhow::Error {
    if matches!(e.downcast_ref::<DqnError>(), Some(DqnError::NonFinite { .. })) {
        return check_divergence(e, ckpts);
    }
    let best = ckpts.best().map_or_else(String::new, |b| format!("; {} is intact", b.display()));
    let next = match ckpts.latest() {
        Ok(Some(dir)) => format!(
            "the last complete checkpoint is {}{best}; fix the cause (free space on a full disk), then continue \
             with --resume",
            dir.display()
        ),
        _ => format!(
            "no step checkpoint was written yet{best}; fix the cause (free space on a full disk), then delete {} \
             to start over",
            ckpts.root().display()
        ),
    };
    e.context(format!("training stopped at step {step}: a checkpoint could not be written ({next})"))
}

/// Prints a line above the progress bar, or to stderr when there is none.
fn say(bar: &ProgressBar, msg: &str) {
    if bar.is_hidden() { eprintln!("{msg}") } else { bar.println(msg) }
}

/// The message of a run stopped by divergence, naming the last good checkpoint.
fn diverged(step: u64, what: &str, ckpts: &Checkpoints) -> String {
    let last = match ckpts.latest() {
        Ok(Some(dir)) => format!("the last good checkpoint is {}", dir.display()),
        _ => "no checkpoint was written yet".to_string(),
    };
    format!(
        "training diverged at step {step}: {what}; stopped without saving ({last}); \
         try a lower agent.learning_rate or agent.reward_scale"
    )
}

/// Writes a step checkpoint of the loop: the agent, the environments' state, and the trainer
/// state with the TensorBoard files as they are on disk now (synced first), so that a resume
/// continues the curves exactly where the checkpoint is.
///
/// # Errors
/// If the event file or the checkpoint cannot be written.
fn save_step<E: Env + Snapshot>(
    ckpts: &Checkpoints,
    lp: &Loop<'_, E>,
    rec: &mut Recorder,
    state: &mut TrainerState,
    saved: &SavedExperiment,
    replay: bool,
) -> Result<PathBuf> {
    rec.tb.sync().context("TensorBoard")?;
    let (file, len) = rec.tb.file();
    state.event_files.insert(file, len);
    state.chosen.clone_from(&rec.chosen);
    failpoints::crash_after(&format!("events-synced-{}", state.global_step));
    ckpts.save_step(lp.agent(), state, saved, replay, &lp.envs().save_state())
}

/// `cluster-rl train`.
///
/// # Errors
/// A bad experiment, a missing checkpoint on `--resume`, an existing experiment without
/// `--resume`, divergence, or I/O failures.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let exp = config::load(&args.config, &args.sets)?;
    let resolved = exp.to_toml()?;
    if args.dry_run {
        print!("{resolved}");
        return Ok(ExitCode::SUCCESS);
    }
    // What checkpoints keep: read before the scenario is compiled, so it holds the trace
    // training replays (and not the file as it may be later).
    let saved = exp.to_saved()?;
    match &exp.env {
        EnvSpec::Cluster { scenario, .. } => {
            let baselines =
                exp.evaluation.baselines.names().map_err(anyhow::Error::msg).context("evaluation.baselines")?;
            let compiled = CompiledScenario::new(scenario).with_context(|| format!("scenario {}", scenario.name))?;
            let task = ClusterTask::new(compiled, exp.validation_seeds(), &baselines)?;
            drive(&task, &exp, &resolved, &saved, args)
        }
        EnvSpec::CartPole => {
            drive(&CartPoleTask { episodes: exp.training.eval_episodes }, &exp, &resolved, &saved, args)
        }
    }
}

/// Trains on `task` as `exp` says: the loop, checkpoints (with `saved`), validation and logging
/// (with `resolved`, the experiment as given).
fn drive<T: Task>(
    task: &T,
    exp: &Experiment,
    resolved: &str,
    saved: &SavedExperiment,
    args: &TrainArgs,
) -> Result<ExitCode> {
    let name = &exp.experiment.name;
    let ckpts = Checkpoints::new(Path::new(&exp.logging.checkpoint_dir).join(name), exp.training.keep_checkpoints);
    ckpts.clean_temporaries()?;

    // PLUMBING: the environments.
    let n = exp.training.num_envs;
    let envs = (0..n).map(|_| task.make_env()).collect::<Result<Vec<_>>>()?;
    let mut envs = VectorEnv::new(envs).context("env")?;

    // PLUMBING: a fresh agent, or the latest checkpoint's.
    let (mut agent, mut state) = if args.resume {
        let Some(dir) = ckpts.latest()? else {
            let best = match ckpts.best() {
                Some(best) => format!(
                    "; it has {} (the run stopped before its first step checkpoint): evaluate that, and delete \
                     {} or choose another experiment.name to train again",
                    best.display(),
                    ckpts.root().display()
                ),
                None => String::new(),
            };
            bail!("--resume: no checkpoint to resume from in {} (no latest pointer){best}", ckpts.root().display());
        };
        let loaded = config::load_saved(&dir.join(EXPERIMENT_FILE))?;
        check_compatible(&loaded.experiment, &as_saved_in(exp, saved, &loaded, &dir)?, &dir)?;
        let mut agent = Agent::load(&dir).context("--resume")?;
        let mut state = checkpoint::load_state(&dir)?;
        if state.global_step != agent.global_step() {
            bail!(
                "{}: trainer state at step {} but agent at {}",
                dir.display(),
                state.global_step,
                agent.global_step()
            );
        }
        state.best = resumed_best(&ckpts, state.best, exp, saved)?;
        let how = match checkpoint::load_envs(&dir, &state)? {
            Some(bytes) => {
                envs.load_state(&bytes).with_context(|| format!("{}: {ENVS_FILE}", dir.display()))?;
                if !agent.replay().is_empty() || agent.global_step() == 0 {
                    "exactly: environments, replay buffer, optimizer and random streams restored".to_string()
                } else {
                    let at = agent.refill_before_learning();
                    format!(
                        "approximately: the checkpoint has no replay buffer (training.save_replay = false), so \
                         the buffer starts empty and learning restarts at step {at}, once learning_starts = {} \
                         new steps are stored",
                        agent.config().learning_starts
                    )
                }
            }
            None => {
                // A checkpoint without environment states (written before they were saved):
                // the envs restart with fresh episodes, and the agent's half-built n-step
                // windows of the old ones end here, as truncations.
                envs.reset(resume_seed(exp.experiment.seed, agent.global_step()));
                agent.truncate_pending();
                let refill = if agent.replay().is_empty() {
                    format!(", and learning restarts at step {} (no replay buffer)", agent.refill_before_learning())
                } else {
                    String::new()
                };
                format!(
                    "approximately: {} has no {ENVS_FILE}, so the environments start new episodes{refill}",
                    dir.display()
                )
            }
        };
        // The curves continue from the checkpoint: what the interrupted session logged after
        // it is cut off (this session logs those steps again).
        tensorboard::rewind(&state.run_dir, &state.event_files).context("--resume: TensorBoard")?;
        eprintln!("resuming {name} from {} (step {}), {how}", dir.display(), agent.global_step());
        (agent, state)
    } else {
        // Any checkpoint counts: a run can die after its first `best/` and before its first
        // step checkpoint, and a fresh start would then overwrite that `best/`.
        let existing = ckpts.existing()?;
        if !existing.is_empty() {
            let root = ckpts.root().display();
            let found = existing.join(", ");
            if existing.iter().any(|n| n == checkpoint::LATEST) {
                bail!(
                    "{root}: experiment {name} already has checkpoints ({found}); continue it with --resume, or choose \
                     another experiment.name"
                );
            }
            bail!(
                "{root}: experiment {name} already has checkpoints ({found}) but no latest pointer to --resume from \
                 (the run stopped before its first step checkpoint); keep them by choosing another experiment.name, \
                 or delete {root} to start over"
            );
        }
        envs.reset(exp.experiment.seed);
        let agent = match task.node_rows() {
            Some(rows) => Agent::with_node_rows(exp.agent.clone(), envs.obs_dim(), envs.n_actions(), rows),
            None => Agent::new(exp.agent.clone(), envs.obs_dim(), envs.n_actions()),
        }
        .context("agent")?;
        let run_dir = new_run_dir(&Path::new(&exp.logging.runs_dir).join(name))?;
        let state = TrainerState {
            global_step: 0,
            run_dir,
            best: None,
            train_seconds: Some(0.0),
            envs_fnv1a64: None,
            event_files: BTreeMap::new(),
            chosen: Vec::new(),
        };
        (agent, state)
    };
    let experiment_copy = state.run_dir.join(EXPERIMENT_FILE);
    durable::write_atomic(&experiment_copy, resolved.as_bytes())
        .with_context(|| format!("{}: cannot write", experiment_copy.display()))?;
    // The counts of the next `charts/chosen_node` histogram continue from the checkpoint's.
    let mut chosen = std::mem::take(&mut state.chosen);
    chosen.resize(envs.n_actions(), 0);
    let mut rec = Recorder { tb: TensorBoard::create(&state.run_dir)?, chosen };
    // The resolved experiment in the Text tab, so a curve can be traced to its settings.
    rec.tb.text("config/experiment", &format!("```toml\n{resolved}```"), agent.global_step());

    // PLUMBING: Ctrl-C sets a flag; the loop checkpoints and stops.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)) {
            eprintln!("cluster-rl: warning: cannot catch Ctrl-C: {e}");
        }
    }
    // PLUMBING: SIGUSR1/SIGTERM (a batch scheduler's warning or requeue) likewise, but exit 75:
    // "checkpointed, resume me".
    if let Err(e) = signals::install() {
        eprintln!("cluster-rl: warning: cannot catch SIGUSR1/SIGTERM: {e}");
    }

    let total = exp.training.total_steps;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} steps {per_sec} ETA {eta} {msg}")
            .context("progress bar")?,
    );
    bar.set_position(agent.global_step());
    bar.reset_eta();
    say(&bar, &format!("training {name}: {total} steps, {n} envs, TensorBoard in {}", state.run_dir.display()));

    let start = Instant::now();
    let seconds_before = state.train_seconds;
    let mut recent: VecDeque<f64> = VecDeque::with_capacity(20);
    let mut last_eval = None;
    let mut last_saved = None;
    let interval = |k: u64| if k == 0 { u64::MAX } else { k };
    let mut lp = Loop::new(&mut agent, &mut envs).context("training")?;

    while lp.agent().global_step() < total {
        // ALGO: one step of every env, one batched forward pass, training per the DQN config.
        let report = lp.step(&mut rec).map_err(|e| check_divergence(e.into(), &ckpts))?;
        let (prev, step) = (report.prev_step, report.global_step);
        state.global_step = step;
        state.train_seconds = seconds_before.map(|s| s + start.elapsed().as_secs_f64());

        // PLUMBING: episode metrics of the envs whose episode ended.
        for info in lp.envs().infos() {
            if let Some(final_info) = &info.final_info {
                task.episode_metrics(final_info, &mut rec.tb, step);
            }
            if let Some(ep) = info.episode {
                if recent.len() == 20 {
                    recent.pop_front();
                }
                recent.push_back(ep.episode_return);
            }
        }
        if crossed(prev, step, SCALAR_INTERVAL) || step >= total {
            lp.log_schedules(&mut rec);
            rec.tb.flush_every();
            let mean_return = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            bar.set_position(step);
            bar.set_message(format!("ε {:.3} return {mean_return:.4e}", lp.agent().epsilon()));
        }
        if crossed(prev, step, exp.logging.histogram_interval) {
            let q = lp.q_values().context("q-values")?;
            rec.tb.histogram("charts/q_values", &q.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), step);
            // Nodes chosen (ε-greedy) by the training envs since the last histogram.
            rec.tb.categories("charts/chosen_node", &rec.chosen, step);
            rec.chosen.fill(0);
        }

        // PLUMBING: validation, best checkpoint.
        if crossed(prev, step, interval(exp.training.eval_interval)) || step >= total {
            let v = task.validate(lp.agent(), &mut rec.tb, step)?;
            let best = state.best.is_none_or(|(b, _)| v.score < b);
            say(&bar, &format!("step {step}: {}{}", v.line, if best { " (best)" } else { "" }));
            if best && v.score.is_finite() {
                state.best = Some((v.score, step));
                ckpts.save_best(lp.agent(), &state, saved).map_err(|e| save_failed(e, step, &ckpts))?;
            }
            last_eval = Some(step);
        }

        // PLUMBING: checkpoints; Ctrl-C, SIGUSR1, SIGTERM.
        // (On the last step training is complete: finishing beats a requeue that only validates.)
        let resume_signal = signals::received().filter(|_| step < total);
        let interrupted = stop.load(Ordering::SeqCst) || resume_signal.is_some();
        if crossed(prev, step, interval(exp.training.checkpoint_interval)) || step >= total || interrupted {
            let started = Instant::now();
            let dir = save_step(&ckpts, &lp, &mut rec, &mut state, saved, exp.training.save_replay)
                .map_err(|e| save_failed(e, step, &ckpts))?;
            last_saved = Some(step);
            // What a checkpoint costs, so users can weigh `checkpoint_interval` and `save_replay`.
            let ms = started.elapsed().as_secs_f64() * 1e3;
            say(
                &bar,
                &format!("step {step}: checkpoint {} ({}, {ms:.0} ms)", dir.display(), checkpoint::describe_size(&dir)),
            );
        }
        failpoints::hang_after_step(step);
        if interrupted {
            bar.abandon();
            rec.tb.close();
            if let Some(signal) = resume_signal {
                eprintln!("cluster-rl: {signal} at step {step}: checkpointed; continue with --resume (exit 75)");
                return Ok(ExitCode::from(signals::EXIT_RESUME));
            }
            eprintln!("cluster-rl: interrupted at step {step}; continue with --resume");
            return Ok(ExitCode::from(signals::EXIT_INTERRUPTED));
        }
    }
    // A resumed run that was already complete still ends with an evaluation and a checkpoint.
    let step = lp.agent().global_step();
    if last_eval.is_none() {
        let v = task.validate(lp.agent(), &mut rec.tb, step)?;
        say(&bar, &format!("step {step}: {}", v.line));
    }
    if last_saved.is_none() {
        save_step(&ckpts, &lp, &mut rec, &mut state, saved, exp.training.save_replay)
            .map_err(|e| save_failed(e, step, &ckpts))?;
    }
    bar.finish();
    rec.tb.close();
    let best = match (state.best, &exp.env) {
        (None, _) => "none".into(),
        (Some((score, s)), EnvSpec::CartPole) => format!("mean return {:.1} at step {s}", -score),
        (Some((jct, s)), EnvSpec::Cluster { .. }) => format!("mean JCT {jct:.1} at step {s}"),
    };
    eprintln!(
        "done: {step} steps in {:.1} s; best validation {best}; checkpoints in {}",
        start.elapsed().as_secs_f64(),
        ckpts.root().display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_seeds_are_training_seeds() {
        let s = resume_seed(1, 1000);
        assert!(s & DERIVED_SEED_BIT != 0);
        assert!(s.checked_add(4096).is_some(), "env i gets seed + i without wrapping");
        assert_ne!(s, resume_seed(1, 2000));
        assert_ne!(s, resume_seed(2, 1000));
    }

    #[test]
    fn the_first_difference_names_the_full_key_and_both_values() {
        let base = "[experiment]\nname = \"t\"\n[env]\nscenario = \"park-lb\"\n[training]\ntotal_steps = 1000\n";
        let exp =
            |sets: &[&str]| config::from_str(base, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let saved = exp(&[]);
        let diff = |now: &Experiment, keys: &[&str]| first_difference(&saved, now, keys).unwrap();
        assert_eq!(diff(&saved, &RESUME_FIXED), None);
        let more_tasks = exp(&["env.workload.n_tasks=61"]);
        let (key, _, now) = diff(&more_tasks, &VALIDATION_SETUP).unwrap();
        assert_eq!((key.as_str(), now.as_str()), ("env.workload.n_tasks", "61"));
        let episodes = exp(&["training.eval_episodes=4"]);
        assert_eq!(diff(&episodes, &RESUME_FIXED), Some(("training.eval_episodes".into(), "10".into(), "4".into())));
        // Keys outside the list do not count: the baselines do not enter a validation score.
        let baselines = exp(&["evaluation.baselines=[\"random\"]", "evaluation.reference=random"]);
        assert_eq!(diff(&baselines, &RESUME_FIXED), None);
        let hidden = exp(&["agent.hidden_sizes=[128, 32]"]);
        assert_eq!(diff(&hidden, &RESUME_FIXED).unwrap().0, "agent.hidden_sizes[1]");
    }
}
