//! `cluster-rl export`: a checkpoint's greedy network as an export directory that needs no burn
//! to use — `policy.json` and `policy.safetensors` (read by the `policy` crate), `policy.onnx`
//! (any ONNX runtime), and the checkpoint's `experiment.toml` (so `cluster-rl eval` can rebuild
//! the scenario it was trained on).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cluster_env::{CompiledScenario, ObservationLayout};
use dqn::Agent;
use policy::{Export, Normalization, PolicyMeta, Source};

use crate::args::ExportArgs;
use crate::checkpoint::{self, EXPERIMENT_FILE};
use crate::config::{self, Experiment, SavedExperiment};

/// The ONNX file of an export.
pub const ONNX_FILE: &str = policy::COMPANION_FILES[0];

/// The greedy network of `agent` and the normalisation it applies, in the plain form the
/// runtime and the exporters read.
///
/// # Errors
/// If the network cannot be read back from the device.
pub fn network_of(agent: &Agent) -> Result<(policy::Network, Option<Normalization>)> {
    let network = agent.online().to_host().context("reading the network")?;
    let normalization = agent.obs_stats().map(|s| Normalization {
        mean: s.mean.clone(),
        var: s.var.clone(),
        epsilon: dqn::NORM_EPSILON,
        clip: agent.config().obs_clip,
    });
    Ok((network, normalization))
}

