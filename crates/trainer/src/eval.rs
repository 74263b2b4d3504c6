//! `cluster-rl eval` and `cluster-rl baselines`: paired evaluation on held-out seeds, the
//! printed table and the report files.

use std::ops::Range;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cluster_env::{CompiledScenario, EvalReport, SchedulerSpec, evaluate_compiled};

use crate::args::{BaselinesArgs, EvalArgs};
use crate::config::{self, Baselines, EnvSpec, Experiment};
use crate::report::{self, Source};
use crate::seeds::SeedRanges;
use crate::{checkpoint, export, scheduler, task};

/// The name of the learned policy's row in the report (and its `source.json`).
const LEARNED: &str = "dqn";

/// The learned policy in `dir` — an export directory (`policy.json`) or a checkpoint — as the
/// burn-free runtime, after checking it fits `scenario`.
///
/// # Errors
/// A missing or broken export or checkpoint, or one for another observation or action shape.
fn learned_policy(dir: &Path, scenario: &CompiledScenario) -> Result<policy::Policy> {
    if !dir.join(policy::META_FILE).is_file() {
        let agent = checkpoint::load_agent(dir)?;
        let layout = scenario.observation_layout();
        if let Some(rows) = agent.node_rows() {
            // A node-scoring checkpoint serves any node count whose rows have its widths.
            if (rows.node_width, rows.task_width) != (layout.node_width(), layout.task_width()) {
                bail!(
                    "{}: the node-scoring agent reads node rows of {} and a task row of {} values, scenario {} has \
                     {} and {}",
                    dir.display(),
                    rows.node_width,
                    rows.task_width,
                    scenario.scenario().name,
                    layout.node_width(),
                    layout.task_width()
                );
            }
            // The runtime's own record keeps the trained node count; the episodes are encoded
            // by the scenario (the scheduler hands the policy each episode's real nodes).
            let trained = layout.with_n_nodes(agent.network_config().n_actions);
            return export::runtime_of(&agent, &scenario.scenario().name, &trained);
        }
        let agent = checkpoint::load_agent_for(dir, scenario)?;
        return export::runtime_of(&agent, &scenario.scenario().name, layout);
    }
    let runtime = policy::Policy::load(dir).with_context(|| format!("{}: export", dir.display()))?;
    let layout = scenario.observation_layout();
    if runtime.any_node_count() {
        // A node-scoring policy serves any node count: the rows must mean the same.
        let trained = &runtime.meta().observation;
        let same_rows = std::mem::discriminant(trained) == std::mem::discriminant(layout)
            && trained.resources() == layout.resources()
            && (trained.node_width(), trained.task_width()) == (layout.node_width(), layout.task_width());
        if !same_rows {
            bail!(
                "{}: the node-scoring policy reads {} node rows of resources {:?}, scenario {} has {} rows of {:?}",
                dir.display(),
                trained.kind_name(),
                trained.resources(),
                scenario.scenario().name,
                layout.kind_name(),
                layout.resources()
            );
        }
        return Ok(runtime);
    }
    let (d, a) = (layout.obs_dim(), scenario.n_nodes());
    if (runtime.obs_dim(), runtime.n_actions()) != (d, a) {
        bail!(
            "{}: the policy expects {} observations and {} actions, scenario {} has {d} and {a}",
            dir.display(),
            runtime.obs_dim(),
            runtime.n_actions(),
            scenario.scenario().name
        );
    }
    Ok(runtime)
}

/// Baselines from the command line (`all`, `none`, `a,b`) or the experiment.
fn baseline_names(arg: Option<&str>, default: &Baselines) -> Result<Vec<String>> {
    match arg {
        Some("none") => Ok(vec![]),
        Some(s) => Baselines::parse(s).names().map_err(anyhow::Error::msg).context("--baselines"),
        None => default.names().map_err(anyhow::Error::msg).context("evaluation.baselines"),
    }
}

fn specs(names: &[String]) -> Result<Vec<SchedulerSpec>> {
    names.iter().map(|n| SchedulerSpec::baseline(n).context("baseline")).collect()
}

/// For an openb scenario: which windows were replayed, and the no-wait lower bound (every task
/// starts on arrival: JCT = runtime), beside which the table's JCTs read as queueing delay.
fn print_openb(compiled: &CompiledScenario, seeds: &[u64]) {
    let Some(replay) = compiled.openb() else { return };
    let bound = replay.no_wait_bound(seeds);
    let stats = replay.stats();
    println!(
        "openb: {} windows of {} tasks from the {} split ({} distinct), {} nodes; {} of {} pods replayable \
         ({} never scheduled, {} unplaceable, {} censored kept, {} dropped)",
        seeds.len(),
        replay.window_len(),
        replay.split(),
        replay.n_windows(),
        compiled.n_nodes(),
        stats.tasks,
        stats.pods,
        stats.never_scheduled,
        stats.unplaceable,
        stats.censored - stats.censored_dropped,
        stats.censored_dropped,
    );
    println!(
        "no-wait lower bound: mean JCT {:.1}, weighted mean JCT {:.1} (mean runtime; slowdown 1)",
        bound.mean_jct, bound.weighted_mean_jct
    );
}

