//! `cluster-rl sweep plan`: a sweep file expanded into a sweep directory.
//!
//! Every run's experiment is the base experiment with its configuration's `--set` values and
//! its seed applied by [`crate::config::load`] (so it is validated, and its errors are named,
//! exactly as `cluster-rl train --set` would), with `experiment.name = <sweep>-<run id>` and
//! `logging.runs_dir` / `logging.checkpoint_dir` inside the run's directory (absolute paths:
//! the runs may start from any working directory, on any node that sees the same file system).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use toml::Value;

use super::PlanArgs;
use super::file::{Configuration, Resources, SweepFile, literal};
use super::state::RunState;
use crate::config;

/// `format` of `sweep.json`.
pub const FORMAT: &str = "cluster-rl-sweep";
/// `format_version` of `sweep.json`.
pub const FORMAT_VERSION: u32 = 1;
/// The resolved sweep in a sweep directory.
pub const PLAN_FILE: &str = "sweep.json";
/// A run's resolved experiment in its directory.
pub const EXPERIMENT_FILE: &str = "experiment.toml";

/// `sweep.json`: a sweep file resolved, everything the backends, `status` and `report` need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `sweep.name`.
    pub name: String,
    /// The sweep file it was planned from (absolute).
    pub sweep_file: PathBuf,
    /// The base experiment file (absolute).
    pub base: PathBuf,
    /// The sweep directory (absolute), which every run's paths are inside.
    pub dir: PathBuf,
    /// Training seeds.
    pub seeds: Vec<u64>,
    /// The configurations, `c0`, `c1`, … in order.
    pub configurations: Vec<PlannedConfiguration>,
    /// The runs: configurations × seeds, then the runs of seeds added when the sweep grew; a
    /// run's position is its index (Slurm array task id), which never changes.
    pub runs: Vec<PlannedRun>,
    /// `[resources]`.
    pub resources: Resources,
    /// Every time `sweep plan` added seeds to this sweep, oldest first (absent: it never grew).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grown: Vec<Growth>,
}

/// One growth of a sweep: `sweep plan` met a sweep file whose seed list gained seeds.
///
/// Recorded because adding seeds after looking at finished runs is optional stopping: the
/// report says so, as a paper would have to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    /// The sweep's seeds before.
    pub seeds_before: Vec<u64>,
    /// The seeds added.
    pub seeds_added: Vec<u64>,
    /// How many runs were done (their results could have been seen) when it grew.
    pub runs_done: usize,
}

/// One configuration in `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedConfiguration {
    /// `c<i>`.
    pub id: String,
    /// Key → value of the settings it varies (JSON values), sorted by key.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The same as `--set key=value` arguments of `cluster-rl train`.
    pub sets: Vec<String>,
}

/// One run in `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedRun {
    /// `c<i>-s<seed>`.
    pub id: String,
    /// Index of its configuration in [`Plan::configurations`].
    pub configuration: usize,
    /// Training seed (`experiment.seed`).
    pub seed: u64,
    /// `experiment.name` of its experiment.
    pub experiment: String,
}

impl Plan {
    /// The sweep's size in words, e.g. "2 configurations × 5 seeds = 10 runs" (or "1 configuration
    /// × 1 seed = 1 run"), for the messages of `plan`.
    pub fn shape(&self) -> String {
        fn count(n: usize, one: &str) -> String {
            if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
        }
        format!(
            "{} × {} = {}",
            count(self.configurations.len(), "configuration"),
            count(self.seeds.len(), "seed"),
            count(self.runs.len(), "run")
        )
    }

    /// The directory of `run` inside the sweep directory `dir`.
    pub fn run_dir(dir: &Path, run: &PlannedRun) -> PathBuf {
        dir.join("runs").join(&run.id)
    }

    /// Reads `DIR/sweep.json`.
    ///
    /// # Errors
    /// A directory without a sweep, or an unreadable or foreign `sweep.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(PLAN_FILE);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{}: cannot read (is {} a sweep directory? create one with `cluster-rl sweep plan FILE --dir DIR`)",
                path.display(),
                dir.display()
            )
        })?;
        let plan: Plan =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: not a sweep plan", path.display()))?;
        if plan.format != FORMAT || plan.format_version != FORMAT_VERSION {
            bail!(
                "{}: format {} version {}, expected {FORMAT} version {FORMAT_VERSION}",
                path.display(),
                plan.format,
                plan.format_version
            );
        }
        Ok(plan)
    }

    /// The run with index `index`.
    ///
    /// # Errors
    /// An index past the last run.
    pub fn run(&self, index: usize) -> Result<&PlannedRun> {
        self.runs.get(index).ok_or_else(|| {
            anyhow!(
                "run index {index}: sweep {} has {} runs (0..={})",
                self.name,
                self.runs.len(),
                self.runs.len().saturating_sub(1)
            )
        })
    }
}