/// The export of `agent`, trained on scenario `scenario` whose observation is `layout`.
///
/// # Errors
/// If the network cannot be read back, or the export is inconsistent.
pub fn export_of(agent: &Agent, scenario: &str, layout: &ObservationLayout, source: Source) -> Result<Export> {
    let (network, normalization) = network_of(agent)?;
    let mut meta = PolicyMeta::new(scenario, source, agent.network_config().clone(), normalization, layout.clone());
    // The runtime chooses among the nodes the agent was trained to choose among.
    meta.action_filter = agent.config().action_filter;
    let export = Export { meta, network };
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

/// Writes `export` as directory `out`: `policy.json`, `policy.safetensors`, `policy.onnx`, the
/// experiment file and its trace copy (if any), built complete beside `out` and then put in its
/// place in one step ([`policy::Export::write_with`]), so a reader never pairs files of two
/// exports.
///
/// # Errors
/// If a file cannot be written, or `out` holds files that are not an export's.
pub fn write(export: &Export, experiment: &SavedExperiment, out: &Path) -> Result<()> {
    export
        .write_with(out, |dir| write_companions(export, experiment, dir))
        .with_context(|| format!("export to {}", out.display()))
}

/// Writes `policy.onnx`, the experiment file and its trace copy into `out`, the export
/// directory being built.
fn write_companions(export: &Export, experiment: &SavedExperiment, out: &Path) -> Result<()> {
    let mut doc_string = format!(
        "Greedy Q-network of cluster-rl experiment {} (scenario {}): input `obs` [batch, {}] raw observations, \
         output `q_values` [batch, {}]; mask invalid nodes, then take the argmax.",
        export.meta.source.experiment.as_deref().unwrap_or("?"),
        export.meta.scenario,
        export.meta.network.obs_dim,
        export.meta.network.n_actions
    );
    let mut metadata = vec![("scenario".to_string(), export.meta.scenario.clone())];
    // Only a filtered export says more, so the others' policy.onnx keep their bytes.
    if let Some(column) = export.meta.action_filter.column(&export.meta.observation).map_err(anyhow::Error::msg)? {
        let _ = write!(
            doc_string,
            " Action filter {}: before the argmax, keep only the valid nodes whose observation row has 1 at \
             column {column} (of {} per node; the task fits there now), when any does.",
            export.meta.action_filter.name(),
            export.meta.observation.node_width()
        );
        metadata.push(("action_filter".into(), export.meta.action_filter.name().into()));
    }
    let info = policy_onnx::ModelInfo { producer_version: env!("CARGO_PKG_VERSION").into(), doc_string, metadata };
    policy_onnx::write(out.join(ONNX_FILE), &export.network, export.meta.normalization.as_ref(), &info)
        .context("policy.onnx")?;
    let path = out.join(EXPERIMENT_FILE);
    durable::write_atomic(&path, experiment.toml.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    if let Some(trace) = &experiment.trace {
        let path = out.join(&trace.name);
        durable::write_atomic(&path, &trace.bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// `cluster-rl export`.
///
/// # Errors
/// A missing or broken checkpoint, or an unwritable output directory.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let dir = checkpoint::resolve(&args.checkpoint)?;
    let experiment_path = dir.join(EXPERIMENT_FILE);
    let loaded = config::load_saved(&experiment_path)?;
    let exp: Experiment = loaded.experiment;
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
    let mut export = export_of(&agent, &scenario.name, compiled.observation_layout(), source)?;
    if let Some(filter) = args.action_filter {
        export.meta.action_filter = filter;
        export.validate().context("--action-filter")?;
    }
    let toml = std::fs::read_to_string(&experiment_path)
        .with_context(|| format!("{}: cannot read", experiment_path.display()))?;
    // The checkpoint's experiment as it is: it names its trace copy, which goes along.
    write(&export, &SavedExperiment { toml, trace: loaded.trace }, &args.out)?;
    let filter = match export.meta.action_filter {
        policy::ActionFilter::None => String::new(),
        f => format!(", action filter {}", f.name()),
    };
    eprintln!(
        "exported {} ({}, {} observation{filter}, step {}) to {}: policy.json, policy.safetensors, {ONNX_FILE}, \
         {EXPERIMENT_FILE}",
        dir.display(),
        export.meta.network,
        export.meta.observation.kind_name(),
        agent.global_step(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    const SHIPPED_EXPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../checkpoints/shipped-park-lb-export");

    #[test]
    fn the_companion_files_are_the_ones_the_policy_crate_keeps() {
        assert_eq!(policy::COMPANION_FILES, [ONNX_FILE, EXPERIMENT_FILE]);
    }

    /// Issue 13: an export directory was written file by file, so a reader racing a re-export
    /// could pair new weights with the old `policy.json`. Two exports of one network shape
    /// (steps 1 and 2, head biases 1 apart) are written alternately for two seconds while
    /// another thread loads the directory with `policy::Policy::load`: every load's Q-values
    /// must be those of the step its `policy.json` names, and no load may fail.
    #[test]
    fn a_reader_racing_re_exports_never_sees_a_mixed_pair() {
        let dir = std::env::temp_dir().join(format!("cluster-rl-export-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("export");
        let toml = std::fs::read_to_string(Path::new(SHIPPED_EXPORT).join(EXPERIMENT_FILE)).unwrap();
        let mut exports = [Export::read(SHIPPED_EXPORT).unwrap(), Export::read(SHIPPED_EXPORT).unwrap()];
        for (k, e) in exports.iter_mut().enumerate() {
            e.meta.source.global_step = Some(k as u64 + 1);
            let policy::Network::Mlp(mlp) = &mut e.network else { unreachable!("the shipped export is an MLP") };
            mlp.head.bias.iter_mut().for_each(|b| *b += k as f32);
        }
        let obs = [0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0, 100.0];
        let expected: Vec<Vec<f32>> = exports
            .iter()
            .map(|e| policy::Policy::from_export(e.clone()).unwrap().q_values(&obs).unwrap().to_vec())
            .collect();
        let toml = SavedExperiment { toml, trace: None };
        write(&exports[0], &toml, &out).unwrap();
        let done = AtomicBool::new(false);
        let (loads, seen) = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let (mut loads, mut seen) = (0, [false; 2]);
                while !done.load(Ordering::Relaxed) {
                    let mut p = policy::Policy::load(&out).unwrap_or_else(|e| panic!("load {loads}: {e}"));
                    let step = p.meta().source.global_step.unwrap();
                    let k = step as usize - 1;
                    assert_eq!(
                        p.q_values(&obs).unwrap(),
                        expected[k],
                        "load {loads}: policy.json of step {step} with other weights"
                    );
                    seen[k] = true;
                    loads += 1;
                }
                (loads, seen)
            });
            let t0 = Instant::now();
            let mut k = 1;
            while t0.elapsed() < Duration::from_secs(2) {
                write(&exports[k], &toml, &out).unwrap();
                k = 1 - k;
            }
            done.store(true, Ordering::Relaxed);
            reader.join().unwrap()
        });
        assert!(loads > 10 && seen == [true, true], "the reader raced too little: {loads} loads, saw {seen:?}");
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["export"], "no temporary is left beside the export");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_export_never_replaces_a_directory_holding_other_files() {
        let dir = std::env::temp_dir().join(format!("cluster-rl-export-refuse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let export = Export::read(SHIPPED_EXPORT).unwrap();
        let saved = SavedExperiment { toml: String::new(), trace: None };
        let e = format!("{:#}", write(&export, &saved, &dir).unwrap_err());
        assert!(e.contains("holds notes.txt, which is not part of an export"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
