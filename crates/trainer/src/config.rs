//! Experiment files: the typed sections, the merge of a TOML file with `--set key=value`
//! overrides, strict validation, and the resolved TOML written into every run.
//!
//! Resolution edits the `toml::Value` tree (file, then each `--set` in order), expands the
//! `[env]` section over its scenario preset, and only then deserialises into the typed
//! sections, every one `deny_unknown_fields`. The resolved experiment is itself a valid
//! experiment file: loading it again gives the same experiment.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use cluster_env::{BASELINES, ClusterError, DERIVED_SEED_BIT, ScenarioConfig, TraceSplit, scenarios};
use dqn::{DqnConfig, DqnError};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::seeds::{MAX_EPISODES, SeedRange, SeedRanges, VALIDATION_SEED};

/// A complete, validated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Name and seed.
    pub experiment: ExperimentSection,
    /// What the agent learns on (`[env]`).
    pub env: EnvSpec,
    /// The learner; `seed`, `num_envs` and `total_timesteps` come from the other sections.
    pub agent: DqnConfig,
    /// Length, parallelism, evaluation and checkpoint cadence.
    pub training: TrainingSection,
    /// The held-out evaluation.
    pub evaluation: EvaluationSection,
    /// Where and how often to log.
    pub logging: LoggingSection,
}

/// The environment of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvSpec {
    /// A cluster scenario: a preset (`[env] scenario`) with the `[env]` overrides applied.
    Cluster {
        /// The preset's name.
        preset: String,
        /// The scenario after the overrides (boxed: it is large and CartPole has none).
        scenario: Box<ScenarioConfig>,
    },
    /// Gymnasium's CartPole-v1 (`gym::CartPole`), the learner's sanity check: `[env] scenario =
    /// "cartpole"`, no overrides; validation scores the greedy mean return, and there are no
    /// baselines.
    CartPole,
}

/// `[env] scenario` of [`EnvSpec::CartPole`].
pub const CARTPOLE: &str = "cartpole";

/// `[experiment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Name of the experiment: the directory under `runs/` and `checkpoints/`.
    pub name: String,
    /// Seed of the learner; training env `i` starts its first episode with seed `seed + i`
    /// (later episodes use derived seeds with bit 63 set).
    #[serde(default = "one")]
    pub seed: u64,
}

/// `[training]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Length of training, in environment steps summed over all envs.
    pub total_steps: u64,
    /// Environments stepped in parallel (rayon); one batched forward pass acts for all.
    #[serde(default = "one_usize")]
    pub num_envs: usize,
    /// Environment steps between greedy evaluations on the validation seeds (0: only at the
    /// end); the best one is kept as the `best` checkpoint.
    #[serde(default)]
    pub eval_interval: u64,
    /// Validation episodes per evaluation (seeds from 2,000,000).
    #[serde(default = "ten")]
    pub eval_episodes: u64,
    /// Environment steps between checkpoints (0: only at the end).
    #[serde(default)]
    pub checkpoint_interval: u64,
    /// Step checkpoints kept on disk (older ones are deleted; `best` is kept apart).
    #[serde(default = "three")]
    pub keep_checkpoints: usize,
    /// Save the replay buffer in checkpoints, so `--resume` continues with it.
    #[serde(default = "yes")]
    pub save_replay: bool,
}

/// `[evaluation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSection {
    /// Held-out test episodes.
    #[serde(default = "hundred")]
    pub episodes: u64,
    /// First held-out seed; the test seeds are `seed_offset..seed_offset + episodes`.
    #[serde(default = "million")]
    pub seed_offset: u64,
    /// Baselines evaluated beside the agent: `"all"` or a list of names.
    #[serde(default = "all_baselines")]
    pub baselines: Baselines,
    /// The policy paired differences are computed against.
    #[serde(default = "least_loaded")]
    pub reference: String,
}

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSection {
    /// Parent of the TensorBoard runs: `<runs_dir>/<experiment>/run-<k>/`.
    #[serde(default = "runs")]
    pub runs_dir: String,
    /// Parent of the checkpoints: `<checkpoint_dir>/<experiment>/`.
    #[serde(default = "checkpoints")]
    pub checkpoint_dir: String,
    /// Environment steps between histograms of Q-values and chosen nodes.
    #[serde(default = "ten_thousand")]
    pub histogram_interval: u64,
}

/// Which baselines to evaluate: `"all"` or a list of names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Baselines {
    /// A keyword: only `"all"` is valid.
    Keyword(String),
    /// Baseline names.
    List(Vec<String>),
}

impl Baselines {
    /// Parses the command-line form: `all` or `a,b,c`.
    pub fn parse(s: &str) -> Self {
        if s == "all" {
            Self::Keyword(s.into())
        } else {
            Self::List(s.split(',').map(|x| x.trim().to_string()).collect())
        }
    }

