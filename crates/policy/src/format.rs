//! The export format: `policy.json` ([`PolicyMeta`]) beside `policy.safetensors` (the weights),
//! read and written as one [`Export`].
//!
//! `policy.safetensors` holds, all `F32` and row-major:
//!
//! | tensor | shape |
//! |---|---|
//! | `hidden.{i}.weight` | `[in, out]` of hidden layer i |
//! | `hidden.{i}.bias` | `[out]` |
//! | `head.weight`, `head.bias` | `[last hidden, n_actions]`, `[n_actions]` |
//! | `value.weight`, `value.bias` | `[last hidden, 1]`, `[1]` (dueling only) |
//!
//! and `{"format": "cluster-rl-policy"}` as its `__metadata__`. A layer computes `y = x·W + b`
//! (burn's layout, the transpose of PyTorch's `Linear.weight`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};
use crate::network::{Activation, Dense, Mlp, Normalization};

/// `format` of `policy.json` and of the safetensors `__metadata__`.
pub const FORMAT: &str = "cluster-rl-policy";
/// The only `format_version` this runtime reads (and the one it writes).
pub const FORMAT_VERSION: u32 = 1;
/// `weight_layout` of `policy.json`: how to read the weight tensors.
pub const WEIGHT_LAYOUT: &str = "[in, out]; y = x W + b";
/// What an action means, as [`PolicyMeta::new`] records it.
pub const ACTION_MEANING: &str = "index of the node the task is placed on (the node's id in the cluster state)";
/// The metadata file of an export.
pub const META_FILE: &str = "policy.json";
/// The weights file of an export.
pub const WEIGHTS_FILE: &str = "policy.safetensors";
/// What errors about an export that was built in memory (not read from a file) name as its path.
pub const IN_MEMORY: &str = "<in-memory export>";

/// `policy.json`: what the network is, what it was trained on, and how to build its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Scenario the policy was trained on (a preset name or the experiment's scenario name).
    pub scenario: String,
    /// Where the weights came from.
    #[serde(default)]
    pub source: Source,
    /// The network's shape.
    pub network: NetworkShape,
    /// Observation normalisation applied before the network (none: raw observations).
    pub normalization: Option<Normalization>,
    /// How an observation is laid out and normalised from a cluster state.
    pub observation: ObservationLayout,
    /// What the network's outputs index.
    pub actions: ActionMeaning,
    /// Always [`WEIGHT_LAYOUT`]: says how `policy.safetensors` is read.
    pub weight_layout: String,
}

/// Provenance of an export: free-form, for people (the runtime reads none of it).
///
/// The common fields are typed; any other key is kept in `extra`, so a newer exporter may add
/// provenance without breaking older runtimes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Experiment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Checkpoint directory the weights were read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Environment steps of training behind the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_step: Option<u64>,
    /// Any other provenance (tool version, commit, date, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The network's shape: the same fields as the trainer's `QNetworkConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkShape {
    /// Length of one observation (input width).
    pub obs_dim: usize,
    /// Number of actions (output width).
    pub n_actions: usize,
    /// Widths of the hidden layers, input to output.
    pub hidden_sizes: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dueling head (a value stream beside the advantage stream).
    pub dueling: bool,
}

impl fmt::Display for NetworkShape {
    /// `11-128-128-10 relu` (plus ` dueling`), as the trainer prints a network.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.obs_dim)?;
        for h in &self.hidden_sizes {
            write!(f, "-{h}")?;
        }
        write!(f, "-{} {}{}", self.n_actions, self.activation.name(), if self.dueling { " dueling" } else { "" })
    }
}

/// What the network's outputs mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMeaning {
    /// Number of actions (= `network.n_actions` = the number of nodes).
    pub n: usize,
    /// In words ([`ACTION_MEANING`]).
    pub meaning: String,
}

/// How the observation is built from a cluster state: the layout and the scenario constants it
/// divides by. Serialised exactly as cluster-env's `ObservationConstants` (tagged by `kind`),
/// so the trainer converts one into the other through JSON.
///
/// See [`ObservationLayout::encode`] for the features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObservationLayout {
    /// Normalised features: per node `R` free fractions, outstanding time, tasks, speed, up;
    /// then the task's `R` demand fractions, size and priority. Length `N·(R+4) + R + 2`.
    Full {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names, in the order of every per-resource vector.
        resources: Vec<String>,
        /// Outstanding time is divided by this (mean work / mean node speed).
        time_scale: f64,
        /// Node speeds are divided by this (the fastest node's speed).
        max_speed: f64,
        /// Task demands are divided by this (each resource's largest node capacity).
        max_capacity: Vec<f64>,
        /// Task sizes are divided by this (the workload's mean work).
        mean_work: f64,
        /// Task priorities are divided by this (the largest priority weight).
        max_weight: f64,
        /// Tasks on a node are divided by this (10).
        tasks_scale: f64,
    },
    /// Park's raw layout: per node queued work + remaining time of running work, then the task
    /// size, each clipped at `high`. Length `N + 1`.
    Park {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names (the mask still checks that the task's demands fit).
        resources: Vec<String>,
        /// Clip value of every feature (Park: 500000).
        high: f64,
    },
}

