//! Builds the ONNX graph of a Q-network and writes it.
//!
//! The graph, top to bottom (names are value names; each node is named like its output):
//!
//! ```text
//! obs                                   float[batch, obs_dim]
//! norm.to_f64 .. norm.to_f32            (only with a Normalization) Cast→double, Sub norm.mean,
//!                                       Div norm.std, Clip norm.clip_min/max, Cast→float
//! hidden.{i}.matmul, hidden.{i}.add     x·hidden.{i}.weight + hidden.{i}.bias
//! hidden.{i}.<activation>               Relu | Tanh | LeakyRelu | Erf-composed GELU | x·Sigmoid(x)
//! head.matmul, head.add                 Q-values, or advantages A when dueling
//! value.matmul, value.add               (dueling) V, [batch, 1]
//! dueling.mean, dueling.sub, q_values   (dueling) (A − ReduceMean(A, axis 1)) + V
//! q_values                              float[batch, n_actions]
//! ```
//!
//! Initializer names match the tensor names of `policy.safetensors` (`hidden.0.weight`,
//! `head.bias`, `value.weight`, ...), and weights keep their `[in, out]` layout, so `MatMul`
//! takes them as they are.
//!
//! A node-scoring network ([`NodeScoring`], see `policy_core::node_scoring`) has a symbolic
//! node axis, so one model serves clusters of any size:
//!
//! ```text
//! nodes                                 float[batch, nodes, node_width]  raw node rows
//! task                                  float[batch, task_width]         raw task row
//! norm.nodes.* / norm.task.*            (only with a Normalization) as above, node rows with
//!                                       the first node_width statistics, the task with the rest
//! embed_task.matmul/.add, embed_task.unsqueeze    t = task·W, [batch, 1, h_0]
//! embed_node.matmul/.add, embed_node.task, .<act> e = act(nodes·W + b + t)
//! embed.{k}.matmul/.add/.<act>          further embedding layers, per node
//! summary.mean, summary.max, summary    [ReduceMean(e, 1), ReduceMax(e, 1)], [batch, 2h]
//! score_pool.matmul/.add/.unsqueeze     p = summary·W, [batch, 1, s]
//! score_node.matmul/.add, score_node.pool, .<act> z = act(e·W + b + p)
//! head.matmul, head.add, head.squeeze   A, [batch, nodes]
//! value.*, dueling.*                    (dueling) (A − ReduceMean(A, 1)) + V(summary)
//! q_values                              float[batch, nodes]
//! ```

use std::collections::HashSet;
use std::path::Path;

use policy_core::{Activation, Dense, Mlp, Network, NodeScoring, Normalization, ShapeError};
use prost::Message;

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{Dimension, dimension};
use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};

/// `ModelProto.producer_name` of every model this crate writes.
pub const PRODUCER_NAME: &str = "cluster-rl";

/// ONNX IR version of the written models (IR 8, ONNX 1.10): new enough for opset 17 and old
/// enough for every onnxruntime since 1.10.
pub const IR_VERSION: i64 = 8;

/// Version of the default (`ai.onnx`) operator set the graph binds against. Opset 17 still
/// takes `ReduceMean`'s axes as an attribute and has no `Gelu` operator (added in 20), which is
/// why GELU is composed from `Erf`.
pub const OPSET_VERSION: i64 = 17;

/// Name of the graph input of an MLP: raw observations, `float[batch, obs_dim]`.
pub const INPUT_NAME: &str = "obs";

/// Name of a node-scoring graph's first input: the raw node rows,
/// `float[batch, nodes, node_width]`.
pub const NODES_INPUT_NAME: &str = "nodes";

/// Name of a node-scoring graph's second input: the raw task row, `float[batch, task_width]`.
pub const TASK_INPUT_NAME: &str = "task";

/// Symbolic name of a node-scoring graph's node axis: one model serves any cluster size.
pub const NODES_DIM: &str = "nodes";

/// Name of the graph output: one Q-value per action, `float[batch, n_actions]`.
pub const OUTPUT_NAME: &str = "q_values";

/// Symbolic name of the batch dimension of [`INPUT_NAME`] and [`OUTPUT_NAME`], so one model
/// serves any batch size.
pub const BATCH_DIM: &str = "batch";

/// Name of the graph inside the model.
const GRAPH_NAME: &str = "q_network";

/// Negative slope of `LeakyRelu`, as in `policy_core::Activation::LeakyRelu` and the trainer.
const LEAKY_RELU_SLOPE: f32 = 0.01;

/// Scalar float initializers shared by every GELU layer: `0.5·x·(1 + erf(x / √2))`.
const GELU_SQRT2: &str = "gelu.sqrt2";
const GELU_ONE: &str = "gelu.one";
const GELU_HALF: &str = "gelu.half";

/// What the model header says besides the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// `ModelProto.producer_version`: the version of cluster-rl that exported the model.
    pub producer_version: String,
    /// `ModelProto.doc_string`: free text (Markdown) that model viewers show; left out when
    /// empty.
    pub doc_string: String,
    /// `ModelProto.metadata_props`, in this order; keys must be distinct (e.g. the experiment
    /// name, the training step, the scenario). onnxruntime exposes them as
    /// `InferenceSession.get_modelmeta().custom_metadata_map`.
    pub metadata: Vec<(String, String)>,
}

/// Encodes `network` (preceded by `normalization`, if given) as the bytes of an ONNX model file.
///
/// See [`model_proto`] for what the model computes and what is checked.
pub fn model_bytes(
    network: &Network,
    normalization: Option<&Normalization>,
    info: &ModelInfo,
) -> Result<Vec<u8>, OnnxError> {
    Ok(model_proto(network, normalization, info)?.encode_to_vec())
}

/// Builds the ONNX model of `network` (preceded by `normalization`, if given) as a message.
///
/// An MLP's model maps raw observations `obs: float[batch, obs_dim]` to
/// `q_values: float[batch, n_actions]`; a node-scoring network's maps raw node rows
/// `nodes: float[batch, nodes, node_width]` and the raw task row `task: float[batch, task_width]`
/// to `q_values: float[batch, nodes]`, for any number of nodes. Either computes what the Rust
/// runtime does, up to float rounding: the normalisation is computed in double precision (so it
/// matches the trainer's `f64` code bit for bit) and rounded to float; the layers run in float.
///
/// # Errors
///
/// [`OnnxError::Shape`] when the layers do not chain (each input width must be the previous
/// output width, biases must match, the value head must have one output, no width may be 0;
/// for a node-scoring network, [`NodeScoring::validate`]'s checks),
/// [`OnnxError::NonFinite`] for a NaN or infinite parameter, [`OnnxError::Normalization`] when
/// the statistics do not fit the input width (`node_width + task_width` for a node-scoring
/// network) or cannot be applied, and [`OnnxError::DuplicateMetadataKey`].
pub fn model_proto(
    network: &Network,
    normalization: Option<&Normalization>,
    info: &ModelInfo,
) -> Result<ModelProto, OnnxError> {
    let graph = match network {
        Network::Mlp(mlp) => mlp_graph(mlp, normalization, info)?,
        Network::NodeScoring(net) => node_scoring_graph(net, normalization, info)?,
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET_VERSION) }],
        producer_name: Some(PRODUCER_NAME.into()),
        producer_version: Some(info.producer_version.clone()),
        domain: None,
        model_version: None,
        doc_string: (!info.doc_string.is_empty()).then(|| info.doc_string.clone()),
        graph: Some(graph),
        metadata_props: info
            .metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto { key: Some(key.clone()), value: Some(value.clone()) })
            .collect(),
    })
}

