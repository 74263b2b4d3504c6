//! Checkpoints of a training run under `<checkpoint_dir>/<experiment>/`:
//!
//! | entry | what |
//! |---|---|
//! | `step-<global_step>/` | the agent ([`dqn::Agent::save`]), `trainer.json`, `experiment.toml`, and the copy of the trace a trace scenario replays (`trace-<hash>.csv`, see [`crate::config::TraceCopy`]) |
//! | `best/` | the same, for the best validation evaluation so far |
//! | `latest` | a one-line file naming the newest complete `step-…` directory |
//!
//! Every checkpoint is written into a temporary directory ([`durable::temp_path`]), each file
//! with [`durable::write_atomic`] (fsynced), then put in place with [`durable::replace_dir`]: a
//! rename for a new name, an atomic exchange when it replaces one (`best/`), so a crash never
//! leaves a half-written checkpoint nor an experiment without a whole `best/`. `latest` is
//! replaced the same way, after the directory it names exists. A failed write (a full disk)
//! removes its temporary directory and leaves the earlier checkpoints as they were. What a crash
//! leaves behind (`.tmp-*` temporaries, a checkpoint waiting as `.old-<name>`) is repaired by
//! the next `train` ([`Checkpoints::clean_temporaries`]).
//!
//! With the `failpoints` cargo feature (tests only), `CLUSTER_RL_FAIL_AT` stops the process at
//! a named step of a checkpoint write, as a crash would (see [`failpoints`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cluster_env::CompiledScenario;
use dqn::{Agent, DeviceSetting, SaveOptions};
use serde::{Deserialize, Serialize};

use crate::config::SavedExperiment;

/// The resolved experiment inside each checkpoint.
pub const EXPERIMENT_FILE: &str = "experiment.toml";
/// The trainer's own state inside each checkpoint.
pub const STATE_FILE: &str = "trainer.json";
/// The pointer to the newest checkpoint.
pub const LATEST: &str = "latest";
/// The best checkpoint's directory.
pub const BEST: &str = "best";
/// The training environments' state inside each step checkpoint
/// ([`gym::VectorEnv::save_state`]): with the replay buffer, what makes a resume exact.
pub const ENVS_FILE: &str = "envs.bin";
/// The largest [`ENVS_FILE`] read back (checked before reading): far above any real state
/// (1,000 nodes and 100,000 tasks take a few MB per env).
const MAX_ENVS_BYTES: u64 = 1 << 32;

/// What the trainer needs besides the agent to continue a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    /// Environment steps done (equals the agent's global step).
    pub global_step: u64,
    /// The TensorBoard run directory, appended to on resume.
    pub run_dir: PathBuf,
    /// Best validation mean JCT so far, and its step.
    pub best: Option<(f64, u64)>,
    /// Wall-clock seconds of training so far, summed over resumed sessions (evaluations and
    /// checkpoints included). Absent in checkpoints written before it was recorded.
    #[serde(default)]
    pub train_seconds: Option<f64>,
    /// FNV-1a 64 (hex) of the checkpoint's [`ENVS_FILE`]; absent where there is none (`best/`,
    /// and checkpoints written before environment states were saved).
    #[serde(default)]
    pub envs_fnv1a64: Option<String>,
    /// The run directory's TensorBoard event files and their lengths at this checkpoint, which
    /// a resumed run cuts the directory back to ([`crate::tensorboard::rewind`]).
    #[serde(default)]
    pub event_files: BTreeMap<String, u64>,
    /// Training actions counted per node since the last `charts/chosen_node` histogram, so a
    /// resumed run's next histogram counts the same actions as an uninterrupted run's.
    #[serde(default)]
    pub chosen: Vec<u64>,
}

/// Test-only fault injection, compiled with the `failpoints` cargo feature: the environment
/// variable `CLUSTER_RL_FAIL_AT` holds comma-separated names.
///
/// - `<kind>-staged` (`best-staged`, `step-staged`): abort once the new checkpoint is complete
///   in its temporary directory, before it is put in place.
/// - `<kind>-exchanged`, `<kind>-moved-aside`, `<kind>-renamed-in`: abort right after that
///   [`durable::ReplaceStep`] of putting it in place (`best-renamed-in` also fires when the
///   first `best/` appears).
/// - `rename-exchange`: the atomic exchange fails as on a file system without it, so the
///   portable fallback (`moved-aside`, then `renamed-in`) replaces `best/`.
/// - `events-synced-<N>`: abort after the TensorBoard events of the step-`N` checkpoint are on
///   disk and before the checkpoint is written (the event file is then ahead of `latest`).
/// - `hang-after-step-<N>`: stop making progress once training step `N` (a global step) is
///   done, printing `failpoint hang-after-step-<N>: waiting` to stderr, for a test to `kill -9`
///   the process at a known point.
///
/// Aborting (no unwinding, no destructors, buffered logs lost) is what a crash or `kill -9`
/// does to the process; everything written before was fsynced.
pub mod failpoints {
    /// The variable naming the failpoints.
    #[cfg(feature = "failpoints")]
    pub const VAR: &str = "CLUSTER_RL_FAIL_AT";