/// An absolute form of `path` without touching the file system beyond the working directory.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot make absolute", path.display()))
}

/// `path` made absolute with `..` and links resolved (it exists: it was just read).
fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{}: cannot resolve", path.display()))
}

/// A path as a TOML string literal for `--set` (escaped as TOML wants).
fn path_literal(path: &Path) -> Result<String> {
    let s = path.to_str().ok_or_else(|| anyhow!("{}: the path is not valid UTF-8", path.display()))?;
    Ok(literal(&Value::String(s.to_string())))
}

/// One resolved run: its plan entry and its resolved experiment TOML.
struct Expanded {
    run: PlannedRun,
    experiment: String,
}

/// Expands `sweep` into a plan for directory `dir` (absolute) and every run's experiment.
fn expand(sweep: &SweepFile, dir: &Path) -> Result<(Plan, Vec<Expanded>)> {
    let configurations = sweep.configurations();
    let mut expanded = Vec::new();
    for (ci, c) in configurations.iter().enumerate() {
        for &seed in &sweep.seeds {
            let id = format!("{}-s{seed}", c.id);
            let name = format!("{}-{id}", sweep.name);
            let run_dir = dir.join("runs").join(&id);
            let mut sets = c.sets();
            sets.push(format!("experiment.seed={seed}"));
            sets.push(format!("experiment.name={}", literal(&Value::String(name.clone()))));
            sets.push(format!("logging.runs_dir={}", path_literal(&run_dir.join("tensorboard"))?));
            sets.push(format!("logging.checkpoint_dir={}", path_literal(&run_dir.join("checkpoints"))?));
            let exp = config::load(&sweep.base, &sets).with_context(|| {
                format!("{}: configuration {} ({}), seed {seed}", sweep.path.display(), c.id, c.label())
            })?;
            exp.scenario("a sweep (its report compares held-out JCT with the heuristics)")
                .with_context(|| sweep.path.display().to_string())?;
            expanded.push(Expanded {
                run: PlannedRun { id, configuration: ci, seed, experiment: name },
                experiment: exp.to_toml()?,
            });
        }
    }
    let plan = Plan {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        name: sweep.name.clone(),
        sweep_file: canonical(&sweep.path)?,
        base: canonical(&sweep.base)?,
        dir: dir.to_path_buf(),
        seeds: sweep.seeds.clone(),
        configurations: configurations.iter().map(planned_configuration).collect::<Result<_>>()?,
        runs: expanded.iter().map(|e| e.run.clone()).collect(),
        resources: sweep.resources.clone(),
        grown: Vec::new(),
    };
    Ok((plan, expanded))
}

fn planned_configuration(c: &Configuration) -> Result<PlannedConfiguration> {
    let mut values = serde_json::Map::new();
    for (k, v) in &c.values {
        values.insert(k.clone(), serde_json::to_value(v).with_context(|| format!("{k}: cannot write as JSON"))?);
    }
    Ok(PlannedConfiguration { id: c.id.clone(), values, sets: c.sets() })
}

/// What `sweep plan` makes of a directory that already holds `old` when the sweep file now
/// resolves to `new`: the same sweep (planning again is a no-op), the same sweep with more seeds
/// (it grows), or an error.
///
/// A grown sweep keeps every old run at its index and appends the new ones: a Slurm array
/// already submitted still maps each task id to the run it meant, and finished runs stay done.
fn reconcile(dir: &Path, old: Plan, new: Plan) -> Result<Plan> {
    let different = |what: &str| {
        anyhow!(
            "{}: holds a different sweep ({} from {}: {what}); plan into another --dir, or delete it to start over",
            dir.display(),
            old.name,
            old.sweep_file.display()
        )
    };
    if old.name != new.name || old.sweep_file != new.sweep_file {
        return Err(different("another sweep file"));
    }
    if old.base != new.base {
        return Err(different("another base experiment"));
    }
    if old.configurations != new.configurations {
        return Err(different("other configurations"));
    }
    if old.resources != new.resources {
        return Err(different("other [resources]"));
    }
    let dropped: Vec<u64> = old.seeds.iter().copied().filter(|s| !new.seeds.contains(s)).collect();
    if !dropped.is_empty() {
        return Err(different(&format!(
            "seeds {dropped:?} are gone from sweep.seeds; a sweep only grows, its finished runs stay part of it"
        )));
    }
    let added: Vec<u64> = new.seeds.iter().copied().filter(|s| !old.seeds.contains(s)).collect();
    if added.is_empty() {
        // The same seeds, maybe listed in another order: the old plan stands.
        return Ok(old);
    }
    let runs_done = old
        .runs
        .iter()
        .filter(|r| RunState::load(&Plan::run_dir(dir, r)).is_ok_and(|s| s.status == super::state::Status::Done))
        .count();
    let mut grown = old;
    grown.runs.extend(new.runs.into_iter().filter(|r| added.contains(&r.seed)));
    grown.grown.push(Growth { seeds_before: grown.seeds.clone(), seeds_added: added.clone(), runs_done });
    grown.seeds.extend(added);
    Ok(grown)
}

