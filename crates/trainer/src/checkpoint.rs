//! Checkpoints of a training run under `<checkpoint_dir>/<experiment>/`:
//!
//! | entry | what |
//! |---|---|
//! | `step-<global_step>/` | the agent ([`dqn::Agent::save`]), `trainer.json` and `experiment.toml` |
//! | `best/` | the same, for the best validation evaluation so far |
//! | `latest` | a one-line file naming the newest complete `step-…` directory |
//!
//! Every checkpoint is written into a temporary directory, each file with
//! [`durable::write_atomic`] (fsynced), then renamed into place and the parent directory fsynced,
//! so a crash never leaves a half-written one; `latest` is replaced the same way, after the
//! directory it names exists.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cluster_env::CompiledScenario;
use dqn::{Agent, DeviceSetting, SaveOptions};
use serde::{Deserialize, Serialize};

/// The resolved experiment inside each checkpoint.
pub const EXPERIMENT_FILE: &str = "experiment.toml";
/// The trainer's own state inside each checkpoint.
pub const STATE_FILE: &str = "trainer.json";
/// The pointer to the newest checkpoint.
pub const LATEST: &str = "latest";
/// The best checkpoint's directory.
pub const BEST: &str = "best";

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
}

fn sync_dir(dir: &Path) -> Result<()> {
    durable::sync_dir(dir).with_context(|| format!("{}: cannot sync", dir.display()))
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

    /// Removes temporary directories a crash left behind.
    pub fn clean_temporaries(&self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }

    fn write_dir(
        &self,
        name: &str,
        agent: &Agent,
        state: &TrainerState,
        experiment: &str,
        replay: bool,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).with_context(|| format!("{}: cannot create", self.root.display()))?;
        let tmp = self.root.join(format!(".tmp-{name}-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("{}: cannot remove", tmp.display()))?;
        }
        agent
            .save(&tmp, SaveOptions { replay })
            .with_context(|| format!("{}: cannot save the agent", tmp.display()))?;
        durable::write_atomic(&tmp.join(STATE_FILE), &serde_json::to_vec_pretty(state)?)
            .with_context(|| format!("{}: cannot write {STATE_FILE}", tmp.display()))?;
        durable::write_atomic(&tmp.join(EXPERIMENT_FILE), experiment.as_bytes())
            .with_context(|| format!("{}: cannot write {EXPERIMENT_FILE}", tmp.display()))?;
        let dest = self.root.join(name);
        let old = self.root.join(format!(".tmp-old-{name}-{}", std::process::id()));
        if dest.exists() {
            fs::rename(&dest, &old).with_context(|| format!("{}: cannot move aside", dest.display()))?;
        }
        fs::rename(&tmp, &dest).with_context(|| format!("{}: cannot rename into place", dest.display()))?;
        sync_dir(&self.root)?;
        if old.exists() {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(dest)
    }

    /// Writes checkpoint `step-<global_step>`, points `latest` at it and deletes step
    /// checkpoints beyond the newest `keep`.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn save_step(&self, agent: &Agent, state: &TrainerState, experiment: &str, replay: bool) -> Result<PathBuf> {
        let name = format!("step-{:012}", state.global_step);
        let dir = self.write_dir(&name, agent, state, experiment, replay)?;
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
    pub fn save_best(&self, agent: &Agent, state: &TrainerState, experiment: &str) -> Result<PathBuf> {
        self.write_dir(BEST, agent, state, experiment, false)
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
    if path.is_file() {
        if path.file_name().is_some_and(|n| n == EXPERIMENT_FILE || n == STATE_FILE || n == "agent.json") {
            return path.parent().map(Path::to_path_buf).context("checkpoint file without a directory");
        }
        let text = fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let name = text.trim();
        if name.is_empty() || name.contains('/') || name.contains('\\') {
            bail!("{}: not a checkpoint pointer (expected one line naming a step-… directory)", path.display());
        }
        let dir = path.parent().unwrap_or(Path::new(".")).join(name);
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

/// Reads the trainer state of checkpoint `dir`.
///
/// # Errors
/// A missing or malformed `trainer.json`.
pub fn load_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let bytes = fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: corrupt trainer state", path.display()))
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