    /// Whether failpoint `name` is set.
    #[cfg(feature = "failpoints")]
    pub fn active(name: &str) -> bool {
        std::env::var(VAR).is_ok_and(|v| v.split(',').any(|n| n.trim() == name))
    }

    /// Whether failpoint `name` is set: never without the `failpoints` feature.
    #[cfg(not(feature = "failpoints"))]
    pub fn active(_name: &str) -> bool {
        false
    }

    /// Hangs (sleeps until killed) if failpoint `hang-after-step-<step>` is set.
    #[cfg(feature = "failpoints")]
    pub fn hang_after_step(step: u64) {
        static AT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let at = AT.get_or_init(|| {
            std::env::var(VAR).ok()?.split(',').find_map(|n| n.trim().strip_prefix("hang-after-step-")?.parse().ok())
        });
        if *at == Some(step) {
            eprintln!("cluster-rl: failpoint hang-after-step-{step}: waiting");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    /// Hangs if failpoint `hang-after-step-<step>` is set: never without the `failpoints`
    /// feature.
    #[cfg(not(feature = "failpoints"))]
    pub fn hang_after_step(_step: u64) {}

    /// Aborts the process if failpoint `name` is set.
    pub fn crash_after(name: &str) {
        if active(name) {
            eprintln!("cluster-rl: failpoint {name}: aborting");
            std::process::abort();
        }
    }
}

/// What one checkpoint holds.
struct Contents<'a> {
    agent: &'a Agent,
    state: &'a TrainerState,
    experiment: &'a SavedExperiment,
    /// Whether to save the replay buffer.
    replay: bool,
    /// The training environments' state (step checkpoints).
    envs: Option<&'a [u8]>,
}

/// The checkpoints of one experiment.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    root: PathBuf,
    keep: usize,
}

impl Checkpoints {
    /// The checkpoint directory `root`, keeping the newest `keep` step checkpoints.
    pub fn new(root: PathBuf, keep: usize) -> Self {
        Self { root, keep }
    }

