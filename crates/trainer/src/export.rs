//! `cluster-rl export`: a checkpoint's greedy network as an export directory that needs no burn
//! to use — `policy.json` and `policy.safetensors` (read by the `policy` crate), `policy.onnx`
//! (any ONNX runtime), and the checkpoint's `experiment.toml` (so `cluster-rl eval` can rebuild
//! the scenario it was trained on).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cluster_env::{CompiledScenario, ObservationLayout};
use dqn::Agent;
use policy::{Export, Normalization, PolicyMeta, Source};

use crate::args::ExportArgs;
use crate::checkpoint::{self, EXPERIMENT_FILE};
use crate::config::{self, Experiment};

/// The ONNX file of an export.
pub const ONNX_FILE: &str = "policy.onnx";

/// The greedy network of `agent` and the normalisation it applies, in the plain form the
/// runtime and the exporters read.
///
/// # Errors
/// If the network cannot be read back from the device.
pub fn network_of(agent: &Agent) -> Result<(policy::Mlp, Option<Normalization>)> {
    let mlp = agent.online().to_host().context("reading the network")?;
    let normalization = agent.obs_stats().map(|s| Normalization {
        mean: s.mean.clone(),
        var: s.var.clone(),
        epsilon: dqn::NORM_EPSILON,
        clip: agent.config().obs_clip,
    });
    Ok((mlp, normalization))
}

/// The export of `agent`, trained on scenario `scenario` whose observation is `layout`.
///
/// # Errors
/// If the network cannot be read back, or the export is inconsistent.
pub fn export_of(agent: &Agent, scenario: &str, layout: &ObservationLayout, source: Source) -> Result<Export> {
    let (mlp, normalization) = network_of(agent)?;
    let meta = PolicyMeta::new(scenario, source, agent.network_config().clone(), normalization, layout.clone());
    let export = Export { meta, mlp };
    export.validate().context("export")?;
    Ok(export)
}

/// The burn-free runtime acting as `agent` does greedily on a cluster scenario: what
/// evaluation and validation run (the same arithmetic as the export, cloned per worker).
///
/// # Errors
/// As [`export_of`].
pub fn runtime_of(agent: &Agent, scenario: &str, layout: &ObservationLayout) -> Result<policy::Policy> {
    policy::Policy::from_export(export_of(agent, scenario, layout, Source::default())?).context("runtime")
}

/// Writes `export` into `out`: `policy.json`, `policy.safetensors`, `policy.onnx` and the
/// experiment file.
///
/// # Errors
/// If a file cannot be written.
pub fn write(export: &Export, experiment_toml: &str, out: &Path) -> Result<()> {
    export.write(out).context("export")?;
    let info = policy_onnx::ModelInfo {
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "Greedy Q-network of cluster-rl experiment {} (scenario {}): input `obs` [batch, {}] raw \
             observations, output `q_values` [batch, {}]; mask invalid nodes, then take the argmax.",
            export.meta.source.experiment.as_deref().unwrap_or("?"),
            export.meta.scenario,
            export.meta.network.obs_dim,
            export.meta.network.n_actions
        ),
        metadata: vec![("scenario".into(), export.meta.scenario.clone())],
    };
    policy_onnx::write(out.join(ONNX_FILE), &export.mlp, export.meta.normalization.as_ref(), &info)
        .context("policy.onnx")?;
    let path = out.join(EXPERIMENT_FILE);
    durable::write_atomic(&path, experiment_toml.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// `cluster-rl export`.
///
/// # Errors
/// A missing or broken checkpoint, or an unwritable output directory.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let dir = checkpoint::resolve(&args.checkpoint)?;
    let experiment_path = dir.join(EXPERIMENT_FILE);
    let exp: Experiment = config::load(&experiment_path, &[])?;
    // policy.json describes the observation of a cluster scenario; CartPole has none to describe.
    let scenario = exp.scenario("export")?;
    let compiled = CompiledScenario::new(scenario).with_context(|| format!("scenario {}", scenario.name))?;
    let agent = checkpoint::load_agent_for(&dir, &compiled)?;
    let mut source = Source {
        experiment: Some(exp.experiment.name.clone()),
        checkpoint: Some(dir.display().to_string()),
        global_step: Some(agent.global_step()),
        ..Source::default()
    };
    source.extra.insert("exported_by".into(), format!("cluster-rl {}", env!("CARGO_PKG_VERSION")).into());
    let export = export_of(&agent, &scenario.name, compiled.observation_layout(), source)?;
    let toml = std::fs::read_to_string(&experiment_path)
        .with_context(|| format!("{}: cannot read", experiment_path.display()))?;
    write(&export, &toml, &args.out)?;
    eprintln!(
        "exported {} ({}, step {}) to {}: policy.json, policy.safetensors, {ONNX_FILE}, {EXPERIMENT_FILE}",
        dir.display(),
        export.meta.network,
        agent.global_step(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