    /// The baseline names, checked.
    ///
    /// # Errors
    /// An unknown keyword or baseline name, listing the valid ones.
    pub fn names(&self) -> Result<Vec<String>, String> {
        match self {
            Self::Keyword(k) if k == "all" => Ok(BASELINES.iter().map(|s| s.to_string()).collect()),
            Self::Keyword(k) => Self::List(k.split(',').map(|x| x.trim().to_string()).collect()).names(),
            Self::List(names) => {
                for (i, n) in names.iter().enumerate() {
                    if let Err(e) = cluster_env::baseline(n) {
                        return Err(e.to_string());
                    }
                    if names[..i].contains(n) {
                        return Err(format!("baseline {n:?} listed twice"));
                    }
                }
                Ok(names.clone())
            }
        }
    }
}

fn one() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}
fn ten() -> u64 {
    10
}
fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}
fn hundred() -> u64 {
    100
}
fn million() -> u64 {
    1_000_000
}
fn ten_thousand() -> u64 {
    10_000
}
fn all_baselines() -> Baselines {
    Baselines::Keyword("all".into())
}
fn least_loaded() -> String {
    "least-loaded".into()
}
fn runs() -> String {
    "runs".into()
}
fn checkpoints() -> String {
    "checkpoints".into()
}

/// The most parallel environments (`training.num_envs`).
const MAX_NUM_ENVS: usize = 4096;

/// The sections an experiment file may have.
const SECTIONS: [&str; 6] = ["experiment", "env", "agent", "training", "evaluation", "logging"];

/// `[agent]` keys that other sections own.
const AGENT_OWNED_ELSEWHERE: [(&str, &str); 3] =
    [("seed", "experiment.seed"), ("num_envs", "training.num_envs"), ("total_timesteps", "training.total_steps")];

/// Reads `path`, applies `overrides` (`key=value`, dotted keys) and resolves the experiment.
///
/// # Errors
/// A message naming the file, the key and what is allowed.
pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let root: Table = toml::from_str(&text).with_context(|| format!("{}: invalid toml", path.display()))?;
    resolve(root, overrides).with_context(|| path.display().to_string())
}

/// The most bytes of a trace file an experiment may replay: the trace is read whole (by the
/// simulator, and here to copy and hash it), so its size is checked before it is read.
pub const MAX_TRACE_BYTES: u64 = 1 << 30;

/// A copy of the trace file a cluster scenario replays (`env.workload.trace`), kept beside the
/// experiment in each checkpoint and export so that they do not depend on the directory
/// training ran in, nor on the trace staying unchanged there.
///
/// Its name records its content: `trace-<FNV-1a 64 of the bytes, 16 hex digits>.csv`. A saved
/// experiment names the copy by this bare name, which [`load_saved`] resolves beside the
/// experiment file and checks against the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceCopy {
    /// `trace-<hash>.csv`.
    pub name: String,
    /// The trace's bytes.
    pub bytes: Vec<u8>,
}

impl TraceCopy {
    /// The copy of `bytes`.
    pub fn of(bytes: Vec<u8>) -> Self {
        Self { name: format!("trace-{:016x}.csv", fnv1a64(&bytes)), bytes }
    }

    /// The hash a copy's file name records, when `name` is a bare `trace-<16 hex>.csv`.
    fn recorded_hash(name: &Path) -> Option<u64> {
        let bare = name.to_str().filter(|_| name.components().count() == 1)?;
        let hex = bare.strip_prefix("trace-")?.strip_suffix(".csv")?;
        if hex.len() != 16 {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    }
}

/// FNV-1a, 64 bits: a content hash to notice a changed trace (not a defence against forgery).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Reads the trace file at `path`, refusing one over [`MAX_TRACE_BYTES`] before reading it.
fn read_trace_bytes(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot read the trace", path.display()))?;
    let len = file.metadata().with_context(|| format!("{}: cannot read the trace", path.display()))?.len();
    if len > MAX_TRACE_BYTES {
        bail!("{}: the trace has {len} bytes, more than the {MAX_TRACE_BYTES} a scenario may replay", path.display());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_TRACE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read the trace", path.display()))?;
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        bail!("{}: the trace grew past {MAX_TRACE_BYTES} bytes while being read", path.display());
    }
    Ok(bytes)
}

/// An experiment as a checkpoint or export keeps it: the resolved TOML, with the scenario's
/// trace (if any) named by its copy, and that copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedExperiment {
    /// `experiment.toml`.
    pub toml: String,
    /// The trace file to write beside it, under its [`TraceCopy::name`].
    pub trace: Option<TraceCopy>,
}

/// An experiment read back from a checkpoint or export ([`load_saved`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedExperiment {
    /// The experiment, its trace path resolved beside the experiment file.
    pub experiment: Experiment,
    /// The trace copy it replays, checked against its name (absent for an experiment without
    /// a trace, or one saved before traces were copied, whose path is used as it was stored).
    pub trace: Option<TraceCopy>,
}