/// Writes `text` to `path` crash-safely.
pub(crate) fn write_file(path: &Path, text: &[u8]) -> Result<()> {
    durable::write_atomic(path, text).with_context(|| format!("{}: cannot write", path.display()))
}

/// `cluster-rl sweep plan`.
///
/// # Errors
/// A bad sweep file or experiment (naming the file, configuration and key), a directory that
/// holds a different sweep, or I/O failures.
pub fn run(args: &PlanArgs) -> Result<ExitCode> {
    let sweep = SweepFile::load(&args.file)?;
    let dir = match (&args.dir, args.dry_run) {
        (Some(d), _) => absolute(d)?,
        (None, true) => absolute(Path::new("sweep-dry-run"))?,
        (None, false) => bail!("--dir: required (the sweep directory to create)"),
    };
    let (plan, expanded) = expand(&sweep, &dir)?;
    if args.dry_run {
        println!("sweep {}: {}", plan.name, plan.shape());
        println!("{:>5}  {:<12} {:>6}  configuration", "index", "run", "seed");
        for (i, r) in plan.runs.iter().enumerate() {
            let c = &plan.configurations[r.configuration];
            let label = if c.sets.is_empty() { "(base)".to_string() } else { c.sets.join(", ") };
            println!("{i:>5}  {:<12} {:>6}  {label}", r.id, r.seed);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let plan_path = dir.join(PLAN_FILE);
    let before = if plan_path.exists() { Some(Plan::load(&dir)?) } else { None };
    let plan = match before.clone() {
        Some(old) => reconcile(&dir, old, plan)?,
        None => plan,
    };
    let json = serde_json::to_string_pretty(&plan)? + "\n";
    std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("{}: cannot create", dir.display()))?;
    for e in &expanded {
        let run_dir = Plan::run_dir(&dir, &e.run);
        std::fs::create_dir_all(&run_dir).with_context(|| format!("{}: cannot create", run_dir.display()))?;
        let path = run_dir.join(EXPERIMENT_FILE);
        match std::fs::read_to_string(&path) {
            // Same plan: the experiment is the same unless the base file changed since.
            Ok(old) if old != e.experiment => bail!(
                "{}: differs from what {} resolves to now (was the base experiment edited?); plan into another --dir",
                path.display(),
                sweep.base.display()
            ),
            Ok(_) => {}
            Err(_) => write_file(&path, e.experiment.as_bytes())?,
        }
        if !run_dir.join(super::state::STATE_FILE).exists() {
            RunState::new(&e.run.id).save(&run_dir)?;
        }
    }
    write_file(&plan_path, json.as_bytes())?;
    if let Some(old) = before.filter(|old| old.runs.len() < plan.runs.len()) {
        let g = plan.grown.last().expect("a grown plan records its growth");
        println!(
            "sweep {} grew: seeds {:?} added, {} new runs (indices {}..={}); {} of the {} earlier runs were done{}",
            plan.name,
            g.seeds_added,
            plan.runs.len() - old.runs.len(),
            old.runs.len(),
            plan.runs.len() - 1,
            g.runs_done,
            old.runs.len(),
            if g.runs_done > 0 { ", so the report will flag the growth as optional stopping" } else { "" }
        );
    }
    println!(
        "planned sweep {} in {}: {}; run them with `cluster-rl sweep run {}`",
        plan.name,
        dir.display(),
        plan.shape(),
        dir.display(),
    );
    // The batch script, for `sbatch` by hand; a path Slurm cannot take only rules out Slurm.
    match super::slurm::write_script(&dir, &plan) {
        Ok(script) => println!("or on Slurm with `sbatch {}`", script.display()),
        Err(e) => eprintln!("cluster-rl: warning: no Slurm script: {e:#}"),
    }
    Ok(ExitCode::SUCCESS)
}