/// Metadata keys must be distinct.
fn check_metadata(info: &ModelInfo) -> Result<(), OnnxError> {
    let mut keys = HashSet::new();
    if let Some((key, _)) = info.metadata.iter().find(|(key, _)| !keys.insert(key)) {
        return Err(OnnxError::DuplicateMetadataKey { key: key.clone() });
    }
    Ok(())
}

/// The graph of an MLP (the module documentation's first diagram).
fn mlp_graph(mlp: &Mlp, normalization: Option<&Normalization>, info: &ModelInfo) -> Result<GraphProto, OnnxError> {
    let (obs_dim, n_actions) = check_mlp(mlp)?;
    let normalization =
        normalization.map(|norm| check_normalization(norm, obs_dim).map(|std| (norm, std))).transpose()?;
    check_metadata(info)?;

    let mut g = GraphBuilder::default();
    let mut x = INPUT_NAME.to_string();
    if let Some((norm, std)) = &normalization {
        x = g.normalization(norm, std, &x);
    }
    if mlp.activation == Activation::Gelu && !mlp.hidden.is_empty() {
        g.f32_initializer(GELU_SQRT2, &[], [std::f32::consts::SQRT_2]);
        g.f32_initializer(GELU_ONE, &[], [1.0]);
        g.f32_initializer(GELU_HALF, &[], [0.5]);
    }
    for (i, layer) in mlp.hidden.iter().enumerate() {
        let name = format!("hidden.{i}");
        x = g.linear(&name, layer, &x, None);
        x = g.activation(mlp.activation, &name, &x);
    }
    match &mlp.value {
        None => {
            g.linear("head", &mlp.head, &x, Some(OUTPUT_NAME));
        }
        Some(value) => {
            // Same order of operations as the trainer's `advantage - mean + value`.
            let advantage = g.linear("head", &mlp.head, &x, None);
            let value = g.linear("value", value, &x, None);
            let mean = g.node(
                "ReduceMean",
                "dueling.mean",
                &[&advantage],
                vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)],
            );
            let centred = g.node("Sub", "dueling.sub", &[&advantage, &mean], vec![]);
            g.node_into("Add", "dueling.add", &[&centred, &value], OUTPUT_NAME, vec![]);
        }
    }

    Ok(GraphProto {
        node: g.nodes,
        name: Some(GRAPH_NAME.into()),
        initializer: g.initializers,
        doc_string: Some(graph_doc(mlp, normalization.is_some())),
        input: vec![float_matrix(INPUT_NAME, obs_dim, "raw observations, one row per decision")],
        output: vec![float_matrix(OUTPUT_NAME, n_actions, "Q-value of each action; the greedy action is the arg-max")],
        value_info: Vec::new(),
    })
}

/// The graph of a node-scoring network (the module documentation's second diagram): the
/// per-node layers are `MatMul`s of `[batch, nodes, ·]` by the shared weights, the task's and
/// the summary's terms are computed once per row and broadcast over the node axis.
fn node_scoring_graph(
    net: &NodeScoring,
    normalization: Option<&Normalization>,
    info: &ModelInfo,
) -> Result<GraphProto, OnnxError> {
    net.validate().map_err(|e| match e {
        ShapeError::Layer { layer, message } => shape(&layer, message),
        other => shape("network", other.to_string()),
    })?;
    for (name, dense) in net.layers() {
        let (weight, cols) = (format!("{name}.weight"), dense.d_out);
        finite(&weight, dense.weight.iter().enumerate().map(|(k, &v)| (vec![k / cols, k % cols], v.into())))?;
        finite(&format!("{name}.bias"), dense.bias.iter().enumerate().map(|(i, &v)| (vec![i], v.into())))?;
    }
    let (w, t) = (net.node_width(), net.task_width());
    let normalization =
        normalization.map(|norm| check_normalization(norm, w + t).map(|std| (norm, std))).transpose()?;
    check_metadata(info)?;

    let mut g = GraphBuilder::default();
    let (mut nodes, mut task) = (NODES_INPUT_NAME.to_string(), TASK_INPUT_NAME.to_string());
    if let Some((norm, std)) = &normalization {
        let split = |v: &[f64]| (v[..w].to_vec(), v[w..].to_vec());
        let ((node_mean, task_mean), (node_std, task_std)) = (split(&norm.mean), split(std));
        nodes = g.normalization_named("norm.nodes", &node_mean, &node_std, norm.clip, &nodes);
        task = g.normalization_named("norm.task", &task_mean, &task_std, norm.clip, &task);
    }
    if net.activation == Activation::Gelu {
        g.f32_initializer(GELU_SQRT2, &[], [std::f32::consts::SQRT_2]);
        g.f32_initializer(GELU_ONE, &[], [1.0]);
        g.f32_initializer(GELU_HALF, &[], [0.5]);
    }
    // Unsqueeze and Squeeze take their axes as an input since opset 13.
    let axis_1 = g.initializer("axes.1", &[1], DataType::Int64, 1i64.to_le_bytes().to_vec());
    let axis_2 = g.initializer("axes.2", &[1], DataType::Int64, 2i64.to_le_bytes().to_vec());

    // First embedding layer: [node_i, task]·W split in two, the task's half once per row.
    let task_term = g.linear("embed_task", &net.embed_task, &task, None);
    let task_term = g.node("Unsqueeze", "embed_task.unsqueeze", &[&task_term, &axis_1], vec![]);
    let e = g.linear("embed_node", &net.embed_node, &nodes, None);
    let e = g.node("Add", "embed_node.task", &[&e, &task_term], vec![]);
    let mut e = g.activation(net.activation, "embed_node", &e);
    for (k, layer) in net.embed.iter().enumerate() {
        let name = format!("embed.{k}");
        e = g.linear(&name, layer, &e, None);
        e = g.activation(net.activation, &name, &e);
    }
    // The cluster summary: mean and max over the node axis.
    let mean = g.node("ReduceMean", "summary.mean", &[&e], vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)]);
    let max = g.node("ReduceMax", "summary.max", &[&e], vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)]);
    let summary = g.node("Concat", "summary", &[&mean, &max], vec![attr_int("axis", 1)]);
    // Scoring layer: [e_i, summary]·W split in two, the summary's half once per row.
    let pool_term = g.linear("score_pool", &net.score_pool, &summary, None);
    let pool_term = g.node("Unsqueeze", "score_pool.unsqueeze", &[&pool_term, &axis_1], vec![]);
    let z = g.linear("score_node", &net.score_node, &e, None);
    let z = g.node("Add", "score_node.pool", &[&z, &pool_term], vec![]);
    let z = g.activation(net.activation, "score_node", &z);
    let a = g.linear("head", &net.head, &z, None);
    match &net.value {
        None => {
            g.node_into("Squeeze", "head.squeeze", &[&a, &axis_2], OUTPUT_NAME, vec![]);
        }
        Some(value) => {
            let a = g.node("Squeeze", "head.squeeze", &[&a, &axis_2], vec![]);
            let v = g.linear("value", value, &summary, None);
            let mean =
                g.node("ReduceMean", "dueling.mean", &[&a], vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)]);
            let centred = g.node("Sub", "dueling.sub", &[&a, &mean], vec![]);
            g.node_into("Add", "dueling.add", &[&centred, &v], OUTPUT_NAME, vec![]);
        }
    }
    let node_axis = || dimension::Value::DimParam(NODES_DIM.into());
    let fixed = |n: usize| dimension::Value::DimValue(n as i64);
    let doc = format!(
        "cluster-rl node-scoring Q-network {w}+{t}-{} {}{}{}",
        net.hidden_sizes().iter().map(usize::to_string).collect::<Vec<_>>().join("-"),
        activation_name(net.activation),
        if net.value.is_some() { " dueling" } else { "" },
        if normalization.is_some() { ", normalised input" } else { "" }
    );
    Ok(GraphProto {
        node: g.nodes,
        name: Some(GRAPH_NAME.into()),
        initializer: g.initializers,
        doc_string: Some(doc),
        input: vec![
            float_tensor(NODES_INPUT_NAME, vec![node_axis(), fixed(w)], "raw node rows, one matrix per decision"),
            float_tensor(TASK_INPUT_NAME, vec![fixed(t)], "raw task row, one per decision"),
        ],
        output: vec![float_tensor(
            OUTPUT_NAME,
            vec![node_axis()],
            "Q-value of each node; the greedy node is the arg-max over the valid ones",
        )],
        value_info: Vec::new(),
    })
}

