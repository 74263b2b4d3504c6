//! [`PolicyError`]: what can go wrong reading an export, checking a network, encoding a cluster
//! state or answering a request.

use std::path::PathBuf;

/// Errors of the policy runtime.
///
/// Messages are lowercase and context first (the file, tensor, field or value), and say what
/// would have been valid. Nothing in this crate panics on user input: every bad file, shape or
/// request is one of these.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The export directory does not exist (or is not a directory).
    #[error("export directory {}: not found (an export is made with `cluster-rl export`)", dir.display())]
    MissingDir {
        /// The directory asked for.
        dir: PathBuf,
    },

    /// One of the two files of an export is missing.
    #[error(
        "export directory {}: missing {file} (an export holds policy.json and policy.safetensors; \
         make one with `cluster-rl export`)",
        dir.display()
    )]
    MissingFile {
        /// The export directory.
        dir: PathBuf,
        /// `policy.json` or `policy.safetensors`.
        file: &'static str,
    },

    /// The directory cannot be written as an export, or kept changing while it was read.
    #[error("export directory {}: {reason}", dir.display())]
    ExportDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong and what would do.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// `policy.json` is not valid JSON or does not match the schema (unknown field, wrong type,
    /// missing field).
    #[error("{}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// serde's message, with line and column.
        message: String,
    },

    /// The file is not a cluster-rl policy (`format` in `policy.json`, or `format` in the
    /// safetensors `__metadata__`).
    #[error("{}: format is {found}, expected \"cluster-rl-policy\" (not a cluster-rl policy export)", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What the file says, as JSON (`(missing)` when absent).
        found: String,
    },

    /// `format_version` is not one this runtime reads.
    #[error(
        "{}: format_version is {found}, but this runtime reads versions 1 to {supported} only \
         (export the policy again with a matching `cluster-rl`)",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// What the file says, as JSON (`(missing)` when absent).
        found: String,
        /// [`crate::FORMAT_VERSION`].
        supported: u32,
    },

    /// A value in the metadata is invalid or inconsistent with another (normalisation length,
    /// observation layout versus network shape, ...).
    #[error("{}: {field}: {message}", path.display())]
    Meta {
        /// The file (or `<in-memory export>`).
        path: PathBuf,
        /// The field, as a JSON path (`normalization.var[3]`).
        field: String,
        /// What is wrong and what is valid.
        message: String,
    },

    /// `policy.safetensors` cannot be parsed (truncated, bad header, bad offsets).
    #[error("{}: not a valid safetensors file: {message}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The safetensors crate's message.
        message: String,
    },

    /// A tensor the network needs is absent.
    #[error("{}: missing tensor {name} (the network needs {expected})", path.display())]
    MissingTensor {
        /// The file (or `<in-memory export>`).
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Every tensor the network needs, comma-separated.
        expected: String,
    },

    /// A tensor the network does not use is present.
    #[error("{}: unexpected tensor {name} (the network has exactly {expected})", path.display())]
    UnexpectedTensor {
        /// The file (or `<in-memory export>`).
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Every tensor the network needs, comma-separated.
        expected: String,
    },

    /// A tensor's shape disagrees with `network` in `policy.json`.
    #[error("{}: tensor {name} has shape {found:?}, expected {expected:?}", path.display())]
    TensorShape {
        /// The file (or `<in-memory export>`).
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape `network` implies.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },

    /// A tensor is not F32.
    #[error("{}: tensor {name} has dtype {found}, expected F32", path.display())]
    TensorDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype found.
        found: String,
    },

    /// A weight is NaN or infinite.
    #[error("{}: tensor {name} holds {value} at flat index {index}, expected finite weights", path.display())]
    NonFiniteWeight {
        /// The file (or `<in-memory export>`).
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Row-major index of the value.
        index: usize,
        /// The value.
        value: f32,
    },

    /// The network's layers do not fit together (a layer's width, or a vector's length).
    #[error("network: {0}")]
    Network(#[from] policy_core::ShapeError),

    /// The normalisation does not fit the network or cannot be applied (a length other than
    /// the network's input width, a NaN or negative clip, a non-finite statistic).
    #[error("normalization: {field}: {message}")]
    Normalization {
        /// The field, as a JSON path inside the normalisation (`var[3]`).
        field: String,
        /// What is wrong and what is valid.
        message: String,
    },

    /// The observation passed to `act` / `q_values` has the wrong length.
    #[error("observation has {got} values, expected {expected} (the policy's obs_dim)")]
    ObsLength {
        /// Length given.
        got: usize,
        /// The policy's `obs_dim`.
        expected: usize,
    },

    /// The mask passed to `act` has the wrong length.
    #[error("mask has {got} values, expected {expected} (one per action)")]
    MaskLength {
        /// Length given.
        got: usize,
        /// The policy's `n_actions`.
        expected: usize,
    },

    /// The batch passed to `q_values_batch` does not hold `batch · obs_dim` values.
    #[error(
        "batch has {got} values, expected {batch}·{obs_dim} = {} ({batch} observations of obs_dim values)",
        batch * obs_dim
    )]
    BatchLength {
        /// Length given.
        got: usize,
        /// Number of observations asked for.
        batch: usize,
        /// The policy's `obs_dim`.
        obs_dim: usize,
    },

    /// An observation value is NaN or infinite.
    #[error("observation[{index}] is {value}, expected a finite number")]
    NonFiniteObs {
        /// Index of the value (row-major over the batch for `q_values_batch`).
        index: usize,
        /// The value.
        value: f32,
    },

    /// The mask passed to `act` allows no action.
    #[error("mask is all false: no action is valid")]
    NoValidAction,

    /// The cluster state has no nodes.
    #[error("cluster state: the cluster has no nodes; this policy places tasks on {expected} nodes")]
    EmptyCluster {
        /// The policy's number of nodes.
        expected: usize,
    },

    /// The cluster state has no nodes, for a policy that serves any number of them.
    #[error("cluster state: the cluster has no nodes; a task is placed on one of at least 1 node")]
    NoNodes,

    /// An observation for a node-scoring network is not a whole number (at least one) of node
    /// rows followed by the task row.
    #[error(
        "observation has {got} values, expected n·{node_width} + {task_width} for a node count n ≥ 1 (a \
         node-scoring policy reads {node_width} values per node, then {task_width} for the task)"
    )]
    NodeRows {
        /// Length given.
        got: usize,
        /// Values per node row.
        node_width: usize,
        /// Values of the task row.
        task_width: usize,
    },

    /// A batch for a node-scoring network is not `batch` observations of one length.
    #[error("batch has {got} values, which is not {batch} observations of equal length")]
    BatchRows {
        /// Length given.
        got: usize,
        /// Number of observations asked for.
        batch: usize,
    },

    /// The cluster state has a different number of nodes than the policy was trained on.
    #[error("cluster state: {got} nodes, but this policy places tasks on {expected} nodes (ids 0..{expected})")]
    NodeCount {
        /// Nodes given.
        got: usize,
        /// The policy's number of nodes.
        expected: usize,
    },

    /// A node id is not below the number of nodes.
    #[error("cluster state: node id {id} is out of range (valid ids are 0..{n_nodes}, one per node)")]
    NodeIdOutOfRange {
        /// The id given.
        id: usize,
        /// The policy's number of nodes.
        n_nodes: usize,
    },

    /// Two nodes have the same id.
    #[error("cluster state: node id {id} appears twice (each of the ids 0..{n_nodes} appears once)")]
    DuplicateNodeId {
        /// The repeated id.
        id: usize,
        /// The policy's number of nodes.
        n_nodes: usize,
    },

    /// A per-resource vector has the wrong length.
    #[error("cluster state: {field} has {got} values, expected {expected} (one per resource: {resources})")]
    ResourceCount {
        /// Which vector: `node 3: capacity`, `task: demands`.
        field: String,
        /// Length given.
        got: usize,
        /// Number of resources.
        expected: usize,
        /// The resource names, comma-separated.
        resources: String,
    },

    /// A number in the cluster state is NaN, infinite, negative, or zero where it divides.
    #[error("cluster state: {field} is {value}, expected {valid}")]
    InvalidValue {
        /// Which number: `node 3: capacity[1]`, `task: size`.
        field: String,
        /// The value.
        value: f64,
        /// What is valid (`a finite number > 0`).
        valid: &'static str,
    },

    /// No node may take the task: every node is down or too small for its demands.
    #[error("cluster state: no node can take task {task} (every node is down or smaller than its demands)")]
    NoFeasibleNode {
        /// The task's id.
        task: u64,
    },
}

/// Result with [`PolicyError`].
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
