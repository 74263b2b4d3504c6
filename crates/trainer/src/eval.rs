//! `cluster-rl eval` and `cluster-rl baselines`: paired evaluation on held-out seeds, the
//! printed table and the report files.

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use cluster_env::{EvalReport, PolicySpec, ScenarioConfig, evaluate};
use dqn::{Agent, DeviceSetting};

use crate::args::{BaselinesArgs, EvalArgs};
use crate::config::{self, Baselines, EnvSpec, Experiment};
use crate::policy::SharedAgent;
use crate::{checkpoint, report};

/// Loads the agent of checkpoint `dir` on the CPU and checks it fits `scenario`.
///
/// # Errors
/// An unreadable checkpoint, or an agent for another observation or action shape.
pub fn load_agent_for(dir: &std::path::Path, scenario: &ScenarioConfig) -> Result<Agent> {
    let agent = Agent::load_on(dir, Some(DeviceSetting::Cpu)).map_err(|e| anyhow!("checkpoint: {e}"))?;
    let env = cluster_env::ClusterEnv::new(scenario).map_err(|e| anyhow!("scenario: {e}"))?;
    let (d, a) = (gym::Env::observation_space(&env).dim(), gym::Env::action_space(&env).n);
    let net = agent.network_config();
    if (net.obs_dim, net.n_actions) != (d, a) {
        bail!(
            "{}: the agent expects {} observations and {} actions, scenario {} has {d} and {a}",
            dir.display(),
            net.obs_dim,
            net.n_actions,
            scenario.name
        );
    }
    Ok(agent)
}

/// A [`PolicySpec`] named `name` acting with the exported policy in `dir` (each episode gets its
/// own copy of the runtime), after checking it fits `scenario`.
///
/// # Errors
/// A missing or broken export, or one for another observation or action shape.
pub fn exported_spec(dir: &std::path::Path, scenario: &ScenarioConfig, name: &str) -> Result<PolicySpec> {
    let runtime = policy::Policy::load(dir).map_err(|e| anyhow!("export: {e}"))?;
    let env = cluster_env::ClusterEnv::new(scenario).map_err(|e| anyhow!("scenario: {e}"))?;
    let (d, a) = (gym::Env::observation_space(&env).dim(), gym::Env::action_space(&env).n);
    if (runtime.obs_dim(), runtime.n_actions()) != (d, a) {
        bail!(
            "{}: the policy expects {} observations and {} actions, scenario {} has {d} and {a}",
            dir.display(),
            runtime.obs_dim(),
            runtime.n_actions(),
            scenario.name
        );
    }
    Ok(crate::policy::exported_spec(runtime, name))
}

/// Baselines from the command line (`all`, `none`, `a,b`) or the experiment.
fn baseline_names(arg: Option<&str>, default: &Baselines) -> Result<Vec<String>> {
    match arg {
        Some("none") => Ok(vec![]),
        Some(s) => Baselines::parse(s).names().map_err(|e| anyhow!("--baselines: {e}")),
        None => default.names().map_err(|e| anyhow!("evaluation.baselines: {e}")),
    }
}