    /// The experiment's checkpoint directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The newest complete checkpoint, if any.
    ///
    /// # Errors
    /// A `latest` pointer that cannot be read or names a missing directory.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.root.join(LATEST);
        if !pointer.exists() {
            return Ok(None);
        }
        resolve(&pointer).map(Some)
    }

    /// The `best` checkpoint, if there is one.
    pub fn best(&self) -> Option<PathBuf> {
        let dir = self.root.join(BEST);
        dir.is_dir().then_some(dir)
    }

    /// The checkpoints in the directory (`latest`, `best`, `step-*`), sorted; empty when there
    /// is none (or no directory).
    ///
    /// # Errors
    /// A directory that exists but cannot be listed.
    pub fn existing(&self) -> Result<Vec<String>> {
        if !self.root.exists() {
            return Ok(vec![]);
        }
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .with_context(|| format!("{}: cannot list", self.root.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n == LATEST || n == BEST || n.starts_with("step-"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Repairs what a crash during a checkpoint write left behind: a checkpoint waiting under
    /// its [`durable::aside_path`] (the only whole copy of `best/` if the crash fell between
    /// the two renames of the fallback) is put back first; then the temporary directories,
    /// which never hold the only copy of anything, are removed.
    ///
    /// # Errors
    /// If a checkpoint waiting aside cannot be put back.
    pub fn clean_temporaries(&self) -> Result<()> {
        let Ok(entries) = fs::read_dir(&self.root) else { return Ok(()) };
        let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        for name in &names {
            if let Some(dest) = name.strip_prefix(durable::ASIDE_PREFIX) {
                let dest = self.root.join(dest);
                durable::recover_dir(&dest)
                    .with_context(|| format!("{}: cannot restore it from {name}", dest.display()))?;
            }
        }
        for name in &names {
            if name.starts_with(durable::TEMP_PREFIX) {
                let _ = fs::remove_dir_all(self.root.join(name));
            }
        }
        Ok(())
    }

    /// Writes checkpoint `name` (`kind` names its failpoints) into a temporary directory and
    /// puts it in place, replacing an existing one atomically.
    fn write_dir(&self, name: &str, kind: &str, contents: Contents<'_>) -> Result<PathBuf> {
        let Contents { agent, state, experiment, replay, envs } = contents;
        fs::create_dir_all(&self.root).with_context(|| format!("{}: cannot create", self.root.display()))?;
        let dest = self.root.join(name);
        let staged = durable::temp_path(&dest);
        let written = (|| -> Result<()> {
            agent
                .save(&staged, SaveOptions { replay })
                .with_context(|| format!("{}: cannot save the agent", staged.display()))?;
            let mut state = state.clone();
            state.envs_fnv1a64 = None;
            if let Some(envs) = envs {
                durable::write_atomic(&staged.join(ENVS_FILE), envs)
                    .with_context(|| format!("{}: cannot write {ENVS_FILE}", staged.display()))?;
                state.envs_fnv1a64 = Some(format!("{:016x}", crate::config::fnv1a64(envs)));
            }
            durable::write_atomic(&staged.join(STATE_FILE), &serde_json::to_vec_pretty(&state)?)
                .with_context(|| format!("{}: cannot write {STATE_FILE}", staged.display()))?;
            durable::write_atomic(&staged.join(EXPERIMENT_FILE), experiment.toml.as_bytes())
                .with_context(|| format!("{}: cannot write {EXPERIMENT_FILE}", staged.display()))?;
            // The trace the experiment names by its copy: the checkpoint replays it from here.
            if let Some(trace) = &experiment.trace {
                durable::write_atomic(&staged.join(&trace.name), &trace.bytes)
                    .with_context(|| format!("{}: cannot write {}", staged.display(), trace.name))?;
            }
            failpoints::crash_after(&format!("{kind}-staged"));
            let exchange = if failpoints::active("rename-exchange") {
                durable::Exchange::Never
            } else {
                durable::Exchange::IfSupported
            };
            durable::replace_dir_observed(&staged, &dest, exchange, &mut |step| {
                let step = match step {
                    durable::ReplaceStep::Exchanged => "exchanged",
                    durable::ReplaceStep::MovedAside => "moved-aside",
                    durable::ReplaceStep::RenamedIn => "renamed-in",
                };
                failpoints::crash_after(&format!("{kind}-{step}"));
            })
            .with_context(|| format!("{}: cannot put the new checkpoint in place", dest.display()))
        })();
        if let Err(e) = written {
            // Give the space back at once (the disk may be full); the next start would delete
            // the temporary directory anyway.
            let _ = fs::remove_dir_all(&staged);
            return Err(e.context(format!("{}: checkpoint not written", dest.display())));
        }
        Ok(dest)
    }

    /// Writes checkpoint `step-<global_step>` with the training environments' state `envs`,
    /// points `latest` at it and deletes step checkpoints beyond the newest `keep`.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn save_step(
        &self,
        agent: &Agent,
        state: &TrainerState,
        experiment: &SavedExperiment,
        replay: bool,
        envs: &[u8],
    ) -> Result<PathBuf> {
        let name = format!("step-{:012}", state.global_step);
        let dir = self.write_dir(&name, "step", Contents { agent, state, experiment, replay, envs: Some(envs) })?;
        let pointer = self.root.join(LATEST);
        durable::write_atomic(&pointer, format!("{name}\n").as_bytes())
            .with_context(|| format!("{}: cannot update", pointer.display()))?;
        self.prune(&name)?;
        Ok(dir)
    }

    /// Writes the `best` checkpoint (without the replay buffer).
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn save_best(&self, agent: &Agent, state: &TrainerState, experiment: &SavedExperiment) -> Result<PathBuf> {
        self.write_dir(BEST, "best", Contents { agent, state, experiment, replay: false, envs: None })
    }

    fn prune(&self, keep_name: &str) -> Result<()> {
        let mut steps: Vec<String> = fs::read_dir(&self.root)
            .with_context(|| format!("{}: cannot list", self.root.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("step-"))
            .collect();
        steps.sort();
        let excess = steps.len().saturating_sub(self.keep);
        for name in &steps[..excess] {
            if name != keep_name {
                fs::remove_dir_all(self.root.join(name))
                    .with_context(|| format!("{}: cannot delete an old checkpoint", self.root.join(name).display()))?;
            }
        }
        Ok(())
    }
}

/// The checkpoint directory `path` designates: a checkpoint directory itself, an experiment's
/// checkpoint directory (through its `latest`), or a `latest` pointer file.
///
/// # Errors
/// A path that is none of these, naming what was expected.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        if path.join(EXPERIMENT_FILE).is_file() {
            return Ok(path.to_path_buf());
        }
        if path.join(LATEST).is_file() {
            return resolve(&path.join(LATEST));
        }
        bail!("{}: not a checkpoint (no {EXPERIMENT_FILE}) and no {LATEST} pointer in it", path.display());
    }
    // A crash between the two renames of the fallback replacement left the checkpoint aside;
    // read it there (only training puts it back, so a reader never races a writer's rename).
    if !path.exists() && or_aside(path).join(EXPERIMENT_FILE).is_file() {
        return Ok(or_aside(path));
    }
    if path.is_file() {
        if path.file_name().is_some_and(|n| n == EXPERIMENT_FILE || n == STATE_FILE || n == "agent.json") {
            return path.parent().map(Path::to_path_buf).context("checkpoint file without a directory");
        }
        let text = fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let name = text.trim();
        if name.is_empty() || name.contains('/') || name.contains('\\') {
            bail!("{}: not a checkpoint pointer (expected one line naming a step-… directory)", path.display());
        }
        let dir = or_aside(&path.parent().unwrap_or(Path::new(".")).join(name));
        if !dir.join(EXPERIMENT_FILE).is_file() {
            bail!("{}: points to {}, which is not a checkpoint", path.display(), dir.display());
        }
        return Ok(dir);
    }
    bail!(
        "{}: no such checkpoint (expected a checkpoint directory, an experiment's checkpoint directory or a latest file)",
        path.display()
    )
}