/// Reads an experiment saved in a checkpoint or export (`<dir>/experiment.toml`). A trace
/// named by a copy (`trace-<hash>.csv`) is read from beside the file and checked against the
/// hash its name records, and the experiment then points at it, wherever the command runs.
///
/// # Errors
/// As [`load`]; a missing trace copy, or one whose bytes no longer match its name.
pub fn load_saved(experiment_file: &Path) -> Result<LoadedExperiment> {
    let mut experiment = load(experiment_file, &[])?;
    let dir = experiment_file.parent().unwrap_or(Path::new("."));
    let mut trace = None;
    if let Some(path) = experiment.trace_mut()
        && let Some(recorded) = TraceCopy::recorded_hash(path)
    {
        let full = dir.join(&*path);
        let copy = TraceCopy::of(read_trace_bytes(&full).with_context(|| experiment_file.display().to_string())?);
        let actual = fnv1a64(&copy.bytes);
        if actual != recorded {
            bail!(
                "{}: the trace changed after it was saved: its FNV-1a 64 hash is {actual:016x}, the name records \
                 {recorded:016x}; restore the file, or train again",
                full.display()
            );
        }
        *path = full;
        trace = Some(copy);
    }
    Ok(LoadedExperiment { experiment, trace })
}

/// Parses the experiment from TOML text and applies `overrides` (`key=value`, dotted keys), as
/// [`load`] does with a file's text.
///
/// # Errors
/// As [`load`], without the file name.
pub fn from_str(text: &str, overrides: &[String]) -> Result<Experiment> {
    let root: Table = toml::from_str(text).context("invalid toml")?;
    resolve(root, overrides)
}

/// Applies one `key=value` override to the tree. The value is TOML (`1e-4`, `true`,
/// `[64, 64]`, `"text"`); a value that is not valid TOML is taken as a string.
///
/// # Errors
/// A malformed override or a path through a non-table value.
pub fn apply_override(root: &mut Table, set: &str) -> Result<()> {
    let (key, raw) = set.split_once('=').ok_or_else(|| anyhow!("--set {set:?}: expected key=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        bail!("--set {set:?}: the key must be dotted names like agent.learning_rate");
    }
    let value = match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(Value::String(raw.into())),
        Err(_) => Value::String(raw.trim().into()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut table = root;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = table.entry(part.to_string()).or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => bail!("--set {key}: {} is not a table", parts[..=i].join(".")),
        };
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Merges `over` into `base`, table by table. A table that names another `kind` than the one
/// it overrides (`observation = { kind = "scalable" }` over park-lb's `{ kind = "park", high =
/// 500000 }`) replaces it whole: the fields of one variant mean nothing to another.
fn deep_merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o))
                if o.get("kind").is_none_or(|kind| b.get("kind") == Some(kind)) =>
            {
                deep_merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Deserialises `value` as `T`, naming the offending key (`section.path`) on error.
fn typed<T: serde::de::DeserializeOwned>(section: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() { section.to_string() } else { format!("{section}.{path}") };
        anyhow!("{key}: {}", e.into_inner())
    })
}

fn take_section(root: &mut Table, name: &str) -> Result<Table> {
    match root.remove(name) {
        None => Ok(Table::new()),
        Some(Value::Table(t)) => Ok(t),
        Some(other) => bail!("{name}: expected a table ([{name}]), found a {}", other.type_str()),
    }
}

/// The `[env]` section: the preset named by `scenario`, with the other keys merged over it.
fn resolve_env(mut env: Table) -> Result<(String, ScenarioConfig)> {
    let scenario_name = match env.remove("scenario") {
        Some(Value::String(s)) => s,
        Some(other) => bail!("env.scenario: expected a string, found a {}", other.type_str()),
        None => bail!("env.scenario: missing; valid scenarios are {}", scenarios::NAMES.join(", ")),
    };
    let preset = scenarios::preset(&scenario_name).context("env.scenario")?;
    let Value::Table(mut merged) = Value::try_from(&preset).context("env: cannot represent the preset as toml")? else {
        bail!("env: the preset is not a table")
    };
    deep_merge(&mut merged, env);
    let scenario: ScenarioConfig = typed("env", Value::Table(merged))?;
    scenario.validate().map_err(|e| match e {
        ClusterError::InvalidConfig { field, value, allowed } => anyhow!("env.{field} = {value}: allowed: {allowed}"),
        other => anyhow::Error::new(other).context("env"),
    })?;
    Ok((scenario_name, scenario))
}

/// `scenario` replaying its test split, if it is an openb scenario (unchanged otherwise).
pub fn test_split(mut scenario: ScenarioConfig) -> ScenarioConfig {
    if let Some(o) = scenario.workload.openb.as_mut() {
        o.split = TraceSplit::Test;
    }
    scenario
}