fn specs(names: &[String]) -> Result<Vec<PolicySpec>> {
    names.iter().map(|n| PolicySpec::baseline(n).map_err(|e| anyhow!("{e}"))).collect()
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
    let exp: Experiment = config::load(&dir.join(checkpoint::EXPERIMENT_FILE), &[])?;
    let episodes = args.episodes.unwrap_or(exp.evaluation.episodes);
    if episodes == 0 {
        bail!("--episodes: must be at least 1");
    }
    if exp.env == EnvSpec::CartPole {
        return eval_cartpole(&dir, &exp, episodes);
    }
    let scenario = exp.scenario("evaluation")?;
    let names = baseline_names(args.baselines.as_deref(), &exp.evaluation.baselines)?;
    // An export directory (policy.json) runs on the burn-free runtime; a checkpoint on burn.
    let trained = if dir.join(crate::export::META_FILE).is_file() {
        exported_spec(&dir, scenario, "dqn")?
    } else {
        SharedAgent::spec(&SharedAgent::new(load_agent_for(&dir, scenario)?), "dqn")
    };
    let mut policies = vec![trained];
    policies.extend(specs(&names)?);
    let reference = [exp.evaluation.reference.as_str(), "least-loaded"]
        .into_iter()
        .find(|r| *r != "dqn" && names.iter().any(|n| n == r));
    let seeds: Vec<u64> = (exp.evaluation.seed_offset..exp.evaluation.seed_offset + episodes).collect();
    eprintln!("evaluating {} on {} held-out seeds from {}", dir.display(), seeds.len(), seeds[0]);
    let report = evaluate(scenario, &policies, &seeds, reference).map_err(|e| anyhow!("{e}"))?;
    let state = checkpoint::load_state(&dir).ok();
    // The run the checkpoint came from, when it sits beside its `latest` pointer (`best/`).
    let run = dir
        .parent()
        .map(|p| p.join(checkpoint::LATEST))
        .filter(|p| p.is_file())
        .and_then(|p| checkpoint::resolve(&p).ok())
        .and_then(|d| checkpoint::load_state(&d).ok());
    let source = Source {
        experiment: exp.experiment.name.clone(),
        policy: dir.clone(),
        global_step: state.as_ref().map(|s| s.global_step),
        train_seconds: state.and_then(|s| s.train_seconds),
        run_steps: run.as_ref().map(|s| s.global_step),
        run_seconds: run.and_then(|s| s.train_seconds),
    };
    report::write_source(&source, &args.out)?;
    finish(&report, &args.out)
}

/// What an evaluation evaluated: written beside the report as `source.json`, read back by
/// `cluster-rl summary`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The experiment's name.
    pub experiment: String,
    /// The checkpoint or export directory evaluated.
    pub policy: std::path::PathBuf,
    /// Environment steps the policy was trained for, when known.
    pub global_step: Option<u64>,
    /// Wall-clock training seconds, when the checkpoint recorded them.
    pub train_seconds: Option<f64>,
    /// Environment steps of the whole run, when its `latest` checkpoint is beside this one.
    #[serde(default)]
    pub run_steps: Option<u64>,
    /// Wall-clock seconds of the whole run, likewise.
    #[serde(default)]
    pub run_seconds: Option<f64>,
}

/// A CartPole checkpoint: the greedy mean return over `episodes` (the first seeded with the
/// experiment's `evaluation.seed_offset`), with its 95% CI. There are no baselines.
fn eval_cartpole(dir: &std::path::Path, exp: &Experiment, episodes: u64) -> Result<ExitCode> {
    let mut agent = Agent::load_on(dir, Some(DeviceSetting::Cpu)).map_err(|e| anyhow!("checkpoint: {e}"))?;
    let seed = exp.evaluation.seed_offset;
    let report = dqn::evaluate(&mut agent, &mut gym::CartPole::new(), episodes as usize, seed)
        .map_err(|e| anyhow!("evaluation: {e}"))?;
    let estimate = cluster_env::Estimate::of(&report.returns);
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
    let scenario =
        config::scenario(&args.scenario, &args.sets).map_err(|e| anyhow!("--scenario {}: {e:#}", args.scenario))?;
    if args.baselines == "none" {
        bail!("--baselines: none leaves nothing to evaluate");
    }
    let names = baseline_names(Some(&args.baselines), &Baselines::Keyword("all".into()))?;
    if args.episodes == 0 {
        bail!("--episodes: must be at least 1");
    }
    if args.seed_offset.checked_add(args.episodes).is_none_or(|end| end > cluster_env::DERIVED_SEED_BIT) {
        bail!("--seed-offset: the seeds must stay below 2^63");
    }
    let reference = names.iter().any(|n| n == "least-loaded").then_some("least-loaded");
    let seeds: Vec<u64> = (args.seed_offset..args.seed_offset + args.episodes).collect();
    let report = evaluate(&scenario, &specs(&names)?, &seeds, reference).map_err(|e| anyhow!("{e}"))?;
    finish(&report, &args.out)
}