/// Writes the model of `network` (see [`model_bytes`]) to `path` atomically: into a temporary file
/// beside it, synced to disk, then renamed over `path`. A crash leaves either the old file or
/// the complete new one, never a truncated model that a serving process could load.
///
/// # Errors
///
/// Those of [`model_proto`], and [`OnnxError::Io`] when the file cannot be written (nothing is
/// left behind then).
pub fn write(
    path: impl AsRef<Path>,
    network: &Network,
    normalization: Option<&Normalization>,
    info: &ModelInfo,
) -> Result<(), OnnxError> {
    let bytes = model_bytes(network, normalization, info)?;
    write_atomic(path.as_ref(), &bytes)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OnnxError + '_ {
    move |source| OnnxError::Io { path: path.to_path_buf(), source }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    if path.file_name().is_none() {
        return Err(io(path)(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")));
    }
    durable::write_atomic(path, bytes).map_err(io(path))
}

/// Checks that the layers chain; returns `(obs_dim, n_actions)`.
fn check_mlp(mlp: &Mlp) -> Result<(usize, usize), OnnxError> {
    let obs_dim = mlp.hidden.first().unwrap_or(&mlp.head).d_in;
    let mut width = obs_dim;
    for (i, layer) in mlp.hidden.iter().enumerate() {
        check_dense(&format!("hidden.{i}"), layer, width)?;
        width = layer.d_out;
    }
    check_dense("head", &mlp.head, width)?;
    if let Some(value) = &mlp.value {
        check_dense("value", value, width)?;
        if value.d_out != 1 {
            return Err(shape("value.weight", format!("has {} outputs but a value head has 1", value.d_out)));
        }
    }
    Ok((obs_dim, mlp.head.d_out))
}

fn check_dense(name: &str, dense: &Dense, d_in: usize) -> Result<(), OnnxError> {
    let weight = format!("{name}.weight");
    let bias = format!("{name}.bias");
    let (rows, cols) = (dense.d_in, dense.d_out);
    if rows == 0 || cols == 0 {
        return Err(shape(&weight, format!("has shape [{rows}, {cols}]; a layer needs inputs and outputs")));
    }
    if rows != d_in {
        return Err(shape(&weight, format!("has {rows} input rows but the layer before it has {d_in} outputs")));
    }
    if dense.weight.len() != rows * cols {
        return Err(shape(
            &weight,
            format!("has {} values but its shape [{rows}, {cols}] needs {}", dense.weight.len(), rows * cols),
        ));
    }
    if dense.bias.len() != cols {
        return Err(shape(&bias, format!("has {} entries but {weight} has {cols} outputs", dense.bias.len())));
    }
    finite(&weight, dense.weight.iter().enumerate().map(|(k, &v)| (vec![k / cols, k % cols], v.into())))?;
    finite(&bias, dense.bias.iter().enumerate().map(|(i, &v)| (vec![i], v.into())))
}

/// Checks `norm` against the input width; returns the per-feature divisor `sqrt(var + epsilon)`,
/// computed exactly as the trainer computes it.
fn check_normalization(norm: &Normalization, obs_dim: usize) -> Result<Vec<f64>, OnnxError> {
    let bad = |reason: String| Err(OnnxError::Normalization { reason });
    for (field, values) in [("mean", &norm.mean), ("var", &norm.var)] {
        if values.len() != obs_dim {
            return bad(format!("{field} has {} entries but the network takes {obs_dim} features", values.len()));
        }
        finite(&format!("normalization.{field}"), values.iter().enumerate().map(|(i, &v)| (vec![i], v)))?;
    }
    finite("normalization.epsilon", [(vec![], norm.epsilon)])?;
    finite("normalization.clip", [(vec![], norm.clip)])?;
    if norm.epsilon < 0.0 {
        return bad(format!("epsilon {} is negative", norm.epsilon));
    }
    if norm.clip <= 0.0 {
        return bad(format!("clip {} must be > 0", norm.clip));
    }
    let mut std = Vec::with_capacity(obs_dim);
    for (j, &var) in norm.var.iter().enumerate() {
        if var < 0.0 {
            return bad(format!("var[{j}] = {var} is negative"));
        }
        let s = (var + norm.epsilon).sqrt();
        if s == 0.0 {
            return bad(format!("var[{j}] + epsilon is 0, so feature {j} cannot be scaled"));
        }
        std.push(s);
    }
    Ok(std)
}

fn finite(tensor: &str, values: impl IntoIterator<Item = (Vec<usize>, f64)>) -> Result<(), OnnxError> {
    match values.into_iter().find(|(_, v)| !v.is_finite()) {
        Some((index, value)) => Err(OnnxError::NonFinite { tensor: tensor.into(), index, value }),
        None => Ok(()),
    }
}

fn shape(tensor: &str, reason: String) -> OnnxError {
    OnnxError::Shape { tensor: tensor.into(), reason }
}

/// Nodes and initializers in the order they are added (nodes are added in topological order).
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl GraphBuilder {
    /// Adds a node whose one output is named like the node; returns that name.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.node_into(op, name, inputs, name, attribute)
    }

    /// Adds a node with the one output `output`; returns `output`.
    fn node_into(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: Some(name.into()),
            op_type: Some(op.into()),
            domain: None,
            attribute,
            doc_string: None,
        });
        output.into()
    }

    fn f32_initializer(&mut self, name: &str, dims: &[usize], values: impl IntoIterator<Item = f32>) -> String {
        let raw = values.into_iter().flat_map(f32::to_le_bytes).collect();
        self.initializer(name, dims, DataType::Float, raw)
    }

    fn f64_initializer(&mut self, name: &str, dims: &[usize], values: impl IntoIterator<Item = f64>) -> String {
        let raw = values.into_iter().flat_map(f64::to_le_bytes).collect();
        self.initializer(name, dims, DataType::Double, raw)
    }

    /// `raw` is the row-major little-endian bytes ONNX requires in `raw_data`.
    fn initializer(&mut self, name: &str, dims: &[usize], data_type: DataType, raw: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type as i32),
            name: Some(name.into()),
            doc_string: None,
            raw_data: Some(raw),
        });
        name.into()
    }

    /// `clip((x − mean) / std, −clip, clip)` in double precision, then rounded to float: the
    /// trainer computes it in `f64` and IEEE subtraction and division are exact-rounded, so
    /// onnxruntime reproduces it bit for bit (in float it would not).
    fn normalization(&mut self, norm: &Normalization, std: &[f64], x: &str) -> String {
        self.normalization_named("norm", &norm.mean, std, norm.clip, x)
    }

    /// [`GraphBuilder::normalization`] with names under `prefix`, over the last axis of `x`
    /// (which broadcasts the statistics over any leading axes, the node axis included).
    fn normalization_named(&mut self, prefix: &str, mean: &[f64], std: &[f64], clip: f64, x: &str) -> String {
        let d = mean.len();
        let mean = self.f64_initializer(&format!("{prefix}.mean"), &[d], mean.iter().copied());
        let std = self.f64_initializer(&format!("{prefix}.std"), &[d], std.iter().copied());
        let lo = self.f64_initializer(&format!("{prefix}.clip_min"), &[], [-clip]);
        let hi = self.f64_initializer(&format!("{prefix}.clip_max"), &[], [clip]);
        let to_f64 = attr_int("to", DataType::Double as i64);
        let x = self.node("Cast", &format!("{prefix}.to_f64"), &[x], vec![to_f64]);
        let x = self.node("Sub", &format!("{prefix}.sub"), &[&x, &mean], vec![]);
        let x = self.node("Div", &format!("{prefix}.div"), &[&x, &std], vec![]);
        let x = self.node("Clip", &format!("{prefix}.clip"), &[&x, &lo, &hi], vec![]);
        self.node("Cast", &format!("{prefix}.to_f32"), &[&x], vec![attr_int("to", DataType::Float as i64)])
    }

    /// `x·weight + bias` as `MatMul` + `Add` (the weight is `[in, out]` already); the `Add`
    /// writes `output` when given.
    fn linear(&mut self, name: &str, dense: &Dense, x: &str, output: Option<&str>) -> String {
        let weight =
            self.f32_initializer(&format!("{name}.weight"), &[dense.d_in, dense.d_out], dense.weight.iter().copied());
        let bias = self.f32_initializer(&format!("{name}.bias"), &[dense.d_out], dense.bias.iter().copied());
        let xw = self.node("MatMul", &format!("{name}.matmul"), &[x, &weight], vec![]);
        let add = format!("{name}.add");
        self.node_into("Add", &add, &[&xw, &bias], output.unwrap_or(&add), vec![])
    }

    fn activation(&mut self, activation: Activation, layer: &str, x: &str) -> String {
        match activation {
            Activation::Relu => self.node("Relu", &format!("{layer}.relu"), &[x], vec![]),
            Activation::Tanh => self.node("Tanh", &format!("{layer}.tanh"), &[x], vec![]),
            Activation::LeakyRelu => self.node(
                "LeakyRelu",
                &format!("{layer}.leaky_relu"),
                &[x],
                vec![attr_float("alpha", LEAKY_RELU_SLOPE)],
            ),
            Activation::Gelu => {
                // Opset 17 has no Gelu operator: 0.5·x·(1 + erf(x / √2)), the exact form.
                let name = format!("{layer}.gelu");
                let scaled = self.node("Div", &format!("{name}.div"), &[x, GELU_SQRT2], vec![]);
                let erf = self.node("Erf", &format!("{name}.erf"), &[&scaled], vec![]);
                let one_plus = self.node("Add", &format!("{name}.add"), &[&erf, GELU_ONE], vec![]);
                let times_x = self.node("Mul", &format!("{name}.mul"), &[x, &one_plus], vec![]);
                self.node("Mul", &name, &[&times_x, GELU_HALF], vec![])
            }
            Activation::Silu => {
                // No Silu/Swish operator in the default domain: x·sigmoid(x).
                let name = format!("{layer}.silu");
                let sigmoid = self.node("Sigmoid", &format!("{name}.sigmoid"), &[x], vec![]);
                self.node("Mul", &name, &[x, &sigmoid], vec![])
            }
        }
    }
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    attribute(name, AttributeType::Int, AttributeProto { i: Some(i), ..Default::default() })
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    attribute(name, AttributeType::Ints, AttributeProto { ints: ints.to_vec(), ..Default::default() })
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    attribute(name, AttributeType::Float, AttributeProto { f: Some(f), ..Default::default() })
}