/// The scenario preset `name` with `--set` overrides of its fields (`workload.n_tasks=200`).
///
/// # Errors
/// An unknown scenario, a bad override, or an invalid scenario, naming the key.
pub fn scenario(name: &str, overrides: &[String]) -> Result<ScenarioConfig> {
    let mut env = Table::new();
    env.insert("scenario".into(), Value::String(name.into()));
    for set in overrides {
        apply_override(&mut env, set)?;
    }
    Ok(resolve_env(env)?.1)
}

fn resolve(mut root: Table, overrides: &[String]) -> Result<Experiment> {
    for set in overrides {
        apply_override(&mut root, set)?;
    }
    if let Some(k) = root.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
        bail!("unknown section {k:?}: valid sections are {}", SECTIONS.join(", "));
    }
    if !root.contains_key("experiment") {
        bail!("experiment.name: missing (every experiment needs [experiment] name = \"...\")");
    }
    let experiment: ExperimentSection = typed("experiment", Value::Table(take_section(&mut root, "experiment")?))?;
    if experiment.name.is_empty()
        || !experiment.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || experiment.name.starts_with('.')
    {
        bail!("experiment.name: {:?} must be a non-empty name of letters, digits, '-', '_' and '.'", experiment.name);
    }
    if experiment.seed >= DERIVED_SEED_BIT / 2 {
        bail!("experiment.seed: {} is too large (at most {})", experiment.seed, DERIVED_SEED_BIT / 2 - 1);
    }

    let env_table = take_section(&mut root, "env")?;
    let env = if env_table.get("scenario").and_then(Value::as_str) == Some(CARTPOLE) {
        if let Some(k) = env_table.keys().find(|k| *k != "scenario") {
            bail!("env.{k}: cartpole takes no overrides (only env.scenario = \"cartpole\")");
        }
        EnvSpec::CartPole
    } else {
        let (preset, scenario) = resolve_env(env_table)?;
        // Training and validation replay the train split; the test split is held out for
        // `cluster-rl eval`, which switches to it (`Experiment::test_scenario`).
        if scenario.workload.openb.as_ref().is_some_and(|o| o.split == TraceSplit::Test) {
            bail!(
                "env.workload.openb.split: \"test\" is the held-out split; training and validation use \"train\" \
                 (cluster-rl eval evaluates on \"test\" by itself)"
            );
        }
        EnvSpec::Cluster { preset, scenario: Box::new(scenario) }
    };

    let agent_table = take_section(&mut root, "agent")?;
    for (key, owner) in AGENT_OWNED_ELSEWHERE {
        if agent_table.contains_key(key) {
            bail!("agent.{key}: set by {owner} in an experiment file; remove it from [agent]");
        }
    }
    let mut agent: DqnConfig = typed("agent", Value::Table(agent_table))?;
    if !root.contains_key("training") {
        bail!("training.total_steps: missing (every experiment needs [training] total_steps = N)");
    }
    let training: TrainingSection = typed("training", Value::Table(take_section(&mut root, "training")?))?;
    let evaluation: EvaluationSection = typed("evaluation", Value::Table(take_section(&mut root, "evaluation")?))?;
    let logging: LoggingSection = typed("logging", Value::Table(take_section(&mut root, "logging")?))?;

    agent.seed = experiment.seed;
    agent.num_envs = training.num_envs;
    agent.total_timesteps = training.total_steps;
    agent.validate().map_err(|e| match e {
        DqnError::InvalidConfig { field: "num_envs", reason } => anyhow!("training.num_envs: {reason}"),
        DqnError::InvalidConfig { field: "total_timesteps", reason } => anyhow!("training.total_steps: {reason}"),
        DqnError::InvalidConfig { field, reason } => anyhow!("agent.{field}: {reason}"),
        other => anyhow::Error::new(other).context("agent"),
    })?;
    check_action_filter(&agent, &env)?;
    if training.num_envs > MAX_NUM_ENVS {
        bail!("training.num_envs: {} is above {MAX_NUM_ENVS}", training.num_envs);
    }
    if training.keep_checkpoints == 0 {
        bail!("training.keep_checkpoints: must be at least 1");
    }
    evaluation.baselines.names().map_err(anyhow::Error::msg).context("evaluation.baselines")?;
    let names = evaluation.baselines.names().unwrap_or_default();
    if evaluation.reference != "dqn" && !names.contains(&evaluation.reference) {
        bail!(
            "evaluation.reference: {:?} is not evaluated; valid are \"dqn\" or one of the baselines ({})",
            evaluation.reference,
            names.join(", ")
        );
    }
    if logging.histogram_interval == 0 {
        bail!("logging.histogram_interval: must be at least 1");
    }
    let exp = Experiment { experiment, env, agent, training, evaluation, logging };
    exp.seed_ranges(None)?;
    Ok(exp)
}

