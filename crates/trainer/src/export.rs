//! `cluster-rl export`: a checkpoint's greedy network as an export directory that needs no burn
//! to use — `policy.json` and `policy.safetensors` (read by the `policy` crate), `policy.onnx`
//! (any ONNX runtime), and the checkpoint's `experiment.toml` (so `cluster-rl eval` can rebuild
//! the scenario it was trained on).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use cluster_env::ClusterEnv;
use dqn::{Agent, HostLinear};
use policy::ndarray::{Array1, Array2};
use policy::{Dense, Export, Mlp, NetworkShape, Normalization, ObservationLayout, PolicyMeta, Source};

use crate::args::ExportArgs;
use crate::checkpoint::{self, EXPERIMENT_FILE};
use crate::config::{self, Experiment};
use crate::eval::load_agent_for;

/// The ONNX file of an export.
pub const ONNX_FILE: &str = "policy.onnx";
/// The metadata file of an export: its presence tells an export from a checkpoint.
pub const META_FILE: &str = "policy.json";

/// The ε the agent adds to the variance before normalising (`dqn::RunningMeanStd`); the
/// round-trip test checks the exported runtime normalises to the same bits.
const NORM_EPSILON: f64 = 1e-8;

fn dense(l: &HostLinear) -> Result<Dense> {
    let weight = Array2::from_shape_vec((l.d_in, l.d_out), l.weight.clone())
        .map_err(|e| anyhow!("weights of {}×{} layer: {e}", l.d_in, l.d_out))?;
    Ok(Dense { weight, bias: Array1::from_vec(l.bias.clone()) })
}

fn activation(a: dqn::Activation) -> policy::Activation {
    match a {
        dqn::Activation::Relu => policy::Activation::Relu,
        dqn::Activation::Tanh => policy::Activation::Tanh,
        dqn::Activation::LeakyRelu => policy::Activation::LeakyRelu,
        dqn::Activation::Gelu => policy::Activation::Gelu,
        dqn::Activation::Silu => policy::Activation::Silu,
    }
}

/// The export of `agent`, trained in experiment `exp` and read from checkpoint `dir`.
///
/// # Errors
/// If the network cannot be read back, or the export is inconsistent.
pub fn export_of(agent: &Agent, exp: &Experiment, dir: &Path) -> Result<Export> {
    // policy.json describes the observation of a cluster scenario; CartPole has none to describe.
    let scenario = exp.scenario("export")?;
    let host = agent.online().to_host().map_err(|e| anyhow!("reading the network: {e}"))?;
    let mlp = Mlp {
        hidden: host.hidden.iter().map(dense).collect::<Result<_>>()?,
        head: dense(&host.head)?,
        value: host.value.as_ref().map(dense).transpose()?,
        activation: activation(host.activation),
    };
    let net = agent.network_config();
    let network = NetworkShape {
        obs_dim: net.obs_dim,
        n_actions: net.n_actions,
        hidden_sizes: net.hidden_sizes.clone(),
        activation: activation(net.activation),
        dueling: net.dueling,
    };
    let normalization = agent.obs_stats().map(|s| Normalization {
        mean: s.mean.clone(),
        var: s.var.clone(),
        epsilon: NORM_EPSILON,
        clip: agent.config().obs_clip,
    });
    let env = ClusterEnv::new(scenario).map_err(|e| anyhow!("scenario: {e}"))?;
    // Both sides serialise the layout identically (tagged by `kind`), so JSON converts it.
    let observation: ObservationLayout = serde_json::to_value(env.observation_constants())
        .and_then(serde_json::from_value)
        .context("converting the observation layout")?;
    let mut source = Source {
        experiment: Some(exp.experiment.name.clone()),
        checkpoint: Some(dir.display().to_string()),
        global_step: Some(agent.global_step()),
        ..Source::default()
    };
    source.extra.insert("exported_by".into(), format!("cluster-rl {}", env!("CARGO_PKG_VERSION")).into());
    let meta = PolicyMeta::new(scenario.name.clone(), source, network, normalization, observation);
    let export = Export { meta, mlp };
    export.validate().map_err(|e| anyhow!("{e}"))?;
    Ok(export)
}

/// Writes `export` into `out`: `policy.json`, `policy.safetensors`, `policy.onnx` and the
/// experiment file.
///
/// # Errors
/// If a file cannot be written.
pub fn write(export: &Export, experiment_toml: &str, out: &Path) -> Result<()> {
    export.write(out).map_err(|e| anyhow!("{e}"))?;
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
        .map_err(|e| anyhow!("{e}"))?;
    let path = out.join(EXPERIMENT_FILE);
    std::fs::write(&path, experiment_toml).with_context(|| format!("{}: cannot write", path.display()))
}

/// `cluster-rl export`.
///
/// # Errors
/// A missing or broken checkpoint, or an unwritable output directory.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let dir = checkpoint::resolve(&args.checkpoint)?;
    let experiment_path = dir.join(EXPERIMENT_FILE);
    let exp: Experiment = config::load(&experiment_path, &[])?;
    let agent = load_agent_for(&dir, exp.scenario("export")?)?;
    let export = export_of(&agent, &exp, &dir)?;
    let toml = std::fs::read_to_string(&experiment_path)
        .with_context(|| format!("{}: cannot read", experiment_path.display()))?;
    let out: PathBuf = args.out.clone();
    write(&export, &toml, &out)?;
    eprintln!(
        "exported {} ({}, step {}) to {}: policy.json, policy.safetensors, {ONNX_FILE}, {EXPERIMENT_FILE}",
        dir.display(),
        export.meta.network,
        agent.global_step(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