/// `value` (which sets the one field that `kind` names) with its name and type discriminator,
/// which the checker requires.
fn attribute(name: &str, kind: AttributeType, value: AttributeProto) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(kind as i32), ..value }
}

/// A `float[batch, width]` graph input or output.
fn float_matrix(name: &str, width: usize, doc: &str) -> ValueInfoProto {
    float_tensor(name, vec![dimension::Value::DimValue(width as i64)], doc)
}

/// A `float[batch, dims…]` graph input or output.
fn float_tensor(name: &str, dims: Vec<dimension::Value>, doc: &str) -> ValueInfoProto {
    let dim = |value| Dimension { value: Some(value), denotation: None };
    let batch = dimension::Value::DimParam(BATCH_DIM.into());
    let tensor = type_proto::Tensor {
        elem_type: Some(DataType::Float as i32),
        shape: Some(TensorShapeProto { dim: std::iter::once(batch).chain(dims).map(dim).collect() }),
    };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), denotation: None }),
        doc_string: Some(doc.into()),
    }
}

/// E.g. `cluster-rl Q-network 11-16-16-10 relu dueling, normalised input`: what Netron and
/// `onnx.helper.printable_graph` show first.
fn graph_doc(mlp: &Mlp, normalised: bool) -> String {
    let mut widths = vec![mlp.hidden.first().unwrap_or(&mlp.head).d_in];
    widths.extend(mlp.hidden.iter().map(|d| d.d_out));
    widths.push(mlp.head.d_out);
    let widths: Vec<String> = widths.iter().map(usize::to_string).collect();
    let activation = activation_name(mlp.activation);
    format!(
        "cluster-rl Q-network {} {activation}{}{}",
        widths.join("-"),
        if mlp.value.is_some() { " dueling" } else { "" },
        if normalised { ", normalised input" } else { "" }
    )
}