/// `dir`, or where it waits while a crash interrupted its replacement (see [`resolve`]).
fn or_aside(dir: &Path) -> PathBuf {
    let aside = durable::aside_path(dir);
    if !dir.exists() && aside.is_dir() { aside } else { dir.to_path_buf() }
}

/// Reads the trainer state of checkpoint `dir`.
///
/// # Errors
/// A missing or malformed `trainer.json`.
pub fn load_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let bytes = fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: corrupt trainer state", path.display()))
}

/// The size of checkpoint `dir` for the log: `"41.3 MB: replay.bin 40.1 MB, envs.bin 0.6 MB"`
/// (the total, and the two files that grow with the buffer and the workload).
pub fn describe_size(dir: &Path) -> String {
    let size = |name: &str| fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    let total: u64 = fs::read_dir(dir)
        .map_or(0, |entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum());
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "{:.1} MB: replay.bin {:.1} MB, {ENVS_FILE} {:.2} MB",
        mb(total),
        mb(size("replay.bin")),
        mb(size(ENVS_FILE))
    )
}

/// The training environments' state of checkpoint `dir` (whose trainer state is `state`),
/// checked against the checksum `state` records; `None` if the checkpoint has none.
///
/// # Errors
/// A missing, oversized or damaged file.
pub fn load_envs(dir: &Path, state: &TrainerState) -> Result<Option<Vec<u8>>> {
    let Some(expected) = &state.envs_fnv1a64 else { return Ok(None) };
    let path = dir.join(ENVS_FILE);
    let len = fs::metadata(&path).with_context(|| format!("{}: cannot read", path.display()))?.len();
    if len > MAX_ENVS_BYTES {
        bail!("{}: {len} bytes, more than the {MAX_ENVS_BYTES} an environment state may have", path.display());
    }
    let bytes = fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let actual = format!("{:016x}", crate::config::fnv1a64(&bytes));
    if &actual != expected {
        bail!("{}: damaged: its FNV-1a 64 checksum is {actual}, {STATE_FILE} records {expected}", path.display());
    }
    Ok(Some(bytes))
}

/// Loads the agent of checkpoint `dir` on the CPU (whatever device it trained on).
///
/// # Errors
/// A missing, corrupt or incompatible checkpoint.
pub fn load_agent(dir: &Path) -> Result<Agent> {
    Agent::load_on(dir, Some(DeviceSetting::Cpu)).with_context(|| format!("{}: checkpoint", dir.display()))
}

/// Loads the agent of checkpoint `dir` on the CPU and checks that it fits `scenario`'s
/// observation and action spaces.
///
/// # Errors
/// An unreadable checkpoint, or an agent for another observation or action shape.
pub fn load_agent_for(dir: &Path, scenario: &CompiledScenario) -> Result<Agent> {
    let agent = load_agent(dir)?;
    let (d, a) = (scenario.observation_layout().obs_dim(), scenario.n_nodes());
    let net = agent.network_config();
    if (net.obs_dim, net.n_actions) != (d, a) {
        bail!(
            "{}: the agent expects {} observations and {} actions, scenario {} has {d} and {a}",
            dir.display(),
            net.obs_dim,
            net.n_actions,
            scenario.scenario().name
        );
    }
    Ok(agent)
}