impl ObservationLayout {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        match self {
            ObservationLayout::Full { n_nodes, .. } | ObservationLayout::Park { n_nodes, .. } => *n_nodes,
        }
    }

    /// Resource names.
    pub fn resources(&self) -> &[String] {
        match self {
            ObservationLayout::Full { resources, .. } | ObservationLayout::Park { resources, .. } => resources,
        }
    }

    /// Length of the observation: `N·(R+4) + R + 2` (full) or `N + 1` (park).
    pub fn obs_dim(&self) -> usize {
        let (n, r) = (self.n_nodes(), self.resources().len());
        match self {
            ObservationLayout::Full { .. } => n * (r + 4) + r + 2,
            ObservationLayout::Park { .. } => n + 1,
        }
    }

    /// Checks the constants: at least one node and one resource, and every divisor finite and
    /// positive.
    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, message: String| meta_err(path, &format!("observation.{field}"), message);
        if self.n_nodes() == 0 {
            return Err(bad("n_nodes", "is 0, expected at least one node".into()));
        }
        if self.resources().is_empty() {
            return Err(bad("resources", "is empty, expected at least one resource name".into()));
        }
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, format!("is {v}, expected a finite number > 0")))
            }
        };
        match self {
            ObservationLayout::Full {
                resources,
                time_scale,
                max_speed,
                max_capacity,
                mean_work,
                max_weight,
                tasks_scale,
                ..
            } => {
                positive("time_scale", *time_scale)?;
                positive("max_speed", *max_speed)?;
                positive("mean_work", *mean_work)?;
                positive("max_weight", *max_weight)?;
                positive("tasks_scale", *tasks_scale)?;
                if max_capacity.len() != resources.len() {
                    return Err(bad(
                        "max_capacity",
                        format!("has {} values, expected {} (one per resource)", max_capacity.len(), resources.len()),
                    ));
                }
                for (k, &c) in max_capacity.iter().enumerate() {
                    positive(&format!("max_capacity[{k}]"), c)?;
                }
                Ok(())
            }
            ObservationLayout::Park { high, .. } => positive("high", *high),
        }
    }
}