/// The activation as the graph's description names it.
fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        Activation::LeakyRelu => "leaky_relu",
        Activation::Gelu => "gelu",
        Activation::Silu => "silu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    use crate::proto::type_proto::Value as TypeValue;

    // The MLP tests below call the writer with an `Mlp`; these wrap it as the `Network` the
    // public functions take.
    fn model_bytes(mlp: &Mlp, n: Option<&Normalization>, info: &ModelInfo) -> Result<Vec<u8>, OnnxError> {
        super::model_bytes(&Network::Mlp(mlp.clone()), n, info)
    }
    fn write(path: impl AsRef<Path>, mlp: &Mlp, n: Option<&Normalization>, info: &ModelInfo) -> Result<(), OnnxError> {
        super::write(path, &Network::Mlp(mlp.clone()), n, info)
    }

    /// A layer whose parameters are distinct and easy to recognise: `weight[i][j] = base + i +
    /// j/10`, `bias[j] = −base − j`.
    fn dense(d_in: usize, d_out: usize, base: f32) -> Dense {
        let weight = (0..d_in * d_out).map(|k| base + (k / d_out) as f32 + (k % d_out) as f32 / 10.0);
        Dense { d_in, d_out, weight: weight.collect(), bias: (0..d_out).map(|j| -base - j as f32).collect() }
    }

    /// 3 → 4 → 5 → 2 (value head when dueling).
    fn mlp(activation: Activation, dueling: bool) -> Mlp {
        Mlp {
            hidden: vec![dense(3, 4, 1.0), dense(4, 5, 2.0)],
            head: dense(5, 2, 3.0),
            value: dueling.then(|| dense(5, 1, 4.0)),
            activation,
        }
    }

    fn norm() -> Normalization {
        Normalization { mean: vec![1.0, -2.0, 3e4], var: vec![4.0, 0.0, 1e8], epsilon: 1e-8, clip: 10.0 }
    }

    fn info() -> ModelInfo {
        ModelInfo {
            producer_version: "1.2.3".into(),
            doc_string: "a test model".into(),
            metadata: vec![("experiment".into(), "park-lb".into()), ("global_step".into(), "3000000".into())],
        }
    }

    /// Encodes and decodes again, so every test reads what a file would hold.
    fn roundtrip(mlp: &Mlp, normalization: Option<&Normalization>) -> ModelProto {
        let bytes = model_bytes(mlp, normalization, &info()).unwrap();
        ModelProto::decode(bytes.as_slice()).unwrap()
    }

    fn graph(model: &ModelProto) -> &GraphProto {
        model.graph.as_ref().unwrap()
    }

    fn ops(model: &ModelProto) -> Vec<&str> {
        graph(model).node.iter().map(|n| n.op_type.as_deref().unwrap()).collect()
    }

    fn node<'a>(model: &'a ModelProto, name: &str) -> &'a NodeProto {
        graph(model).node.iter().find(|n| n.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no node {name}"))
    }

    fn initializer<'a>(model: &'a ModelProto, name: &str) -> &'a TensorProto {
        graph(model)
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no initializer {name}"))
    }

    fn f32s(t: &TensorProto) -> Vec<f32> {
        assert_eq!(t.data_type, Some(DataType::Float as i32), "{:?}", t.name);
        t.raw_data.as_ref().unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    fn f64s(t: &TensorProto) -> Vec<f64> {
        assert_eq!(t.data_type, Some(DataType::Double as i32), "{:?}", t.name);
        t.raw_data.as_ref().unwrap().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// `(elem_type, dims)` of a graph input or output, a symbolic dim as `None`.
    fn value_type(v: &ValueInfoProto) -> (i32, Vec<Option<i64>>, Vec<Option<String>>) {
        let Some(TypeValue::TensorType(t)) = &v.r#type.as_ref().unwrap().value else { panic!("not a tensor") };
        let dims = &t.shape.as_ref().unwrap().dim;
        let values = dims
            .iter()
            .map(|d| match d.value {
                Some(dimension::Value::DimValue(n)) => Some(n),
                _ => None,
            })
            .collect();
        let params = dims
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimParam(p)) => Some(p.clone()),
                _ => None,
            })
            .collect();
        (t.elem_type.unwrap(), values, params)
    }

    fn attr<'a>(node: &'a NodeProto, name: &str) -> &'a AttributeProto {
        node.attribute.iter().find(|a| a.name.as_deref() == Some(name)).unwrap()
    }

    /// Every node input is the graph input, an initializer or the output of an earlier node;
    /// node names and outputs are unique; the last node writes the graph output; nothing is
    /// left unused.
    fn assert_well_formed(model: &ModelProto) {
        let g = graph(model);
        let mut known: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_deref().unwrap()).collect();
        known.extend(g.input.iter().map(|i| i.name.as_deref().unwrap()));
        let mut used = HashSet::new();
        let mut names = HashSet::new();
        for n in &g.node {
            assert!(names.insert(n.name.as_deref().unwrap()), "duplicate node name {:?}", n.name);
            assert_eq!(n.domain, None, "{:?}: default domain", n.name);
            for i in &n.input {
                assert!(known.contains(i.as_str()), "{:?} reads {i} before it exists", n.name);
                used.insert(i.as_str());
            }
            for o in &n.output {
                assert!(known.insert(o.as_str()), "{o} is written twice");
            }
        }
        assert_eq!(g.node.last().unwrap().output, [OUTPUT_NAME]);
        for t in &g.initializer {
            assert!(used.contains(t.name.as_deref().unwrap()), "unused initializer {:?}", t.name);
        }
        for n in &g.node[..g.node.len() - 1] {
            assert!(used.contains(n.output[0].as_str()), "unused value {}", n.output[0]);
        }
    }

    #[test]
    fn plain_model_header_io_and_layers() {
        let net = mlp(Activation::Relu, false);
        let model = roundtrip(&net, None);

        assert_eq!(model.ir_version, Some(8));
        assert_eq!(model.opset_import, [OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }]);
        assert_eq!(model.producer_name.as_deref(), Some("cluster-rl"));
        assert_eq!(model.producer_version.as_deref(), Some("1.2.3"));
        assert_eq!(model.doc_string.as_deref(), Some("a test model"));
        let meta: Vec<_> =
            model.metadata_props.iter().map(|e| (e.key.clone().unwrap(), e.value.clone().unwrap())).collect();
        assert_eq!(meta, info().metadata);

        let g = graph(&model);
        assert_eq!(g.name.as_deref(), Some("q_network"));
        assert_eq!(g.doc_string.as_deref(), Some("cluster-rl Q-network 3-4-5-2 relu"));
        assert_eq!(g.input.len(), 1);
        assert_eq!(g.output.len(), 1);
        assert_eq!(g.input[0].name.as_deref(), Some("obs"));
        assert_eq!(g.output[0].name.as_deref(), Some("q_values"));
        let batch = Some("batch".to_string());
        assert_eq!(value_type(&g.input[0]), (1, vec![None, Some(3)], vec![batch.clone(), None]));
        assert_eq!(value_type(&g.output[0]), (1, vec![None, Some(2)], vec![batch, None]));

        assert_eq!(ops(&model), ["MatMul", "Add", "Relu", "MatMul", "Add", "Relu", "MatMul", "Add"]);
        let names: Vec<_> = g.initializer.iter().map(|t| t.name.as_deref().unwrap()).collect();
        assert_eq!(
            names,
            ["hidden.0.weight", "hidden.0.bias", "hidden.1.weight", "hidden.1.bias", "head.weight", "head.bias"]
        );
        for (layer, dense) in [("hidden.0", &net.hidden[0]), ("hidden.1", &net.hidden[1]), ("head", &net.head)] {
            let w = initializer(&model, &format!("{layer}.weight"));
            let b = initializer(&model, &format!("{layer}.bias"));
            assert_eq!(w.dims, [dense.d_in as i64, dense.d_out as i64]);
            assert_eq!(b.dims, [dense.d_out as i64]);
            // Row-major [in, out], as stored: no transpose.
            assert_eq!(f32s(w), dense.weight);
            assert_eq!(f32s(b), dense.bias.to_vec());
        }
        assert_eq!(f32s(initializer(&model, "hidden.0.weight"))[..3], [1.0, 1.1, 1.2]);

        assert_eq!(node(&model, "hidden.0.matmul").input, ["obs", "hidden.0.weight"]);
        assert_eq!(node(&model, "hidden.0.add").input, ["hidden.0.matmul", "hidden.0.bias"]);
        assert_eq!(node(&model, "hidden.1.matmul").input, ["hidden.0.relu", "hidden.1.weight"]);
        assert_eq!(node(&model, "head.matmul").input, ["hidden.1.relu", "head.weight"]);
        assert_eq!(node(&model, "head.add").output, ["q_values"]);
        assert_well_formed(&model);
    }

    /// A node-scoring network: node rows of 3, a task row of 2, hidden `[4, 5, 6]` (two
    /// embedding layers of 4 and 5, scoring width 6).
    fn node_scoring(activation: Activation, dueling: bool) -> NodeScoring {
        let zero_bias = |mut d: Dense| {
            d.bias.iter_mut().for_each(|b| *b = 0.0);
            d
        };
        NodeScoring {
            embed_node: dense(3, 4, 0.1),
            embed_task: zero_bias(dense(2, 4, 0.2)),
            embed: vec![dense(4, 5, 0.3)],
            score_node: dense(5, 6, 0.4),
            score_pool: zero_bias(dense(10, 6, 0.5)),
            head: dense(6, 1, 0.6),
            value: dueling.then(|| dense(10, 1, 0.7)),
            activation,
        }
    }

    #[test]
    fn node_scoring_graph_has_a_symbolic_node_axis() {
        for activation in [Activation::Relu, Activation::Gelu] {
            for dueling in [false, true] {
                for normalised in [false, true] {
                    let net = Network::NodeScoring(node_scoring(activation, dueling));
                    let norm = Normalization { mean: vec![0.5; 5], var: vec![2.0; 5], epsilon: 1e-8, clip: 4.0 };
                    let norm = normalised.then_some(&norm);
                    let bytes = super::model_bytes(&net, norm, &info()).unwrap();
                    let model = ModelProto::decode(bytes.as_slice()).unwrap();
                    assert_well_formed(&model);
                    let g = graph(&model);
                    let io: Vec<_> = g.input.iter().chain(&g.output).map(value_type).collect();
                    let float = DataType::Float as i32;
                    let (b, n) = (Some(BATCH_DIM.to_string()), Some(NODES_DIM.to_string()));
                    assert_eq!(
                        io,
                        [
                            (float, vec![None, None, Some(3)], vec![b.clone(), n.clone(), None]),
                            (float, vec![None, Some(2)], vec![b.clone(), None]),
                            (float, vec![None, None], vec![b.clone(), n.clone()]),
                        ]
                    );
                    assert_eq!(g.input[0].name.as_deref(), Some(NODES_INPUT_NAME));
                    assert_eq!(g.input[1].name.as_deref(), Some(TASK_INPUT_NAME));
                    // Every layer's tensors, named as in policy.safetensors, with their values.
                    for (name, d) in net.layers() {
                        let w = initializer(&model, &format!("{name}.weight"));
                        assert_eq!(w.dims, [d.d_in as i64, d.d_out as i64], "{name}");
                        assert_eq!(f32s(w), d.weight, "{name}");
                        assert_eq!(f32s(initializer(&model, &format!("{name}.bias"))), d.bias, "{name}");
                    }
                    // The summary pools over the node axis, dropping it.
                    for pool in ["summary.mean", "summary.max"] {
                        assert_eq!(attr(node(&model, pool), "axes").ints, [1], "{pool}");
                        assert_eq!(attr(node(&model, pool), "keepdims").i, Some(0), "{pool}");
                    }
                    assert_eq!(node(&model, "summary").input, ["summary.mean", "summary.max"]);
                    assert_eq!(node(&model, "embed_node.task").input, ["embed_node.add", "embed_task.unsqueeze"]);
                    assert_eq!(node(&model, "score_node.pool").input, ["score_node.add", "score_pool.unsqueeze"]);
                    if normalised {
                        // Node rows with the first 3 statistics, the task with the last 2.
                        assert_eq!(f64s(initializer(&model, "norm.nodes.mean")), [0.5; 3]);
                        assert_eq!(f64s(initializer(&model, "norm.task.std")), [(2.0f64 + 1e-8).sqrt(); 2]);
                        assert_eq!(node(&model, "embed_node.matmul").input[0], "norm.nodes.to_f32");
                    }
                    let ops = ops(&model);
                    assert_eq!(ops.contains(&"Erf"), activation == Activation::Gelu);
                    assert_eq!(ops.iter().filter(|o| **o == "ReduceMean").count(), 1 + usize::from(dueling));
                    let doc = g.doc_string.as_deref().unwrap();
                    assert!(doc.starts_with("cluster-rl node-scoring Q-network 3+2-4-5-6"), "{doc}");
                }
            }
        }
    }

    #[test]
    fn node_scoring_networks_that_do_not_fit_are_refused() {
        let err = |net: NodeScoring, norm: Option<&Normalization>| {
            super::model_bytes(&Network::NodeScoring(net), norm, &info()).unwrap_err().to_string()
        };
        let mut net = node_scoring(Activation::Relu, true);
        net.score_pool = dense(8, 6, 0.0);
        assert_eq!(err(net, None), "onnx export: score_pool: has 8 inputs but the summary (mean and max) has 10");
        let mut net = node_scoring(Activation::Relu, false);
        net.embed[0].weight[7] = f32::NAN;
        assert_eq!(err(net, None), "onnx export: embed.0.weight[1, 2] is NaN, not a finite number");
        let norm = Normalization { mean: vec![0.0; 7], var: vec![1.0; 7], epsilon: 1e-8, clip: 4.0 };
        assert_eq!(
            err(node_scoring(Activation::Relu, false), Some(&norm)),
            "onnx export: normalization: mean has 7 entries but the network takes 5 features"
        );
    }

    #[test]
    fn each_activation_has_its_nodes() {
        let cases: [(Activation, &[&str]); 5] = [
            (Activation::Relu, &["Relu"]),
            (Activation::Tanh, &["Tanh"]),
            (Activation::LeakyRelu, &["LeakyRelu"]),
            (Activation::Gelu, &["Div", "Erf", "Add", "Mul", "Mul"]),
            (Activation::Silu, &["Sigmoid", "Mul"]),
        ];
        for (activation, nodes) in cases {
            let model = roundtrip(&mlp(activation, false), None);
            let mut want = Vec::new();
            for _ in 0..2 {
                want.extend(["MatMul", "Add"]);
                want.extend(nodes);
            }
            want.extend(["MatMul", "Add"]);
            assert_eq!(ops(&model), want, "{activation:?}");
            assert_well_formed(&model);
            let gelu_constants =
                graph(&model).initializer.iter().filter(|t| t.name.as_deref().unwrap().starts_with("gelu."));
            assert_eq!(gelu_constants.count(), if activation == Activation::Gelu { 3 } else { 0 }, "{activation:?}");
        }
    }

    #[test]
    fn leaky_relu_slope_is_a_float_attribute() {
        let model = roundtrip(&mlp(Activation::LeakyRelu, false), None);
        let alpha = attr(node(&model, "hidden.1.leaky_relu"), "alpha");
        assert_eq!(alpha.r#type, Some(AttributeType::Float as i32));
        assert_eq!(alpha.f, Some(0.01));
    }

    #[test]
    fn gelu_is_half_x_times_one_plus_erf_of_x_over_sqrt2() {
        let model = roundtrip(&mlp(Activation::Gelu, false), None);
        assert_eq!(node(&model, "hidden.0.gelu.div").input, ["hidden.0.add", "gelu.sqrt2"]);
        assert_eq!(node(&model, "hidden.0.gelu.erf").input, ["hidden.0.gelu.div"]);
        assert_eq!(node(&model, "hidden.0.gelu.add").input, ["hidden.0.gelu.erf", "gelu.one"]);
        assert_eq!(node(&model, "hidden.0.gelu.mul").input, ["hidden.0.add", "hidden.0.gelu.add"]);
        assert_eq!(node(&model, "hidden.0.gelu").input, ["hidden.0.gelu.mul", "gelu.half"]);
        assert_eq!(node(&model, "hidden.1.matmul").input[0], "hidden.0.gelu");
        for (name, value) in [("gelu.sqrt2", std::f32::consts::SQRT_2), ("gelu.one", 1.0), ("gelu.half", 0.5)] {
            let t = initializer(&model, name);
            assert!(t.dims.is_empty(), "{name} is a scalar");
            assert_eq!(f32s(t), [value]);
        }
    }

    #[test]
    fn silu_multiplies_by_the_sigmoid() {
        let model = roundtrip(&mlp(Activation::Silu, false), None);
        assert_eq!(node(&model, "hidden.0.silu.sigmoid").input, ["hidden.0.add"]);
        assert_eq!(node(&model, "hidden.0.silu").input, ["hidden.0.add", "hidden.0.silu.sigmoid"]);
    }

    #[test]
    fn dueling_adds_the_value_to_the_centred_advantages() {
        let net = mlp(Activation::Tanh, true);
        let model = roundtrip(&net, None);
        assert_eq!(
            ops(&model),
            [
                "MatMul",
                "Add",
                "Tanh",
                "MatMul",
                "Add",
                "Tanh",
                "MatMul",
                "Add",
                "MatMul",
                "Add",
                "ReduceMean",
                "Sub",
                "Add"
            ]
        );
        assert_eq!(graph(&model).doc_string.as_deref(), Some("cluster-rl Q-network 3-4-5-2 tanh dueling"));
        assert_eq!(initializer(&model, "value.weight").dims, [5, 1]);
        assert_eq!(f32s(initializer(&model, "value.bias")), [-4.0]);
        assert_eq!(node(&model, "value.matmul").input, ["hidden.1.tanh", "value.weight"]);
        assert_eq!(node(&model, "head.add").output, ["head.add"]);

        let mean = node(&model, "dueling.mean");
        assert_eq!(mean.input, ["head.add"]);
        let axes = attr(mean, "axes");
        assert_eq!((axes.r#type, axes.ints.clone()), (Some(AttributeType::Ints as i32), vec![1]));
        let keepdims = attr(mean, "keepdims");
        assert_eq!((keepdims.r#type, keepdims.i), (Some(AttributeType::Int as i32), Some(1)));
        assert_eq!(node(&model, "dueling.sub").input, ["head.add", "dueling.mean"]);
        let add = node(&model, "dueling.add");
        assert_eq!(add.input, ["dueling.sub", "value.add"]);
        assert_eq!(add.output, ["q_values"]);
        assert_eq!(value_type(&graph(&model).output[0]).1, [None, Some(2)]);
        assert_well_formed(&model);
    }

    #[test]
    fn normalisation_runs_in_double_before_the_first_layer() {
        let n = norm();
        let model = roundtrip(&mlp(Activation::Relu, false), Some(&n));
        assert_eq!(ops(&model)[..6], ["Cast", "Sub", "Div", "Clip", "Cast", "MatMul"]);
        assert_eq!(graph(&model).doc_string.as_deref(), Some("cluster-rl Q-network 3-4-5-2 relu, normalised input"));

        let to_f64 = node(&model, "norm.to_f64");
        assert_eq!(to_f64.input, ["obs"]);
        assert_eq!((attr(to_f64, "to").r#type, attr(to_f64, "to").i), (Some(AttributeType::Int as i32), Some(11)));
        assert_eq!(node(&model, "norm.sub").input, ["norm.to_f64", "norm.mean"]);
        assert_eq!(node(&model, "norm.div").input, ["norm.sub", "norm.std"]);
        assert_eq!(node(&model, "norm.clip").input, ["norm.div", "norm.clip_min", "norm.clip_max"]);
        let to_f32 = node(&model, "norm.to_f32");
        assert_eq!(attr(to_f32, "to").i, Some(1));
        assert_eq!(node(&model, "hidden.0.matmul").input, ["norm.to_f32", "hidden.0.weight"]);

        let mean = initializer(&model, "norm.mean");
        assert_eq!(mean.dims, [3]);
        assert_eq!(f64s(mean), n.mean);
        let std = initializer(&model, "norm.std");
        assert_eq!(std.dims, [3]);
        // Bit-identical to the trainer's `(var + 1e-8).sqrt()`; a zero variance divides by 1e-4.
        let want: Vec<f64> = n.var.iter().map(|v| (v + n.epsilon).sqrt()).collect();
        assert_eq!(f64s(std), want);
        assert_eq!(f64s(std)[1], 1e-4);
        for (name, value) in [("norm.clip_min", -10.0), ("norm.clip_max", 10.0)] {
            let t = initializer(&model, name);
            assert!(t.dims.is_empty(), "{name} is a scalar");
            assert_eq!(f64s(t), [value]);
        }
        // The graph input stays float: callers pass raw observations.
        assert_eq!(value_type(&graph(&model).input[0]).0, DataType::Float as i32);
        assert_well_formed(&model);
    }

    #[test]
    fn every_combination_is_well_formed() {
        let n = norm();
        for activation in
            [Activation::Relu, Activation::Tanh, Activation::LeakyRelu, Activation::Gelu, Activation::Silu]
        {
            for dueling in [false, true] {
                for normalization in [None, Some(&n)] {
                    assert_well_formed(&roundtrip(&mlp(activation, dueling), normalization));
                }
            }
        }
    }

    #[test]
    fn a_network_without_hidden_layers_is_linear() {
        // No activation is used, so no GELU constants either.
        let net =
            Mlp { hidden: vec![], head: dense(3, 2, 1.0), value: Some(dense(3, 1, 2.0)), activation: Activation::Gelu };
        let model = roundtrip(&net, Some(&norm()));
        assert_eq!(
            ops(&model),
            ["Cast", "Sub", "Div", "Clip", "Cast", "MatMul", "Add", "MatMul", "Add", "ReduceMean", "Sub", "Add"]
        );
        assert_eq!(value_type(&graph(&model).input[0]).1, [None, Some(3)]);
        assert_eq!(
            graph(&model).doc_string.as_deref(),
            Some("cluster-rl Q-network 3-2 gelu dueling, normalised input")
        );
        assert_well_formed(&model);
    }

    #[test]
    fn empty_doc_string_is_left_out() {
        let model = ModelProto::decode(
            model_bytes(&mlp(Activation::Relu, false), None, &ModelInfo::default()).unwrap().as_slice(),
        )
        .unwrap();
        assert_eq!(model.doc_string, None);
        assert_eq!(model.producer_version.as_deref(), Some(""));
        assert!(model.metadata_props.is_empty());
    }

    #[test]
    fn int_attribute_zero_is_still_encoded() {
        // proto2 `optional`: a 0 must reach the wire, or the checker sees an INT attribute
        // without a value.
        let bytes = attr_int("k", 0).encode_to_vec();
        assert_eq!(AttributeProto::decode(bytes.as_slice()).unwrap().i, Some(0));
    }

    fn err(mlp: &Mlp, normalization: Option<&Normalization>) -> String {
        model_bytes(mlp, normalization, &info()).unwrap_err().to_string()
    }

    #[test]
    fn layers_that_do_not_chain_are_refused() {
        let mut net = mlp(Activation::Relu, true);
        net.hidden[1] = dense(6, 5, 2.0);
        assert_eq!(
            err(&net, None),
            "onnx export: hidden.1.weight: has 6 input rows but the layer before it has 4 outputs"
        );

        let mut net = mlp(Activation::Relu, false);
        net.head = dense(4, 2, 3.0);
        assert_eq!(err(&net, None), "onnx export: head.weight: has 4 input rows but the layer before it has 5 outputs");

        let mut net = mlp(Activation::Relu, false);
        net.hidden[0].bias = vec![0.0; 3];
        assert_eq!(err(&net, None), "onnx export: hidden.0.bias: has 3 entries but hidden.0.weight has 4 outputs");

        let mut net = mlp(Activation::Relu, false);
        net.hidden[1].weight.pop();
        assert_eq!(err(&net, None), "onnx export: hidden.1.weight: has 19 values but its shape [4, 5] needs 20");

        let mut net = mlp(Activation::Relu, true);
        net.value = Some(dense(5, 2, 4.0));
        assert_eq!(err(&net, None), "onnx export: value.weight: has 2 outputs but a value head has 1");

        let mut net = mlp(Activation::Relu, true);
        net.value = Some(dense(4, 1, 4.0));
        assert!(err(&net, None).starts_with("onnx export: value.weight: has 4 input rows"));

        let mut net = mlp(Activation::Relu, false);
        net.hidden[0] = dense(0, 4, 1.0);
        assert_eq!(err(&net, None), "onnx export: hidden.0.weight: has shape [0, 4]; a layer needs inputs and outputs");

        let net = Mlp { hidden: vec![], head: dense(3, 0, 1.0), value: None, activation: Activation::Relu };
        assert!(
            matches!(model_bytes(&net, None, &info()), Err(OnnxError::Shape { tensor, .. }) if tensor == "head.weight")
        );
    }

    #[test]
    fn non_finite_parameters_are_refused() {
        let mut net = mlp(Activation::Relu, false);
        net.hidden[1].weight[2 * 5 + 3] = f32::NAN;
        assert_eq!(err(&net, None), "onnx export: hidden.1.weight[2, 3] is NaN, not a finite number");

        let mut net = mlp(Activation::Relu, true);
        net.value.as_mut().unwrap().bias[0] = f32::NEG_INFINITY;
        assert_eq!(err(&net, None), "onnx export: value.bias[0] is -inf, not a finite number");
    }

    #[test]
    fn unusable_normalisations_are_refused() {
        let net = mlp(Activation::Relu, false);
        let case = |edit: fn(&mut Normalization)| {
            let mut n = norm();
            edit(&mut n);
            err(&net, Some(&n))
        };
        assert_eq!(
            case(|n| n.mean.push(0.0)),
            "onnx export: normalization: mean has 4 entries but the network takes 3 features"
        );
        assert_eq!(
            case(|n| n.var.truncate(2)),
            "onnx export: normalization: var has 2 entries but the network takes 3 features"
        );
        assert_eq!(case(|n| n.mean[2] = f64::NAN), "onnx export: normalization.mean[2] is NaN, not a finite number");
        assert_eq!(case(|n| n.var[0] = f64::INFINITY), "onnx export: normalization.var[0] is inf, not a finite number");
        assert_eq!(case(|n| n.epsilon = f64::NAN), "onnx export: normalization.epsilon is NaN, not a finite number");
        assert_eq!(case(|n| n.clip = f64::INFINITY), "onnx export: normalization.clip is inf, not a finite number");
        assert_eq!(case(|n| n.var[1] = -1.0), "onnx export: normalization: var[1] = -1 is negative");
        assert_eq!(case(|n| n.epsilon = -1e-8), "onnx export: normalization: epsilon -0.00000001 is negative");
        assert_eq!(case(|n| n.clip = 0.0), "onnx export: normalization: clip 0 must be > 0");
        assert_eq!(
            case(|n| n.epsilon = 0.0),
            "onnx export: normalization: var[1] + epsilon is 0, so feature 1 cannot be scaled"
        );
    }

    #[test]
    fn duplicate_metadata_keys_are_refused() {
        let mut info = info();
        info.metadata.push(("experiment".into(), "other".into()));
        let e = model_bytes(&mlp(Activation::Relu, false), None, &info).unwrap_err();
        assert_eq!(e.to_string(), "onnx export: metadata key \"experiment\" appears more than once");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("policy-onnx-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = temp_dir("write");
        let path = dir.join("policy.onnx");
        fs::write(&path, b"old").unwrap();
        let (net, n) = (mlp(Activation::Silu, true), norm());
        write(&path, &net, Some(&n), &info()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), model_bytes(&net, Some(&n), &info()).unwrap());
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, ["policy.onnx"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_errors_name_the_file_and_write_nothing() {
        let dir = temp_dir("write-err");
        let path = dir.join("missing").join("policy.onnx");
        let e = write(&path, &mlp(Activation::Relu, false), None, &info()).unwrap_err();
        let OnnxError::Io { path: failed, .. } = &e else { panic!("{e}") };
        assert!(failed.starts_with(dir.join("missing")), "{}", failed.display());
        assert!(e.to_string().starts_with(&dir.join("missing").display().to_string()), "{e}");

        // An invalid network is refused before the file is touched.
        let mut net = mlp(Activation::Relu, false);
        net.head.bias[0] = f32::NAN;
        let path = dir.join("policy.onnx");
        assert!(matches!(write(&path, &net, None, &info()), Err(OnnxError::NonFinite { .. })));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