fn finish(report: &EvalReport, out: &std::path::Path) -> Result<ExitCode> {
    print!("{}", report.table());
    report::write_all(report, out)?;
    println!("wrote {}/report.{{json,csv,md,svg}}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `cluster-rl eval`.
///
/// # Errors
/// A missing or broken checkpoint, bad arguments, or a failed evaluation.
pub fn run_eval(args: &EvalArgs) -> Result<ExitCode> {
    let dir = checkpoint::resolve(&args.checkpoint)?;
    // A trace scenario replays the checkpoint's own copy of its trace, checked.
    let exp: Experiment = config::load_saved(&dir.join(checkpoint::EXPERIMENT_FILE))?.experiment;
    // `--episodes` moves the end of the test range: checked against training and validation
    // like `evaluation.episodes` was at load (an error names `--episodes`).
    let test = exp.seed_ranges(args.episodes)?.test();
    if exp.env == EnvSpec::CartPole {
        return eval_cartpole(&dir, test);
    }
    // An openb scenario is evaluated on its held-out test split.
    let scenario = &match &args.scenario {
        // Transfer: another preset, whose observation rows must mean what the policy's do
        // (checked by `learned_policy`).
        // The observation is how the policy reads a cluster, so the preset is encoded the way
        // the experiment's scenario was (the constants still come from the preset's shapes).
        Some(name) => config::test_split(cluster_env::ScenarioConfig {
            observation: exp.test_scenario("evaluation")?.observation,
            ..config::scenario(name, &args.sets).with_context(|| format!("--scenario {name}"))?
        }),
        None => exp.test_scenario("evaluation")?,
    };
    let compiled = CompiledScenario::new(scenario).with_context(|| format!("scenario {}", scenario.name))?;
    let names = baseline_names(args.baselines.as_deref(), &exp.evaluation.baselines)?;
    // A checkpoint or an export: both run on the burn-free runtime, what ships.
    let mut runtime = learned_policy(&dir, &compiled)?;
    if let Some(filter) = args.action_filter {
        runtime = runtime.with_action_filter(filter).context("--action-filter")?;
    }
    let filter = runtime.meta().action_filter;
    let (trained, _) = scheduler::learned_spec(runtime, LEARNED, compiled.observation_layout());
    let mut policies = vec![trained];
    policies.extend(specs(&names)?);
    let reference = [exp.evaluation.reference.as_str(), "least-loaded"]
        .into_iter()
        .find(|r| *r != LEARNED && names.iter().any(|n| n == r));
    let seeds: Vec<u64> = test.collect();
    eprintln!("evaluating {} on {} held-out seeds from {}", dir.display(), seeds.len(), seeds[0]);
    if !args.sets.is_empty() {
        eprintln!("scenario {} with --set {}", scenario.name, args.sets.join(" --set "));
    }
    if !filter.is_none() {
        eprintln!(
            "{LEARNED} chooses among the nodes where the task fits now, when any (action filter {})",
            filter.name()
        );
    }
    let report = evaluate_compiled(&compiled, &policies, &seeds, reference).context("evaluation")?;
    print_openb(&compiled, &seeds);
    let state = checkpoint::load_state(&dir).ok();
    // The run the checkpoint came from, when it sits beside its `latest` pointer (`best/`).
    let run = dir
        .parent()
        .map(|p| p.join(checkpoint::LATEST))
        .filter(|p| p.is_file())
        .and_then(|p| checkpoint::resolve(&p).ok())
        .and_then(|d| checkpoint::load_state(&d).ok());
    let source = Source {
        learned_policy: Some(LEARNED.into()),
        experiment: exp.experiment.name.clone(),
        policy: dir.clone(),
        global_step: state.as_ref().map(|s| s.global_step),
        train_seconds: state.and_then(|s| s.train_seconds),
        run_steps: run.as_ref().map(|s| s.global_step),
        run_seconds: run.and_then(|s| s.train_seconds),
        scenario: args.scenario.clone(),
        scenario_sets: args.sets.clone(),
        action_filter: (!filter.is_none()).then(|| filter.name().to_string()),
    };
    report::write_source(&source, &args.out)?;
    finish(&report, &args.out)
}

/// A CartPole checkpoint: the greedy mean return over the `test` episodes (the first seeded with
/// the experiment's `evaluation.seed_offset`), with its 95% CI. There are no baselines.
fn eval_cartpole(dir: &Path, test: Range<u64>) -> Result<ExitCode> {
    let agent = checkpoint::load_agent(dir)?;
    let (seed, episodes) = (test.start, test.end - test.start);
    let returns = task::cartpole_returns(&agent, episodes, seed)?;
    let estimate = cluster_env::Estimate::of(&returns);
    println!(
        "dqn greedy mean return {:.1} ± {:.1} (95% CI) over {episodes} CartPole-v1 episodes from seed {seed}",
        estimate.mean, estimate.ci95
    );
    Ok(ExitCode::SUCCESS)
}

/// `cluster-rl baselines`.
///
/// # Errors
/// An unknown scenario or baseline, a bad override, or a failed evaluation.
pub fn run_baselines(args: &BaselinesArgs) -> Result<ExitCode> {
    // Held-out seeds, and for an openb scenario its held-out test split.
    let scenario = config::test_split(
        config::scenario(&args.scenario, &args.sets).with_context(|| format!("--scenario {}", args.scenario))?,
    );
    if args.baselines == "none" {
        bail!("--baselines: none leaves nothing to evaluate");
    }
    let names = baseline_names(Some(&args.baselines), &Baselines::Keyword("all".into()))?;
    let test = SeedRanges::held_out("--seed-offset", args.seed_offset, "--episodes", args.episodes)?.test();
    let reference = names.iter().any(|n| n == "least-loaded").then_some("least-loaded");
    let seeds: Vec<u64> = test.collect();
    let compiled: Arc<CompiledScenario> = CompiledScenario::new(&scenario).context("scenario")?;
    let report = evaluate_compiled(&compiled, &specs(&names)?, &seeds, reference).context("evaluation")?;
    print_openb(&compiled, &seeds);
    // No learned policy here: a source.json of an earlier `eval --out` into this directory
    // must not stay beside these reports (removed first, so a crash cannot pair them).
    report::remove_source(&args.out)?;
    finish(&report, &args.out)
}