impl PolicyMeta {
    /// Metadata for a network trained on `scenario`: the current format and version, actions
    /// meaning node indices (`n` = `network.n_actions`), the `[in, out]` weight layout.
    pub fn new(
        scenario: impl Into<String>,
        source: Source,
        network: NetworkShape,
        normalization: Option<Normalization>,
        observation: ObservationLayout,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            scenario: scenario.into(),
            source,
            actions: ActionMeaning { n: network.n_actions, meaning: ACTION_MEANING.into() },
            network,
            normalization,
            observation,
            weight_layout: WEIGHT_LAYOUT.into(),
        }
    }

    /// Checks that the metadata is self-consistent: format and version, the weight layout,
    /// non-empty layers, normalisation vectors of length `obs_dim` with finite means and
    /// variances ≥ 0, and an observation layout whose length is `obs_dim` and whose node count
    /// is `n_actions` = `actions.n`.
    ///
    /// # Errors
    /// The first inconsistency, naming the field (path `<in-memory export>`).
    pub fn validate(&self) -> Result<()> {
        self.validate_at(Path::new(IN_MEMORY))
    }

    fn validate_at(&self, path: &Path) -> Result<()> {
        if self.format != FORMAT {
            return Err(PolicyError::Format { path: path.into(), found: json_string(&self.format) });
        }
        if self.format_version != FORMAT_VERSION {
            return Err(PolicyError::Version {
                path: path.into(),
                found: self.format_version.to_string(),
                supported: FORMAT_VERSION,
            });
        }
        if self.weight_layout != WEIGHT_LAYOUT {
            return Err(meta_err(
                path,
                "weight_layout",
                format!(
                    "is {}, expected {} (the only layout this runtime reads)",
                    json_string(&self.weight_layout),
                    json_string(WEIGHT_LAYOUT)
                ),
            ));
        }
        let net = &self.network;
        if net.obs_dim == 0 {
            return Err(meta_err(path, "network.obs_dim", "is 0, expected at least 1".into()));
        }
        if net.n_actions == 0 {
            return Err(meta_err(path, "network.n_actions", "is 0, expected at least 1".into()));
        }
        if let Some(i) = net.hidden_sizes.iter().position(|&h| h == 0) {
            return Err(meta_err(path, &format!("network.hidden_sizes[{i}]"), "is 0, expected at least 1".into()));
        }
        if self.actions.n != net.n_actions {
            return Err(meta_err(
                path,
                "actions.n",
                format!("is {}, but network.n_actions is {}", self.actions.n, net.n_actions),
            ));
        }
        if let Some(norm) = &self.normalization {
            validate_normalization(norm, net.obs_dim, path)?;
        }
        self.observation.validate(path)?;
        let layout_dim = self.observation.obs_dim();
        if layout_dim != net.obs_dim {
            let (n, r) = (self.observation.n_nodes(), self.observation.resources().len());
            let formula = match self.observation {
                ObservationLayout::Full { .. } => format!("{n}·({r}+4) + {r} + 2"),
                ObservationLayout::Park { .. } => format!("{n} + 1"),
            };
            return Err(meta_err(
                path,
                "network.obs_dim",
                format!(
                    "is {}, but the {} observation of {n} nodes and {r} resources has {formula} = {layout_dim} values",
                    net.obs_dim,
                    self.observation_kind()
                ),
            ));
        }
        if self.observation.n_nodes() != net.n_actions {
            return Err(meta_err(
                path,
                "network.n_actions",
                format!(
                    "is {}, but the observation has {} nodes (one action per node)",
                    net.n_actions,
                    self.observation.n_nodes()
                ),
            ));
        }
        Ok(())
    }

    fn observation_kind(&self) -> &'static str {
        match self.observation {
            ObservationLayout::Full { .. } => "full",
            ObservationLayout::Park { .. } => "park",
        }
    }
}

fn validate_normalization(norm: &Normalization, obs_dim: usize, path: &Path) -> Result<()> {
    for (name, v) in [("mean", &norm.mean), ("var", &norm.var)] {
        if v.len() != obs_dim {
            return Err(meta_err(
                path,
                &format!("normalization.{name}"),
                format!("has {} values, expected {obs_dim} (network.obs_dim)", v.len()),
            ));
        }
    }
    if !(norm.epsilon.is_finite() && norm.epsilon >= 0.0) {
        return Err(meta_err(
            path,
            "normalization.epsilon",
            format!("is {}, expected a finite number ≥ 0", norm.epsilon),
        ));
    }
    if norm.clip.is_nan() || norm.clip <= 0.0 {
        return Err(meta_err(path, "normalization.clip", format!("is {}, expected a number > 0", norm.clip)));
    }
    for (j, (&m, &v)) in norm.mean.iter().zip(&norm.var).enumerate() {
        if !m.is_finite() {
            return Err(meta_err(
                path,
                &format!("normalization.mean[{j}]"),
                format!("is {m}, expected a finite number"),
            ));
        }
        if !(v.is_finite() && v >= 0.0) {
            return Err(meta_err(
                path,
                &format!("normalization.var[{j}]"),
                format!("is {v}, expected a finite number ≥ 0"),
            ));
        }
        if v + norm.epsilon <= 0.0 {
            return Err(meta_err(
                path,
                &format!("normalization.var[{j}]"),
                "is 0 and epsilon is 0, so the feature would be divided by zero; expected var + epsilon > 0".into(),
            ));
        }
    }
    Ok(())
}

/// An exported policy: metadata and weights, as one directory holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// `policy.json`.
    pub meta: PolicyMeta,
    /// `policy.safetensors`.
    pub mlp: Mlp,
}

impl Export {
    /// Checks the metadata ([`PolicyMeta::validate`]) and that the network matches it: the
    /// activation, one layer per hidden size, every tensor's shape, a value head exactly when
    /// dueling, and finite weights.
    ///
    /// # Errors
    /// The first inconsistency, naming the field or tensor (path `<in-memory export>`).
    pub fn validate(&self) -> Result<()> {
        let path = Path::new(IN_MEMORY);
        self.meta.validate_at(path)?;
        if self.mlp.activation != self.meta.network.activation {
            return Err(meta_err(
                path,
                "network.activation",
                format!(
                    "is {}, but the network applies {}",
                    self.meta.network.activation.name(),
                    self.mlp.activation.name()
                ),
            ));
        }
        let expected = expected_tensors(&self.meta.network);
        let found: BTreeMap<String, Vec<usize>> =
            mlp_tensors(&self.mlp).into_iter().map(|(name, shape, _)| (name, shape)).collect();
        check_tensor_set(path, &expected, |name| found.get(name).cloned())?;
        if let Some(name) = found.keys().find(|name| !expected.iter().any(|(e, _)| e == *name)) {
            return Err(PolicyError::UnexpectedTensor {
                path: path.into(),
                name: name.clone(),
                expected: tensor_names(&expected),
            });
        }
        for (name, _, values) in mlp_tensors(&self.mlp) {
            check_finite(path, &name, values.into_iter())?;
        }
        Ok(())
    }