/// `agent.action_filter` reads the "fits now" column of a node-scoring network's cluster
/// observation: refused here, before anything is built, where the experiment has none.
///
/// # Errors
/// Naming the key, with what would make it valid.
fn check_action_filter(agent: &DqnConfig, env: &EnvSpec) -> Result<()> {
    if agent.action_filter == dqn::ActionFilter::None {
        return Ok(());
    }
    let packing = matches!(env, EnvSpec::Cluster { scenario, .. }
        if matches!(scenario.observation, cluster_env::ObservationKind::Scalable { packing: true, .. }));
    if agent.network != dqn::NetworkKind::NodeScoring || !packing {
        bail!(
            "agent.action_filter: {:?} reads the \"fits now\" column of a node-scoring network's cluster observation; \
             set network = \"node-scoring\" and [env] observation = {{ kind = \"scalable\", packing = true }}, or \
             action_filter = \"none\"",
            agent.action_filter.name()
        );
    }
    Ok(())
}

impl Experiment {
    /// The fully resolved experiment as TOML: every section, the scenario in full, the agent
    /// without the keys other sections own. Loading it gives this experiment back.
    ///
    /// # Errors
    /// If a value cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String> {
        let mut root = Table::new();
        root.insert("experiment".into(), Value::try_from(&self.experiment)?);
        let env = match &self.env {
            EnvSpec::Cluster { preset, scenario } => {
                let Value::Table(mut env) = Value::try_from(scenario)? else { bail!("scenario is not a table") };
                env.insert("scenario".into(), Value::String(preset.clone()));
                env
            }
            EnvSpec::CartPole => Table::from_iter([("scenario".to_string(), Value::String(CARTPOLE.into()))]),
        };
        root.insert("env".into(), Value::Table(env));
        let Value::Table(mut agent) = Value::try_from(&self.agent)? else { bail!("agent is not a table") };
        for (key, _) in AGENT_OWNED_ELSEWHERE {
            agent.remove(key);
        }
        root.insert("agent".into(), Value::Table(agent));
        root.insert("training".into(), Value::try_from(&self.training)?);
        root.insert("evaluation".into(), Value::try_from(&self.evaluation)?);
        root.insert("logging".into(), Value::try_from(&self.logging)?);
        let body = toml::to_string_pretty(&root)?;
        Ok(format!("# Fully resolved experiment {} (written by cluster-rl)\n{body}", self.experiment.name))
    }

    /// The trace file the scenario replays (`env.workload.trace`), if any.
    pub fn trace(&self) -> Option<&Path> {
        match &self.env {
            EnvSpec::Cluster { scenario, .. } => scenario.workload.trace.as_deref(),
            EnvSpec::CartPole => None,
        }
    }

    /// The trace file the scenario replays, to change it.
    pub fn trace_mut(&mut self) -> Option<&mut PathBuf> {
        match &mut self.env {
            EnvSpec::Cluster { scenario, .. } => scenario.workload.trace.as_mut(),
            EnvSpec::CartPole => None,
        }
    }

    /// The experiment as checkpoints and exports keep it: the trace (if any) is read now,
    /// once, and named by its copy ([`TraceCopy`]), so a checkpoint holds the trace it was
    /// trained on even if the file changes later.
    ///
    /// # Errors
    /// An unreadable or too large trace, or a value that cannot be written as TOML.
    pub fn to_saved(&self) -> Result<SavedExperiment> {
        let mut saved = self.clone();
        let trace = match saved.trace_mut() {
            Some(path) => {
                let copy = TraceCopy::of(read_trace_bytes(path).context("env.workload.trace")?);
                *path = PathBuf::from(&copy.name);
                Some(copy)
            }
            None => None,
        };
        Ok(SavedExperiment { toml: saved.to_toml()?, trace })
    }

    /// The cluster scenario the experiment trains on.
    ///
    /// # Errors
    /// For a CartPole experiment: `what` (evaluation against baselines, export, ...) needs a
    /// cluster scenario.
    pub fn scenario(&self, what: &str) -> Result<&ScenarioConfig> {
        match &self.env {
            EnvSpec::Cluster { scenario, .. } => Ok(scenario.as_ref()),
            EnvSpec::CartPole => {
                bail!("experiment {} trains on {CARTPOLE}; {what} needs a cluster scenario", self.experiment.name)
            }
        }
    }

    /// The scenario of the held-out test evaluation: the training scenario, except that an
    /// openb workload replays its test split (the last 30% of the pods), which training and
    /// validation never see.
    ///
    /// # Errors
    /// As [`Experiment::scenario`].
    pub fn test_scenario(&self, what: &str) -> Result<ScenarioConfig> {
        Ok(test_split(self.scenario(what)?.clone()))
    }

    /// The validation seeds of the evaluations during training (at most
    /// [`MAX_EPISODES`](crate::seeds::MAX_EPISODES): checked at load).
    pub fn validation_seeds(&self) -> Vec<u64> {
        (VALIDATION_SEED..VALIDATION_SEED + self.training.eval_episodes).collect()
    }

    /// The experiment's training, validation and test seeds, checked to be disjoint and below
    /// 2^63; `episodes` replaces `evaluation.episodes` (`cluster-rl eval --episodes`).
    ///
    /// # Errors
    /// An empty, too long or overflowing range, or two ranges that share a seed, naming the
    /// settings ([`SeedRanges::new`]).
    pub fn seed_ranges(&self, episodes: Option<u64>) -> Result<SeedRanges> {
        let training = SeedRange::new(
            "training",
            "experiment.seed",
            self.experiment.seed,
            "training.num_envs",
            self.training.num_envs as u64,
            MAX_NUM_ENVS as u64,
        )?;
        let validation = SeedRange::new(
            "validation",
            "the first validation seed",
            VALIDATION_SEED,
            "training.eval_episodes",
            self.training.eval_episodes,
            MAX_EPISODES,
        )?;
        let (count_key, count) = match episodes {
            Some(n) => ("--episodes", n),
            None => ("evaluation.episodes", self.evaluation.episodes),
        };
        let test = SeedRange::new(
            "test",
            "evaluation.seed_offset",
            self.evaluation.seed_offset,
            count_key,
            count,
            MAX_EPISODES,
        )?;
        SeedRanges::new(Some(training), validation, test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [experiment]
        name = "t"
        [env]
        scenario = "park-lb"
        [training]
        total_steps = 1000
    "#;

    fn err(text: &str, sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        format!("{:#}", from_str(text, &sets).unwrap_err())
    }

    #[test]
    fn minimal_file_takes_defaults_and_round_trips() {
        let exp = from_str(MINIMAL, &[]).unwrap();
        assert_eq!(exp.scenario("test").unwrap(), &scenarios::park_lb());
        assert_eq!(exp.agent.total_timesteps, 1000);
        assert_eq!(exp.evaluation.baselines.names().unwrap().len(), BASELINES.len());
        let text = exp.to_toml().unwrap();
        assert_eq!(from_str(&text, &[]).unwrap(), exp, "{text}");
    }

    /// An openb experiment trains on the train split, is evaluated on the test split, and
    /// refuses to train on the test split; the scenario round-trips through TOML.
    #[test]
    fn openb_trains_on_train_and_evaluates_on_test() {
        let text = MINIMAL.replace("park-lb", "openb-gpuspec");
        let exp = from_str(&text, &["env.workload.openb.load=20".into()]).unwrap();
        let train = exp.scenario("test").unwrap().workload.openb.clone().unwrap();
        assert_eq!((train.split, train.load), (TraceSplit::Train, 20.0));
        let test = exp.test_scenario("evaluation").unwrap().workload.openb.unwrap();
        assert_eq!(test, cluster_env::OpenbConfig { split: TraceSplit::Test, ..train });
        assert_eq!(from_str(&exp.to_toml().unwrap(), &[]).unwrap(), exp);
        let e = err(&text, &["env.workload.openb.split=\"test\""]);
        assert!(e.starts_with("env.workload.openb.split: \"test\" is the held-out split"), "{e}");
        // Other scenarios are unchanged.
        assert_eq!(test_split(scenarios::park_lb()), scenarios::park_lb());
    }

    #[test]
    fn overrides_edit_the_tree_before_typing() {
        let sets = [
            "agent.learning_rate=1e-4",
            "env.workload.n_tasks=50",
            "env.reward=attributed-jct",
            "agent.hidden_sizes=[8, 8]",
            "evaluation.baselines=least-loaded",
            "env.scenario=seed-case",
        ];
        let exp = from_str(MINIMAL, &sets.map(String::from)).unwrap();
        assert_eq!(exp.agent.learning_rate, 1e-4);
        let scenario = exp.scenario("test").unwrap();
        assert_eq!(scenario.workload.n_tasks, 50);
        assert_eq!(scenario.name, "seed-case");
        assert_eq!(scenario.reward, cluster_env::RewardKind::AttributedJct);
        assert_eq!(exp.agent.hidden_sizes, vec![8, 8]);
        let text = exp.to_toml().unwrap();
        assert_eq!(from_str(&text, &[]).unwrap(), exp, "{text}");
    }

    /// A table that switches an enum's `kind` replaces the preset's table; one of the same kind
    /// (or without `kind`) is merged into it field by field.
    #[test]
    fn a_new_kind_replaces_the_presets_table() {
        let scalable = "{ kind = \"scalable\", completion = true }";
        let exp = from_str(
            &MINIMAL.replace("scenario = \"park-lb\"", &format!("scenario = \"park-lb\"\nobservation = {scalable}")),
            &[],
        )
        .unwrap();
        let scenario = exp.scenario("test").unwrap();
        assert_eq!(scenario.observation, cluster_env::ObservationKind::Scalable { packing: false, completion: true });
        assert_eq!(from_str(&exp.to_toml().unwrap(), &[]).unwrap(), exp);
        let exp = from_str(MINIMAL, &["env.workload.size={ kind = \"exponential\", mean = 50.0 }".into()]).unwrap();
        assert_eq!(exp.scenario("test").unwrap().workload.size, cluster_env::SizeDist::Exponential { mean: 50.0 });
        // Same kind: merged, the other fields kept.
        let exp = from_str(MINIMAL, &["env.workload.size={ kind = \"pareto\", shape = 2.5 }".into()]).unwrap();
        assert_eq!(
            exp.scenario("test").unwrap().workload.size,
            cluster_env::SizeDist::Pareto { shape: 2.5, scale: 100.0 }
        );
        let exp = from_str(MINIMAL, &["env.observation.high=1000.0".into()]).unwrap();
        assert_eq!(exp.scenario("test").unwrap().observation, cluster_env::ObservationKind::Park { high: 1000.0 });
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let cases: &[(&[&str], &str)] = &[
            (&["agent.gama=0.9"], "agent.gama: unknown field `gama`, expected one of"),
            (&["agent.gamma=1.5"], "agent.gamma: 1.5 is outside [0, 1]"),
            (&["agent.gamma=\"high\""], "agent.gamma: invalid type: string"),
            (&["agent.batch_size=512", "agent.buffer_size=100"], "agent.batch_size: 512 exceeds buffer_size 100"),
            (&["env.scenario=tiny"], "env.scenario: unknown scenario \"tiny\": valid scenarios are park-lb"),
            (&["env.nodes=[]"], "env.nodes = 0: allowed: at least one node"),
            (&["env.workload.n_taks=5"], "env.workload.n_taks: unknown field `n_taks`"),
            (&["evaluation.baselines=least-loded"], "evaluation.baselines: unknown baseline \"least-loded\""),
            (&["training.num_envs=0"], "training.num_envs: must be at least 1"),
            (&["agent.seed=3"], "agent.seed: set by experiment.seed"),
            (&["bogus.x=1"], "unknown section \"bogus\""),
            (&["evaluation.seed_offset=1"], "overlap the training seeds"),
            // Issue 13: training env i starts with seed experiment.seed + i, so this seed is
            // also the first validation seed.
            (
                &["experiment.seed=2000000"],
                "experiment.seed = 2000000, training.num_envs = 1: the training seeds 2000000..2000001 overlap the \
                 validation seeds 2000000..2000010",
            ),
            (&["evaluation.seed_offset=1999950"], "the test seeds 1999950..2000050 overlap the validation seeds"),
            (
                &["evaluation.seed_offset=9223372036854775807"],
                "the test seeds 9223372036854775807..9223372036854775807 + 100 do not fit below 2^63",
            ),
            (&["training.eval_episodes=1000001"], "training.eval_episodes: 1000001 is more than 1000000"),
            (&["evaluation.episodes=0"], "evaluation.episodes: must be at least 1"),
            (&["agent"], "expected key=value"),
        ];
        for (sets, want) in cases {
            let got = err(MINIMAL, sets);
            assert!(got.contains(want), "{sets:?}: {got}");
        }
        assert!(err("[env]\nscenario = \"park-lb\"", &[]).contains("experiment.name: missing"));
        assert!(err("[experiment]\nname = \"x\"\n[env]\nscenario=\"park-lb\"", &[]).contains("training.total_steps"));
        assert!(err("x = = 1", &[]).contains("invalid toml"));
        assert!(
            err(MINIMAL, &["env.scenario=cartpole", "env.reward=slowdown"]).contains("env.reward: cartpole takes no")
        );
    }

    /// Sizes that would be allocated are bounded while the experiment is resolved, with the
    /// key in the message: nothing is built from them (in-process: an allocation of any of
    /// these sizes would abort the test binary).
    #[test]
    fn huge_sizes_are_errors_naming_the_key() {
        let cases: &[(&[&str], &str)] = &[
            (&["agent.hidden_sizes=[100000000]"], "agent.hidden_sizes: width 100000000 is above 65536"),
            (&["agent.buffer_size=1000000000000"], "agent.buffer_size: 1000000000000 transitions is above 100000000"),
            (&["training.num_envs=5000"], "training.num_envs: 5000 is above 4096"),
            (&["training.eval_episodes=1000000000000"], "training.eval_episodes: 1000000000000 is more than 1000000"),
            (&["evaluation.episodes=1000000000000"], "evaluation.episodes: 1000000000000 is more than 1000000"),
            (
                &["env.nodes=[{count = 10000000000, capacity = [1.0], speed = 1.0}]"],
                "env.nodes[0].count = 10000000000: allowed: at most 1000000 nodes",
            ),
            (
                &["env.workload.n_tasks=1000000000000"],
                "env.workload.n_tasks = 1000000000000: allowed: at most 10000000",
            ),
        ];
        for (sets, want) in cases {
            let got = err(MINIMAL, sets);
            assert!(got.contains(want), "{sets:?}: {got}");
        }
        // Found by the experiment_toml fuzz target: 9 KB of TOML made resolving it allocate
        // 3 GB (a million nodes × 400 resources) before the experiment was rejected.
        let names: Vec<String> = (0..400).map(|i| format!("\"r{i}\"")).collect();
        let many = [
            format!("env.resources=[{}]", names.join(", ")),
            format!("env.nodes=[{{count = 1000000, capacity = [{}], speed = 1.0}}]", vec!["1.0"; 400].join(", ")),
        ];
        let got = format!("{:#}", from_str(MINIMAL, &many).unwrap_err());
        assert!(
            got.contains(
                "env.resources = 400 resources × 1000000 nodes: allowed: at most 16777216 node-resource values"
            ),
            "{got}"
        );
        let deep = format!("agent.hidden_sizes=[{}]", vec!["8"; 65].join(", "));
        assert!(err(MINIMAL, &[&deep]).contains("agent.hidden_sizes: 65 layers is above 64"));
        // The bounds themselves are accepted.
        let sets = ["training.eval_episodes=1000000", "evaluation.episodes=1000000", "evaluation.seed_offset=3000000"];
        let exp = from_str(MINIMAL, &sets.map(String::from)).unwrap();
        assert_eq!(exp.training.eval_episodes, MAX_EPISODES);
        assert!(exp.seed_ranges(Some(0)).is_err() && exp.seed_ranges(Some(MAX_EPISODES)).is_ok());
        let e = exp.seed_ranges(Some(MAX_EPISODES + 1)).unwrap_err();
        assert_eq!(e.to_string(), "--episodes: 1000001 is more than 1000000, the most allowed");
    }

    #[test]
    fn trace_copies_are_named_by_their_fnv1a_hash() {
        // Reference values of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let copy = TraceCopy::of(b"a".to_vec());
        assert_eq!(copy.name, "trace-af63dc4c8601ec8c.csv");
        assert_eq!(TraceCopy::recorded_hash(Path::new(&copy.name)), Some(0xaf63_dc4c_8601_ec8c));
        for other in ["data/trace-af63dc4c8601ec8c.csv", "trace-af63.csv", "trace-af63dc4c8601ec8c.txt", "jobs.csv"] {
            assert_eq!(TraceCopy::recorded_hash(Path::new(other)), None, "{other}");
        }
    }

    #[test]
    fn a_saved_trace_is_read_beside_the_experiment_and_checked() {
        let dir = std::env::temp_dir().join(format!("cluster-rl-config-trace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let csv = "arrival,work,slot,priority\n0,10,1,0\n5,20,1,0\n";
        std::fs::write(dir.join("jobs.csv"), csv).unwrap();
        let set = format!("env.workload.trace=\"{}\"", dir.join("jobs.csv").display());
        let exp = from_str(MINIMAL, &[set]).unwrap();
        let saved = exp.to_saved().unwrap();
        let copy = saved.trace.clone().unwrap();
        assert_eq!(
            (copy.bytes.as_slice(), copy.name.as_str()),
            (csv.as_bytes(), TraceCopy::of(csv.into()).name.as_str())
        );
        assert!(saved.toml.contains(&format!("trace = \"{}\"", copy.name)), "{}", saved.toml);
        let ckpt = dir.join("ckpt");
        std::fs::create_dir_all(&ckpt).unwrap();
        std::fs::write(ckpt.join("experiment.toml"), &saved.toml).unwrap();
        std::fs::write(ckpt.join(&copy.name), &copy.bytes).unwrap();
        let loaded = load_saved(&ckpt.join("experiment.toml")).unwrap();
        assert_eq!(loaded.experiment.trace(), Some(ckpt.join(&copy.name).as_path()));
        assert_eq!(loaded.trace, Some(copy.clone()));
        std::fs::write(ckpt.join(&copy.name), "arrival,work,slot,priority\n0,11,1,0\n").unwrap();
        let e = format!("{:#}", load_saved(&ckpt.join("experiment.toml")).unwrap_err());
        assert!(e.contains("the trace changed after it was saved"), "{e}");
        std::fs::remove_file(ckpt.join(&copy.name)).unwrap();
        let e = format!("{:#}", load_saved(&ckpt.join("experiment.toml")).unwrap_err());
        assert!(e.contains(&format!("{}: cannot read the trace", ckpt.join(&copy.name).display())), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cartpole_experiments_resolve_and_round_trip() {
        let exp = from_str(MINIMAL, &["env.scenario=cartpole".into()]).unwrap();
        assert_eq!(exp.env, EnvSpec::CartPole);
        assert!(format!("{:#}", exp.scenario("export").unwrap_err()).contains("export needs a cluster scenario"));
        let text = exp.to_toml().unwrap();
        assert!(text.contains("[env]\nscenario = \"cartpole\""), "{text}");
        assert_eq!(from_str(&text, &[]).unwrap(), exp);
    }
}