    /// Writes `policy.json` and `policy.safetensors` into `dir` (created if needed).
    ///
    /// Each file is written to a temporary file in `dir`, flushed to disk and renamed over the
    /// old one, so a crash never leaves a half-written file; the weights are written first, so
    /// a new `policy.json` never describes old weights. (A reader racing the writer may still
    /// see new weights with the old `policy.json`; write a fresh directory to avoid that.)
    ///
    /// # Errors
    /// An invalid export ([`Export::validate`]) — nothing is written then — or an I/O error
    /// naming the path.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        self.validate()?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let weights = self.safetensors_bytes(&dir.join(WEIGHTS_FILE))?;
        write_atomic(dir, WEIGHTS_FILE, &weights)?;
        let mut json = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| PolicyError::Json { path: dir.join(META_FILE), message: e.to_string() })?;
        json.push('\n');
        write_atomic(dir, META_FILE, json.as_bytes())?;
        Ok(())
    }

    /// Reads and validates the export in `dir`.
    ///
    /// # Errors
    /// A missing directory or file, unreadable JSON (with line and column), a wrong format or
    /// version, inconsistent metadata, an unparsable safetensors file, a missing, extra,
    /// mis-shaped, non-F32 or non-finite tensor — each naming the file and what is wrong.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(PolicyError::MissingDir { dir: dir.into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PolicyError::MissingDir { dir: dir.into() });
            }
            Err(e) => return Err(PolicyError::Io { path: dir.into(), source: e }),
        }
        let meta_path = dir.join(META_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        for (path, file) in [(&meta_path, META_FILE), (&weights_path, WEIGHTS_FILE)] {
            if !path.exists() {
                return Err(PolicyError::MissingFile { dir: dir.into(), file });
            }
        }
        let meta = read_meta(&meta_path)?;
        let bytes = fs::read(&weights_path).map_err(io_err(&weights_path))?;
        let mlp = read_weights(&weights_path, &bytes, &meta.network)?;
        Ok(Self { meta, mlp })
    }

    /// `policy.safetensors`'s bytes.
    fn safetensors_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let st_err =
            |e: safetensors::SafeTensorError| PolicyError::Safetensors { path: path.into(), message: e.to_string() };
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = mlp_tensors(&self.mlp)
            .into_iter()
            .map(|(name, shape, values)| (name, shape, values.into_iter().flat_map(f32::to_le_bytes).collect()))
            .collect();
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(st_err)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        safetensors::serialize(views, Some(metadata)).map_err(st_err)
    }
}

/// Reads `policy.json`: format and version first (so that a future version is reported as
/// such, not as an unknown field), then the strict schema, then consistency.
fn read_meta(path: &Path) -> Result<PolicyMeta> {
    /// Just the two fields that say whether the rest can be read.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        format_version: Option<serde_json::Value>,
    }
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let json_err = |e: serde_json::Error| PolicyError::Json { path: path.into(), message: e.to_string() };
    let probe: Probe = serde_json::from_str(&text).map_err(json_err)?;
    let shown = |v: &Option<serde_json::Value>| v.as_ref().map_or_else(|| "(missing)".to_string(), |v| v.to_string());
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT) {
        return Err(PolicyError::Format { path: path.into(), found: shown(&probe.format) });
    }
    if probe.format_version.as_ref().and_then(|v| v.as_u64()) != Some(u64::from(FORMAT_VERSION)) {
        return Err(PolicyError::Version {
            path: path.into(),
            found: shown(&probe.format_version),
            supported: FORMAT_VERSION,
        });
    }
    let meta: PolicyMeta = serde_json::from_str(&text).map_err(json_err)?;
    meta.validate_at(path)?;
    Ok(meta)
}

/// Reads the weights of a network shaped `shape` from the bytes of `policy.safetensors`.
fn read_weights(path: &Path, bytes: &[u8], shape: &NetworkShape) -> Result<Mlp> {
    let st_err =
        |e: safetensors::SafeTensorError| PolicyError::Safetensors { path: path.into(), message: e.to_string() };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_err)?;
    let format = header.metadata().as_ref().and_then(|m| m.get("format"));
    if format.map(String::as_str) != Some(FORMAT) {
        return Err(PolicyError::Format {
            path: path.into(),
            found: format.map_or_else(|| "(missing from __metadata__)".into(), |f| json_string(f)),
        });
    }
    let st = SafeTensors::deserialize(bytes).map_err(st_err)?;
    let expected = expected_tensors(shape);
    check_tensor_set(path, &expected, |name| st.tensor(name).ok().map(|t| t.shape().to_vec()))?;
    let mut names = st.names();
    names.sort_unstable();
    if let Some(name) = names.iter().find(|n| !expected.iter().any(|(e, _)| e == *n)) {
        return Err(PolicyError::UnexpectedTensor {
            path: path.into(),
            name: name.to_string(),
            expected: tensor_names(&expected),
        });
    }
    // Shapes are right: read each tensor as f32.
    let mut values = BTreeMap::new();
    for (name, _) in &expected {
        let view = st.tensor(name).map_err(st_err)?;
        if view.dtype() != Dtype::F32 {
            return Err(PolicyError::TensorDtype {
                path: path.into(),
                name: name.clone(),
                found: format!("{:?}", view.dtype()),
            });
        }
        let data: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        check_finite(path, name, data.iter().copied())?;
        values.insert(name.clone(), data);
    }
    let mut take_dense = |prefix: &str, d_in: usize, d_out: usize| -> Result<Dense> {
        let w = values.remove(&format!("{prefix}.weight")).unwrap_or_default();
        let b = values.remove(&format!("{prefix}.bias")).unwrap_or_default();
        let weight = Array2::from_shape_vec((d_in, d_out), w).map_err(|_| PolicyError::TensorShape {
            path: path.into(),
            name: format!("{prefix}.weight"),
            expected: vec![d_in, d_out],
            found: vec![],
        })?;
        Ok(Dense { weight, bias: Array1::from_vec(b) })
    };
    let mut hidden = Vec::with_capacity(shape.hidden_sizes.len());
    let mut width = shape.obs_dim;
    for (i, &h) in shape.hidden_sizes.iter().enumerate() {
        hidden.push(take_dense(&format!("hidden.{i}"), width, h)?);
        width = h;
    }
    let head = take_dense("head", width, shape.n_actions)?;
    let value = if shape.dueling { Some(take_dense("value", width, 1)?) } else { None };
    Ok(Mlp { hidden, head, value, activation: shape.activation })
}

/// Every tensor a network of `shape` has, with its shape, in file order.
fn expected_tensors(shape: &NetworkShape) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut push = |prefix: String, d_in: usize, d_out: usize| {
        out.push((format!("{prefix}.weight"), vec![d_in, d_out]));
        out.push((format!("{prefix}.bias"), vec![d_out]));
    };
    let mut width = shape.obs_dim;
    for (i, &h) in shape.hidden_sizes.iter().enumerate() {
        push(format!("hidden.{i}"), width, h);
        width = h;
    }
    push("head".into(), width, shape.n_actions);
    if shape.dueling {
        push("value".into(), width, 1);
    }
    out
}

/// Every tensor of `mlp`: name, shape and values in row-major order.
fn mlp_tensors(mlp: &Mlp) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut layers: Vec<(String, &Dense)> =
        mlp.hidden.iter().enumerate().map(|(i, d)| (format!("hidden.{i}"), d)).collect();
    layers.push(("head".into(), &mlp.head));
    if let Some(v) = &mlp.value {
        layers.push(("value".into(), v));
    }
    let mut out = Vec::new();
    for (prefix, d) in layers {
        // `iter()` walks logical (row-major) order whatever the arrays' memory layout.
        out.push((format!("{prefix}.weight"), d.weight.shape().to_vec(), d.weight.iter().copied().collect()));
        out.push((format!("{prefix}.bias"), d.bias.shape().to_vec(), d.bias.to_vec()));
    }
    out
}

/// Missing tensors and shape mismatches, in the order of `expected`.
fn check_tensor_set(
    path: &Path,
    expected: &[(String, Vec<usize>)],
    found: impl Fn(&str) -> Option<Vec<usize>>,
) -> Result<()> {
    for (name, shape) in expected {
        match found(name) {
            None => {
                return Err(PolicyError::MissingTensor {
                    path: path.into(),
                    name: name.clone(),
                    expected: tensor_names(expected),
                });
            }
            Some(f) if f != *shape => {
                return Err(PolicyError::TensorShape {
                    path: path.into(),
                    name: name.clone(),
                    expected: shape.clone(),
                    found: f,
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_finite(path: &Path, name: &str, values: impl Iterator<Item = f32>) -> Result<()> {
    for (index, value) in values.enumerate() {
        if !value.is_finite() {
            return Err(PolicyError::NonFiniteWeight { path: path.into(), name: name.into(), index, value });
        }
    }
    Ok(())
}

fn tensor_names(expected: &[(String, Vec<usize>)]) -> String {
    expected.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn meta_err(path: &Path, field: &str, message: String) -> PolicyError {
    PolicyError::Meta { path: path.into(), field: field.into(), message }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError + '_ {
    move |source| PolicyError::Io { path: path.into(), source }
}

/// Writes `dir/name` through a temporary file: write, fsync, rename, then fsync the directory
/// so the rename itself survives a crash.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
        let _ = fs::remove_file(&tmp);
        return Err(PolicyError::Io { path, source: e });
    }
    // Directories can be opened and synced on Unix only; elsewhere the rename is as durable as
    // the platform makes it.
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Write → read round trips and every way an export directory can be wrong.

    use super::*;
    use crate::Policy;
    use crate::runtime::tests::{park2, tiny_export};

    /// A fresh, empty directory under the system's temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("policy-format-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// A full-layout export (2 nodes, 2 resources: obs_dim 2·6 + 4 = 16), dueling, tanh, with
    /// normalisation and provenance.
    fn full_export() -> Export {
        let layout = crate::state::tests::full_layout();
        let dense = |d_in: usize, d_out: usize, seed: f32| {
            Dense::new(
                Array2::from_shape_fn((d_in, d_out), |(i, j)| ((i * 7 + j * 3) as f32 * 0.37 + seed).sin()),
                Array1::from_shape_fn(d_out, |j| (j as f32 - seed) * 0.1),
            )
        };
        let mlp = Mlp {
            hidden: vec![dense(16, 5, 0.1), dense(5, 4, 0.2)],
            head: dense(4, 2, 0.3),
            value: Some(dense(4, 1, 0.4)),
            activation: Activation::Tanh,
        };
        let norm = Normalization { mean: vec![0.5; 16], var: vec![2.0; 16], epsilon: 1e-8, clip: 5.0 };
        let source = Source {
            experiment: Some("unit".into()),
            checkpoint: Some("checkpoints/unit/best".into()),
            global_step: Some(1234),
            extra: BTreeMap::from([("commit".into(), serde_json::json!("abc123"))]),
        };
        Export { meta: PolicyMeta::new("unit-full", source, mlp.shape(), Some(norm), layout), mlp }
    }

    /// Writes a safetensors file of raw `(name, dtype, shape, bytes)` entries.
    fn write_raw(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], format: Option<&str>) {
        let views: Vec<_> = tensors
            .iter()
            .map(|(n, dt, shape, bytes)| (*n, TensorView::new(*dt, shape.clone(), bytes).unwrap()))
            .collect();
        let meta = format.map(|f| HashMap::from([("format".to_string(), f.to_string())]));
        fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The tiny export's tensors, with `edit` applied.
    fn tiny_tensors(
        edit: impl FnOnce(&mut Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)>),
    ) -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
        let mut t = vec![
            ("hidden.0.weight", Dtype::F32, vec![3, 3], f32_bytes(&[1.0; 9])),
            ("hidden.0.bias", Dtype::F32, vec![3], f32_bytes(&[0.0; 3])),
            ("head.weight", Dtype::F32, vec![3, 2], f32_bytes(&[1.0; 6])),
            ("head.bias", Dtype::F32, vec![2], f32_bytes(&[0.0; 2])),
        ];
        edit(&mut t);
        t
    }

    /// An export dir with the tiny export's policy.json and the given weights file.
    fn dir_with_weights(name: &str, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], format: Option<&str>) -> PathBuf {
        let dir = temp_dir(name);
        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        write_raw(&dir.join(WEIGHTS_FILE), tensors, format);
        dir
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = temp_dir("round-trip");
        let export = full_export();
        export.write(&dir).unwrap();
        let back = Export::read(&dir).unwrap();
        assert_eq!(back, export);
        // Writing again over an existing export replaces it and leaves no temporary files.
        export.write(&dir).unwrap();
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        files.sort();
        assert_eq!(files, [META_FILE, WEIGHTS_FILE]);
        // The loaded policy computes what the in-memory one does.
        let obs: Vec<f32> = (0..16).map(|i| i as f32 * 0.25).collect();
        let mut a = Policy::load(&dir).unwrap();
        let mut b = Policy::from_export(export).unwrap();
        assert_eq!(a.q_values(&obs).unwrap(), b.q_values(&obs).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn policy_json_is_self_describing() {
        let json: serde_json::Value = serde_json::to_value(&full_export().meta).unwrap();
        assert_eq!(json["format"], "cluster-rl-policy");
        assert_eq!(json["format_version"], 1);
        assert_eq!(json["weight_layout"], "[in, out]; y = x W + b");
        assert_eq!(json["network"]["hidden_sizes"], serde_json::json!([5, 4]));
        assert_eq!(json["network"]["activation"], "tanh");
        assert_eq!(json["observation"]["kind"], "full");
        assert_eq!(json["actions"]["n"], 2);
        // Free-form provenance keeps keys it does not know.
        assert_eq!(json["source"]["commit"], "abc123");
        assert_eq!(full_export().meta.network.to_string(), "16-5-4-2 tanh dueling");
    }

    #[test]
    fn a_truncated_weights_file_is_a_safetensors_error() {
        let dir = temp_dir("truncated");
        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        let path = dir.join(WEIGHTS_FILE);
        let bytes = fs::read(&path).unwrap();
        for len in [bytes.len() - 4, 20, 3] {
            fs::write(&path, &bytes[..len]).unwrap();
            let e = Export::read(&dir).unwrap_err();
            assert!(matches!(e, PolicyError::Safetensors { .. }), "{e}");
            assert!(e.to_string().starts_with(&format!("{}: not a valid safetensors file: ", path.display())), "{e}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tensor_errors_name_the_tensor() {
        let shape = dir_with_weights(
            "shape",
            &tiny_tensors(|t| t[2] = ("head.weight", Dtype::F32, vec![2, 3], f32_bytes(&[1.0; 6]))),
            Some(FORMAT),
        );
        let e = Export::read(&shape).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: tensor head.weight has shape [2, 3], expected [3, 2]", shape.join(WEIGHTS_FILE).display())
        );

        let missing = dir_with_weights("missing-tensor", &tiny_tensors(|t| drop(t.remove(3))), Some(FORMAT));
        let e = Export::read(&missing).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "missing tensor head.bias (the network needs hidden.0.weight, hidden.0.bias, head.weight, head.bias)"
            ),
            "{e}"
        );

        let extra = dir_with_weights(
            "extra-tensor",
            &tiny_tensors(|t| t.push(("value.weight", Dtype::F32, vec![3, 1], f32_bytes(&[1.0; 3])))),
            Some(FORMAT),
        );
        let e = Export::read(&extra).unwrap_err();
        assert!(matches!(&e, PolicyError::UnexpectedTensor { name, .. } if name == "value.weight"), "{e}");

        let dtype = dir_with_weights(
            "dtype",
            &tiny_tensors(|t| t[1] = ("hidden.0.bias", Dtype::F64, vec![3], vec![0; 24])),
            Some(FORMAT),
        );
        let e = Export::read(&dtype).unwrap_err();
        assert!(e.to_string().ends_with("tensor hidden.0.bias has dtype F64, expected F32"), "{e}");

        let nan = dir_with_weights(
            "nan",
            &tiny_tensors(|t| t[3] = ("head.bias", Dtype::F32, vec![2], f32_bytes(&[0.0, f32::NAN]))),
            Some(FORMAT),
        );
        let e = Export::read(&nan).unwrap_err();
        assert!(e.to_string().ends_with("tensor head.bias holds NaN at flat index 1, expected finite weights"), "{e}");

        let unmarked = dir_with_weights("unmarked", &tiny_tensors(|_| {}), None);
        let e = Export::read(&unmarked).unwrap_err();
        assert!(matches!(&e, PolicyError::Format { found, .. } if found == "(missing from __metadata__)"), "{e}");
        // The untouched tensors read fine.
        let ok = dir_with_weights("ok", &tiny_tensors(|_| {}), Some(FORMAT));
        assert_eq!(Export::read(&ok).unwrap().mlp.head.weight, Array2::from_elem((3, 2), 1.0));
        for d in [shape, missing, extra, dtype, nan, unmarked, ok] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn missing_directory_and_files() {
        let dir = temp_dir("missing");
        let e = Export::read(&dir).unwrap_err();
        assert!(matches!(e, PolicyError::MissingDir { .. }), "{e}");
        assert!(e.to_string().contains("not found (an export is made with `cluster-rl export`)"), "{e}");

        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        fs::remove_file(dir.join(META_FILE)).unwrap();
        let e = Policy::load(&dir).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "export directory {}: missing policy.json (an export holds policy.json and policy.safetensors; \
                 make one with `cluster-rl export`)",
                dir.display()
            )
        );
        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
        let e = Export::read(&dir).unwrap_err();
        assert!(matches!(e, PolicyError::MissingFile { file: WEIGHTS_FILE, .. }), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes the tiny export, then replaces policy.json by `edit` of its JSON text.
    fn with_json(name: &str, edit: impl FnOnce(String) -> String) -> (PathBuf, PolicyError) {
        let dir = temp_dir(name);
        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        let path = dir.join(META_FILE);
        fs::write(&path, edit(fs::read_to_string(&path).unwrap())).unwrap();
        let e = Export::read(&dir).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        (path, e)
    }

    #[test]
    fn bad_policy_json() {
        let (path, e) = with_json("version", |s| {
            // A future version with a field this runtime does not know: reported as a version.
            s.replace("\"format_version\": 1", "\"format_version\": 2, \"quantized\": true")
        });
        assert_eq!(
            e.to_string(),
            format!(
                "{}: format_version is 2, but this runtime reads version 1 only (export the policy again with a \
                 matching `cluster-rl`)",
                path.display()
            )
        );
        let (_, e) = with_json("no-version", |s| s.replace("\"format_version\": 1,", ""));
        assert!(matches!(&e, PolicyError::Version { found, .. } if found == "(missing)"), "{e}");
        let (_, e) = with_json("format", |s| s.replace("\"cluster-rl-policy\"", "\"onnx\""));
        assert!(
            e.to_string()
                .ends_with("format is \"onnx\", expected \"cluster-rl-policy\" (not a cluster-rl policy export)"),
            "{e}"
        );
        let (_, e) = with_json("syntax", |s| s.replacen("{", "{,", 1));
        assert!(matches!(e, PolicyError::Json { .. }) && e.to_string().contains("line 1 column 2"), "{e}");
        let (_, e) = with_json("unknown", |s| s.replace("\"scenario\"", "\"scenari0\""));
        assert!(e.to_string().contains("unknown field `scenari0`") && e.to_string().contains("line"), "{e}");
        let (_, e) = with_json("layout", |s| s.replace("\"[in, out]; y = x W + b\"", "\"[out, in]; y = W x + b\""));
        assert!(e.to_string().contains("weight_layout: is \"[out, in]; y = W x + b\", expected"), "{e}");
    }

    #[test]
    fn inconsistent_metadata() {
        let check = |edit: fn(&mut PolicyMeta), want: &str| {
            let mut export = full_export();
            edit(&mut export.meta);
            let e = export.validate().unwrap_err();
            assert_eq!(e.to_string(), format!("<in-memory export>: {want}"));
            // Nothing is written for an invalid export.
            let dir = temp_dir("inconsistent");
            assert!(export.write(&dir).is_err());
            assert!(!dir.join(META_FILE).exists());
        };
        check(
            |m| m.normalization.as_mut().unwrap().mean.pop().map(drop).unwrap(),
            "normalization.mean: has 15 values, expected 16 (network.obs_dim)",
        );
        check(
            |m| m.normalization.as_mut().unwrap().var[3] = -1.0,
            "normalization.var[3]: is -1, expected a finite number ≥ 0",
        );
        check(
            |m| m.observation = park2(),
            "network.obs_dim: is 16, but the park observation of 2 nodes and 1 resources has 2 + 1 = 3 values",
        );
        check(|m| m.actions.n = 3, "actions.n: is 3, but network.n_actions is 2");
        check(
            |m| {
                if let ObservationLayout::Full { max_capacity, .. } = &mut m.observation {
                    max_capacity[1] = 0.0;
                }
            },
            "observation.max_capacity[1]: is 0, expected a finite number > 0",
        );
        check(
            |m| m.format_version = 7,
            "format_version is 7, but this runtime reads version 1 only (export the policy again with a matching `cluster-rl`)",
        );
    }

    #[test]
    fn observation_layout_json_matches_cluster_envs_constants() {
        // What `cluster_env::ObservationConstants` serialises to (its fields, tagged by kind).
        let json = r#"{"kind": "park", "n_nodes": 10, "resources": ["slot"], "high": 500000.0}"#;
        let layout: ObservationLayout = serde_json::from_str(json).unwrap();
        assert_eq!(layout.obs_dim(), 11);
        let e = serde_json::from_str::<ObservationLayout>(r#"{"kind": "grid", "n_nodes": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `grid`, expected `full` or `park`"), "{e}");
    }
}
