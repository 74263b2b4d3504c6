//! Real workloads from Alibaba's production GPU cluster: the `openb` node and pod lists published
//! with the ATC'23 paper "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
//! Fragmentation Gradient Descent" (Weng et al.), shipped in `experiments/traces/openb/` (see its
//! README for the source, licence and formats). Any cluster's lists in the same two CSV formats
//! work too.
//!
//! # Pipeline
//! 1. [`NodeList::read`] / [`PodList::read`] (or `parse` from text) read and check the CSVs. Units
//!    become cores, GiB and GPUs; errors are [`ClusterError::Trace`] with the file, 1-based line
//!    and 1-based column.
//! 2. [`pods_to_tasks`] turns pods into [`TraceTask`]s: arrival = `creation_time`, work = observed
//!    runtime `deletion_time − scheduled_time` (seconds, on a node of speed 1), demand
//!    `[cpu, mem, gpu]`, a priority class from the pod's QoS, and the nodes its `gpu_spec` allows
//!    (a [`NodeSet`]). What is dropped, censored or adjusted is counted in [`TraceStats`].
//! 3. [`TraceTasks::window`] draws `len` consecutive tasks of a [`Split`] from an episode seed;
//!    [`compress_window`] rescales the window's arrival gaps to a target offered load;
//!    [`sample_subcluster`] picks `k` nodes that keep the cluster's node-shape mix.
//!
//! # How odd values are handled
//! | case | shipped files | what happens |
//! |---|---|---|
//! | empty `scheduled_time` (never scheduled) | the 897 `Pending` pods | dropped and counted ([`TraceOptions::drop_never_scheduled`]; `false` makes them an error) |
//! | empty `scheduled_time` on a non-`Pending` pod | none | error: only pending pods can lack one |
//! | `Pending` pod with a `scheduled_time` | none | kept: it held its node from scheduling to deletion |
//! | `pod_phase` `Running` | 5,193 pods | censored: the runtime is a lower bound; kept and counted ([`TraceOptions::drop_censored`]) |
//! | empty `deletion_time` | none | censored at the trace's end: runtime = last timestamp in the file − `scheduled_time` |
//! | `deletion_time` < `scheduled_time` (negative runtime) | none | error at the `deletion_time` column |
//! | zero runtime | none (the shortest is 4 s) | work = [`TraceOptions::min_runtime`] (1 s, the trace's resolution), counted |
//! | `scheduled_time` or `deletion_time` < `creation_time` | none | error at that column |
//! | `num_gpu` 0 and `gpu_milli` 0 | 1,088 CPU-only pods | GPU demand 0 |
//! | `num_gpu` 0 with `gpu_milli` > 0, `num_gpu` ≥ 1 with `gpu_milli` 0, `num_gpu` ≥ 2 with `gpu_milli` ≠ 1000, `gpu_milli` > 1000, fractional `num_gpu` | none | error at the offending column |
//! | a `gpu_spec` model that no node has | none | error at the `gpu_spec` column, listing the models that exist |
//! | a repeated model in `gpu_spec` (`V100M16\|V100M32\|V100M32`) | 25 pods | the duplicate is ignored |
//! | a pod that fits no node it may use | 1 pod in `gpuspec33` (line 1641: 120 cores, 720 GiB, 8 × G2; no G2 node has more than 96 cores) | dropped and counted ([`TraceOptions::drop_unplaceable`]; `false` makes it an error): it could never run |
//!
//! GPU demand is a scalar: a pod asking for 0.46 of one GPU demands 0.46 of the node's GPU
//! capacity; which physical GPU it shares (the fragmentation the paper studies) is not modelled.
//!
//! # What the shipped data looks like
//! - **Censoring.** `Running` is the pod's phase when last seen, and Kubernetes keeps that phase
//!   when a running pod is deleted: only 34 of the 5,193 `Running` pods have the trace's last
//!   timestamp as `deletion_time` ([`TraceStats::censored_at_end`]); the others were deleted
//!   while running, up to 34 days before the end. All of them count as censored (the phase says
//!   the pod had not finished); [`TraceOptions::drop_censored`] removes them all.
//! - **Time span.** Creation times cover 149 days, but only 27 pods were created in the first
//!   115 days (long-running services, the first created at time 0 and running 145 days); the
//!   other 8,125 arrive in the last 34 days. The train/test split is therefore by task count in
//!   creation order, not by time: with the defaults, tasks 0..5078 (created up to day 140.8) train
//!   and 5078..7255 (day 140.8 to 149.3) test, and windows of 1,000 tasks span 2 to 6 days —
//!   except the 27 training windows that start on one of the early pods, which span up to 121
//!   days (after [`compress_window`] those pods stay spread over most of the window and the rest
//!   arrive bunched at its end).
//! - **Load.** At its own pace a 1,000-task window (five tried) offers the whole 1,523-node cluster about
//!   0.2–0.7% load on its bottleneck resource (GPUs): reaching a load of 0.8 compresses arrival
//!   gaps by factors of about 0.003–0.008. Runtimes are heavy-tailed (median 616 s, mean about 8
//!   hours), so a few long pods carry most of the offered work.
//! - **`gpu_spec`.** The `gpuspec33` list is the default one with GPU-model constraints added
//!   to about a third of the GPU pods by the paper's authors to match production's share of
//!   constrained pods; which pod has which constraint is synthetic.
//!
//! # Splits and windows
//! [`Split::Train`] is the first [`TRAIN_FRACTION`] of the tasks (after the options of
//! [`pods_to_tasks`] have dropped what they drop), moved forward past tasks created at the same
//! second as the last one; [`Split::Test`] is the rest, so no task is in both and every training
//! task was created before every test task. A window is `len` consecutive tasks of one split
//! whose offset an episode seed draws uniformly ([`TraceTasks::window_range`]). With the default
//! pod list and options there are 4,079 training and 1,178 test windows of 1,000 tasks.
//!
//! Reading and converting the 8,152-pod list takes about 5–12 ms (release build, best of five,
//! on a loaded 2-core machine).
//!
//! Both files are refused above [`MAX_FILE_BYTES`]; node lists above [`MAX_NODES`] rows and pod
//! lists above [`MAX_PODS`] rows are refused at the first row past the limit.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::PriorityClass;
use crate::error::{ClusterError, invalid};

/// Largest node or pod list accepted, in bytes (64 MiB; the shipped pod lists are under 0.6 MiB).
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Most node rows accepted in one node list (the shipped list has 1,523).
pub const MAX_NODES: usize = 100_000;
/// Most pod rows accepted in one pod list (the shipped lists have 8,152).
pub const MAX_PODS: usize = 2_000_000;
/// Fraction of the tasks (in creation order) in the training/validation split; the rest is test.
pub const TRAIN_FRACTION: f64 = 0.7;
/// Default number of consecutive tasks in a window.
pub const DEFAULT_WINDOW_LEN: usize = 1000;
/// Resource names of a task's demand and a node's capacity, in order.
pub const RESOURCES: [&str; 3] = ["cpu", "mem", "gpu"];

/// Columns of a node list.
pub const NODE_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
/// Columns of a pod list.
pub const POD_COLUMNS: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];

// Indices into POD_COLUMNS.
const P_NAME: usize = 0;
const P_CPU: usize = 1;
const P_MEM: usize = 2;
const P_NUM_GPU: usize = 3;
const P_GPU_MILLI: usize = 4;
const P_SPEC: usize = 5;
const P_QOS: usize = 6;
const P_PHASE: usize = 7;
const P_CREATION: usize = 8;
const P_DELETION: usize = 9;
const P_SCHEDULED: usize = 10;

// ---------------------------------------------------------------------------------------------
// Nodes

/// One node of a node list.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Serial number (`sn`), unique in the list.
    pub name: String,
    /// CPU cores (`cpu_milli / 1000`).
    pub cpu: f64,
    /// Memory, GiB (`memory_mib / 1024`).
    pub mem_gib: f64,
    /// Number of GPUs (a whole number; 0 for CPU-only nodes).
    pub gpu: f64,
    /// GPU model; `None` when the `model` field is empty (CPU-only nodes).
    pub model: Option<String>,
    /// 1-based line of the node in its file.
    pub line: usize,
}

impl NodeSpec {
    /// Capacity per resource, `[cpu, mem, gpu]` (see [`RESOURCES`]).
    pub fn capacity(&self) -> [f64; 3] {
        [self.cpu, self.mem_gib, self.gpu]
    }
}

/// A node shape: the capacities and GPU model that identical nodes share.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeShape {
    /// CPU cores.
    pub cpu: f64,
    /// Memory, GiB.
    pub mem_gib: f64,
    /// Number of GPUs.
    pub gpu: f64,
    /// GPU model, `None` for CPU-only nodes.
    pub model: Option<String>,
}

impl fmt::Display for NodeShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} cores, {} GiB, ", self.cpu, self.mem_gib)?;
        match &self.model {
            Some(m) => write!(f, "{} × {m})", self.gpu),
            None if self.gpu == 0.0 => write!(f, "no GPU)"),
            None => write!(f, "{} × unknown GPU)", self.gpu),
        }
    }
}

/// A parsed node list (`sn,cpu_milli,memory_mib,gpu,model`, columns in any order).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeList {
    path: PathBuf,
    nodes: Vec<NodeSpec>,
}

impl NodeList {
    /// Reads and checks a node list file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ClusterError> {
        let path = path.as_ref();
        Self::parse(&read_bounded(path)?, path)
    }

    /// Parses node-list text; `path` is only used in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, ClusterError> {
        let path = path.as_ref();
        let mut csv = Csv::new(text, path, &NODE_COLUMNS, "node list")?;
        let mut nodes = Vec::new();
        let mut names = HashSet::new();
        while let Some(row) = csv.next_row()? {
            if nodes.len() == MAX_NODES {
                return Err(
                    row.line_err(format!("more than {MAX_NODES} nodes: refusing the file (see openb::MAX_NODES)"))
                );
            }
            let name = row.text(0);
            if name.is_empty() {
                return Err(row.err(0, "empty node name (sn)".into()));
            }
            if !names.insert(name) {
                return Err(row.err(0, format!("duplicate node name {name:?}")));
            }
            let cpu = row.positive(1)? / 1000.0;
            let mem_gib = row.positive(2)? / 1024.0;
            let gpu = row.whole(3)?;
            let model = Some(row.text(4)).filter(|m| !m.is_empty()).map(str::to_string);
            if let Some(m) = &model
                && m.contains('|')
            {
                return Err(row.err(4, format!("model {m:?} contains '|', which separates models in gpu_spec")));
            }
            nodes.push(NodeSpec { name: name.to_string(), cpu, mem_gib, gpu, model, line: row.line });
        }
        if nodes.is_empty() {
            return Err(csv.header_err("node list has a header but no nodes".into()));
        }
        Ok(Self { path: path.to_path_buf(), nodes })
    }

    /// The file the list came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The nodes, in file order (node index = position here).
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the list is empty (never true for a parsed list).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The distinct GPU models of the nodes, sorted.
    pub fn models(&self) -> Vec<String> {
        let mut m: Vec<String> = self.nodes.iter().filter_map(|n| n.model.clone()).collect();
        m.sort();
        m.dedup();
        m
    }

    /// Total capacity per resource of the given nodes (all nodes when `None`).
    pub fn total_capacity(&self, nodes: Option<&[usize]>) -> [f64; 3] {
        let mut total = [0.0; 3];
        let mut add = |n: &NodeSpec| total.iter_mut().zip(n.capacity()).for_each(|(t, c)| *t += c);
        match nodes {
            Some(idx) => idx.iter().filter_map(|&i| self.nodes.get(i)).for_each(&mut add),
            None => self.nodes.iter().for_each(&mut add),
        }
        total
    }

    /// Identical nodes (same cpu, memory, GPU count and model) grouped into shapes, with their
    /// counts, most common first (ties in order of first appearance in the file).
    pub fn shapes(&self) -> Vec<(NodeShape, usize)> {
        self.shape_members().into_iter().map(|(s, members)| (s, members.len())).collect()
    }

    /// The nodes at `indices`, in that order (a sub-cluster, or the nodes reordered by shape);
    /// the path stays the file's, so errors still name it.
    ///
    /// # Errors
    /// An index past the list's end, named `openb.nodes`.
    pub fn select(&self, indices: &[usize]) -> Result<NodeList, ClusterError> {
        let mut nodes = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some(n) = self.nodes.get(i) else {
                return Err(invalid("openb.nodes", i, format!("node indices below {}", self.nodes.len())));
            };
            nodes.push(n.clone());
        }
        Ok(NodeList { path: self.path.clone(), nodes })
    }

    /// Shapes (ordered as [`NodeList::shapes`]) with the indices of their nodes, ascending.
    pub fn shape_members(&self) -> Vec<(NodeShape, Vec<usize>)> {
        let mut index: HashMap<(u64, u64, u64, Option<&str>), usize> = HashMap::new();
        let mut groups: Vec<(NodeShape, Vec<usize>)> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let key = (n.cpu.to_bits(), n.mem_gib.to_bits(), n.gpu.to_bits(), n.model.as_deref());
            let g = *index.entry(key).or_insert_with(|| {
                let shape = NodeShape { cpu: n.cpu, mem_gib: n.mem_gib, gpu: n.gpu, model: n.model.clone() };
                groups.push((shape, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        // Stable: ties keep their order of first appearance.
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        groups
    }
}

// ---------------------------------------------------------------------------------------------
// Pods

/// Kubernetes quality-of-service class of a pod, as the trace names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// `LS`: latency-sensitive.
    Ls,
    /// `Guaranteed`.
    Guaranteed,
    /// `Burstable`.
    Burstable,
    /// `BE`: best effort.
    Be,
}

impl Qos {
    /// Every QoS, in the order that [`TraceOptions::qos_class`] is indexed by.
    pub const ALL: [Qos; 4] = [Qos::Ls, Qos::Guaranteed, Qos::Burstable, Qos::Be];

    /// The name used in the trace (`LS`, `Guaranteed`, `Burstable`, `BE`).
    pub fn name(self) -> &'static str {
        match self {
            Qos::Ls => "LS",
            Qos::Guaranteed => "Guaranteed",
            Qos::Burstable => "Burstable",
            Qos::Be => "BE",
        }
    }

    /// Position in [`Qos::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == s)
    }
}

/// A pod's Kubernetes phase at the end of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// `Running`: still running when last seen; its runtime is a lower bound (censored).
    Running,
    /// `Failed`: ended with an error.
    Failed,
    /// `Pending`: never started; in the shipped files never scheduled either.
    Pending,
    /// `Succeeded`: completed.
    Succeeded,
}

impl PodPhase {
    /// Every phase.
    pub const ALL: [PodPhase; 4] = [PodPhase::Running, PodPhase::Failed, PodPhase::Pending, PodPhase::Succeeded];

    /// The name used in the trace.
    pub fn name(self) -> &'static str {
        match self {
            PodPhase::Running => "Running",
            PodPhase::Failed => "Failed",
            PodPhase::Pending => "Pending",
            PodPhase::Succeeded => "Succeeded",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// One pod of a pod list, checked for consistency (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct PodSpec {
    /// Pod name.
    pub name: String,
    /// CPU cores requested (`cpu_milli / 1000`).
    pub cpu: f64,
    /// Memory requested, GiB (`memory_mib / 1024`).
    pub mem_gib: f64,
    /// GPUs requested: `num_gpu × gpu_milli / 1000` (a fraction of one GPU for GPU-sharing pods).
    pub gpu: f64,
    /// GPU models the pod may run on (`gpu_spec` split on `|`, duplicates removed); `None` when
    /// the field is empty (any node).
    pub gpu_spec: Option<Vec<String>>,
    /// Quality-of-service class.
    pub qos: Qos,
    /// Phase at the end of the trace.
    pub phase: PodPhase,
    /// Creation time, seconds from the trace start.
    pub creation: f64,
    /// Time the pod was bound to a node, seconds; `None` if it never was.
    pub scheduled: Option<f64>,
    /// Deletion time, seconds; `None` if the field is empty (not deleted within the trace).
    pub deletion: Option<f64>,
    /// 1-based line of the pod in its file.
    pub line: usize,
}

/// A parsed pod list (columns as [`POD_COLUMNS`], in any order).
#[derive(Debug, Clone, PartialEq)]
pub struct PodList {
    path: PathBuf,
    pods: Vec<PodSpec>,
    /// 1-based file column of each of POD_COLUMNS.
    columns: [usize; 11],
    end_time: f64,
}

impl PodList {
    /// Reads and checks a pod list file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ClusterError> {
        let path = path.as_ref();
        Self::parse(&read_bounded(path)?, path)
    }

    /// Parses pod-list text; `path` is only used in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, ClusterError> {
        let path = path.as_ref();
        let mut csv = Csv::new(text, path, &POD_COLUMNS, "pod list")?;
        let mut pods = Vec::with_capacity((text.len() / 64).min(MAX_PODS));
        let mut names = HashSet::new();
        let mut end_time = 0.0f64;
        while let Some(row) = csv.next_row()? {
            if pods.len() == MAX_PODS {
                return Err(row.line_err(format!("more than {MAX_PODS} pods: refusing the file (see openb::MAX_PODS)")));
            }
            let pod = parse_pod(&row)?;
            if !names.insert(row.text(P_NAME)) {
                return Err(row.err(P_NAME, format!("duplicate pod name {:?}", pod.name)));
            }
            end_time = [Some(pod.creation), pod.scheduled, pod.deletion].into_iter().flatten().fold(end_time, f64::max);
            pods.push(pod);
        }
        if pods.is_empty() {
            return Err(csv.header_err("pod list has a header but no pods".into()));
        }
        let columns = std::array::from_fn(|i| csv.pos[i] + 1);
        Ok(Self { path: path.to_path_buf(), pods, columns, end_time })
    }

    /// The file the list came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pods, in file order.
    pub fn pods(&self) -> &[PodSpec] {
        &self.pods
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether the list is empty (never true for a parsed list).
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// The trace's last timestamp: the largest creation, scheduled or deletion time in the file.
    pub fn end_time(&self) -> f64 {
        self.end_time
    }

    /// 1-based column of a [`POD_COLUMNS`] field in this file (0 for an unknown name).
    pub fn column(&self, field: &str) -> usize {
        POD_COLUMNS.iter().position(|c| *c == field).map_or(0, |i| self.columns[i])
    }

    fn err(&self, line: usize, field: usize, message: String) -> ClusterError {
        trace_err(&self.path, line, self.columns[field], message)
    }
}

fn parse_pod(row: &Row<'_, '_>) -> Result<PodSpec, ClusterError> {
    let name = row.text(P_NAME);
    if name.is_empty() {
        return Err(row.err(P_NAME, "empty pod name".into()));
    }
    let cpu = row.number(P_CPU)? / 1000.0;
    let mem_gib = row.number(P_MEM)? / 1024.0;
    let num_gpu = row.whole(P_NUM_GPU)?;
    let gpu_milli = row.number(P_GPU_MILLI)?;
    if gpu_milli > 1000.0 {
        return Err(row.err(P_GPU_MILLI, format!("gpu_milli {gpu_milli} is over 1000 (one whole GPU)")));
    }
    if num_gpu == 0.0 && gpu_milli != 0.0 {
        return Err(row.err(P_GPU_MILLI, format!("gpu_milli {gpu_milli} with num_gpu 0: expected 0")));
    }
    if num_gpu >= 1.0 && gpu_milli == 0.0 {
        return Err(row.err(P_GPU_MILLI, format!("gpu_milli 0 with num_gpu {num_gpu}: expected 1..=1000")));
    }
    if num_gpu >= 2.0 && gpu_milli != 1000.0 {
        return Err(row.err(
            P_GPU_MILLI,
            format!("gpu_milli {gpu_milli} with num_gpu {num_gpu}: multi-GPU pods use whole GPUs (1000)"),
        ));
    }
    let gpu = num_gpu * gpu_milli / 1000.0;
    let spec = row.text(P_SPEC);
    let gpu_spec = if spec.is_empty() {
        None
    } else {
        let mut models: Vec<String> = Vec::new();
        for m in spec.split('|').map(str::trim) {
            if m.is_empty() {
                return Err(row.err(P_SPEC, format!("gpu_spec {spec:?} has an empty model between '|'")));
            }
            if !models.iter().any(|x| x == m) {
                models.push(m.to_string());
            }
        }
        Some(models)
    };
    let qos_text = row.text(P_QOS);
    let qos = Qos::parse(qos_text).ok_or_else(|| {
        let valid: Vec<_> = Qos::ALL.iter().map(|q| q.name()).collect();
        row.err(P_QOS, format!("unknown qos {qos_text:?}: expected one of {}", valid.join(", ")))
    })?;
    let phase_text = row.text(P_PHASE);
    let phase = PodPhase::parse(phase_text).ok_or_else(|| {
        let valid: Vec<_> = PodPhase::ALL.iter().map(|p| p.name()).collect();
        row.err(P_PHASE, format!("unknown pod_phase {phase_text:?}: expected one of {}", valid.join(", ")))
    })?;
    let creation = row.number(P_CREATION)?;
    let scheduled = row.optional(P_SCHEDULED)?;
    let deletion = row.optional(P_DELETION)?;
    match scheduled {
        None if phase != PodPhase::Pending => {
            return Err(row.err(
                P_SCHEDULED,
                format!("a {} pod with an empty scheduled_time: only Pending pods can lack one", phase.name()),
            ));
        }
        Some(s) if s < creation => {
            return Err(row.err(P_SCHEDULED, format!("scheduled_time {s} is earlier than creation_time {creation}")));
        }
        _ => {}
    }
    if let Some(d) = deletion {
        if d < creation {
            return Err(row.err(P_DELETION, format!("deletion_time {d} is earlier than creation_time {creation}")));
        }
        if let Some(s) = scheduled
            && d < s
        {
            return Err(
                row.err(P_DELETION, format!("negative runtime: deletion_time {d} is earlier than scheduled_time {s}"))
            );
        }
    }
    Ok(PodSpec {
        name: name.to_string(),
        cpu,
        mem_gib,
        gpu,
        gpu_spec,
        qos,
        phase,
        creation,
        scheduled,
        deletion,
        line: row.line,
    })
}

// ---------------------------------------------------------------------------------------------
// Pods to tasks

/// A priority class name and its weight (in the reward and in weighted JCT).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSpec {
    /// Name for reports.
    pub name: String,
    /// Weight, finite and > 0.
    pub weight: f64,
}

/// How [`pods_to_tasks`] converts pods.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    /// The priority classes; a task's class is an index into this list.
    pub classes: Vec<ClassSpec>,
    /// Class index of each QoS, in [`Qos::ALL`] order (LS, Guaranteed, Burstable, BE).
    pub qos_class: [usize; 4],
    /// Drop pods that were never scheduled (empty `scheduled_time`); when `false` such a pod is
    /// an error (it has no runtime to replay).
    pub drop_never_scheduled: bool,
    /// Drop censored pods (phase `Running`, or no `deletion_time`), whose runtime is only a lower
    /// bound; by default they are kept with that lower bound as their work.
    pub drop_censored: bool,
    /// Drop pods whose demand fits no node they may use (they could never run); when `false`
    /// such a pod is an error.
    pub drop_unplaceable: bool,
    /// Work given to a pod whose runtime is exactly 0 (deleted in the second it was scheduled),
    /// seconds; finite and > 0. The default, 1 s, is the trace's time resolution.
    pub min_runtime: f64,
    /// Ignore the pods' `gpu_spec` (every pod may use every node); off by default.
    pub ignore_gpu_spec: bool,
}

impl Default for TraceOptions {
    /// One class per QoS: `LS` 3, `Guaranteed` 3, `Burstable` 2, `BE` 1 (latency-sensitive and
    /// guaranteed pods are the ones whose delay costs most; best-effort pods the least). Drops
    /// never-scheduled and unplaceable pods, keeps censored ones, zero runtimes become 1 s.
    fn default() -> Self {
        let class = |name: &str, weight: f64| ClassSpec { name: name.into(), weight };
        Self {
            classes: vec![class("LS", 3.0), class("Guaranteed", 3.0), class("Burstable", 2.0), class("BE", 1.0)],
            qos_class: [0, 1, 2, 3],
            drop_never_scheduled: true,
            drop_censored: false,
            drop_unplaceable: true,
            min_runtime: 1.0,
            ignore_gpu_spec: false,
        }
    }
}

impl TraceOptions {
    fn validate(&self) -> Result<(), ClusterError> {
        if self.classes.is_empty() || self.classes.len() > u16::MAX as usize {
            return Err(invalid("openb.classes", self.classes.len(), "1 to 65535 priority classes"));
        }
        for (i, c) in self.classes.iter().enumerate() {
            if !(c.weight.is_finite() && c.weight > 0.0) {
                return Err(invalid(format!("openb.classes[{i}].weight"), c.weight, "a finite value > 0"));
            }
        }
        for (q, &c) in Qos::ALL.iter().zip(&self.qos_class) {
            if c >= self.classes.len() {
                return Err(invalid(
                    format!("openb.qos_class[{}]", q.name()),
                    c,
                    format!("a class index in 0..{}", self.classes.len()),
                ));
            }
        }
        if !(self.min_runtime.is_finite() && self.min_runtime > 0.0) {
            return Err(invalid("openb.min_runtime", self.min_runtime, "a finite value > 0"));
        }
        Ok(())
    }
}

/// One task converted from a pod.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceTask {
    /// Index of the pod in [`PodList::pods`].
    pub pod: usize,
    /// 1-based line of the pod in its file.
    pub line: usize,
    /// Arrival time: the pod's `creation_time`, seconds (rebased by [`compress_window`]).
    pub arrival: f64,
    /// Work: the observed runtime `deletion_time − scheduled_time`, seconds on a speed-1 node.
    pub work: f64,
    /// Demand `[cpu cores, mem GiB, GPUs]` (see [`RESOURCES`]).
    pub demand: [f64; 3],
    /// Priority class, an index into [`TraceTasks::classes`].
    pub class: u16,
    /// The nodes its `gpu_spec` allows, an index into [`TraceTasks::node_sets`]; `None` = any.
    pub node_set: Option<u16>,
    /// The runtime is a lower bound (the pod was still running when last seen).
    pub censored: bool,
}

/// The nodes that a `gpu_spec` allows.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSet {
    /// The GPU models, sorted.
    pub models: Vec<String>,
    /// Indices of the nodes with one of those models, ascending.
    pub nodes: Vec<usize>,
}

/// What [`pods_to_tasks`] did with the pods. `pods = tasks + never_scheduled + unplaceable +
/// censored_dropped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Pods in the list.
    pub pods: usize,
    /// Tasks produced.
    pub tasks: usize,
    /// Pods dropped because they were never scheduled (empty `scheduled_time`).
    pub never_scheduled: usize,
    /// Pods dropped because their demand fits no node they may use.
    pub unplaceable: usize,
    /// Scheduled, placeable pods whose runtime is censored (phase `Running` or no
    /// `deletion_time`), kept or dropped.
    pub censored: usize,
    /// Of those, how many were dropped ([`TraceOptions::drop_censored`]).
    pub censored_dropped: usize,
    /// Censored pods deleted at the trace's last timestamp or not at all: the ones certainly cut
    /// off by the end of the trace (the other `Running` pods were deleted earlier while running).
    pub censored_at_end: usize,
    /// Tasks whose runtime was 0 and became [`TraceOptions::min_runtime`].
    pub zero_runtime: usize,
    /// Tasks restricted to GPU models by a `gpu_spec`.
    pub constrained: usize,
}

/// Which part of a trace a window comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The first [`TRAIN_FRACTION`] of the tasks in creation order: training and validation
    /// windows (validation uses seeds that training never does).
    Train,
    /// The remaining tasks: test windows only.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Tasks converted from a pod list, sorted by arrival (ties in file order).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceTasks {
    /// The tasks.
    pub tasks: Vec<TraceTask>,
    /// Priority classes, with `prob` = the fraction of the tasks in each class (so the list is a
    /// valid [`crate::WorkloadConfig::priorities`]).
    pub classes: Vec<PriorityClass>,
    /// The distinct node sets that `gpu_spec`s allow.
    pub node_sets: Vec<NodeSet>,
    /// Counts of what was dropped, censored and adjusted.
    pub stats: TraceStats,
    train_end: usize,
}

/// Converts pods into tasks (see the module docs for every rule). Errors name the pod's file,
/// line and column.
pub fn pods_to_tasks(pods: &PodList, nodes: &NodeList, opts: &TraceOptions) -> Result<TraceTasks, ClusterError> {
    opts.validate()?;
    let models = nodes.models();
    let shapes = nodes.shapes();
    let mut set_index: HashMap<Vec<String>, u16> = HashMap::new();
    let mut node_sets: Vec<NodeSet> = Vec::new();
    // Per node set: the capacities of the shapes it allows (for the fit check).
    let mut set_caps: Vec<Vec<[f64; 3]>> = Vec::new();
    let all_caps: Vec<[f64; 3]> = shapes.iter().map(|(s, _)| [s.cpu, s.mem_gib, s.gpu]).collect();
    let mut stats = TraceStats { pods: pods.len(), ..TraceStats::default() };
    let mut tasks = Vec::with_capacity(pods.len());
    for (i, p) in pods.pods.iter().enumerate() {
        let spec = if opts.ignore_gpu_spec { None } else { p.gpu_spec.as_ref() };
        let node_set = match spec {
            None => None,
            Some(spec) => {
                let mut key = spec.clone();
                key.sort();
                if let Some(&s) = set_index.get(&key) {
                    Some(s)
                } else {
                    if let Some(bad) = key.iter().find(|m| models.binary_search(m).is_err()) {
                        return Err(pods.err(
                            p.line,
                            P_SPEC,
                            format!(
                                "gpu_spec model {bad:?} is on no node of {}: the models are {}",
                                nodes.path.display(),
                                models.join(", ")
                            ),
                        ));
                    }
                    if node_sets.len() == u16::MAX as usize {
                        return Err(pods.err(p.line, P_SPEC, "more than 65535 distinct gpu_specs".into()));
                    }
                    let in_set = |m: &Option<String>| m.as_ref().is_some_and(|m| key.binary_search(m).is_ok());
                    let members = nodes.nodes.iter().enumerate().filter(|(_, n)| in_set(&n.model)).map(|(j, _)| j);
                    set_caps.push(
                        shapes
                            .iter()
                            .filter(|(s, _)| in_set(&s.model))
                            .map(|(s, _)| [s.cpu, s.mem_gib, s.gpu])
                            .collect(),
                    );
                    node_sets.push(NodeSet { models: key.clone(), nodes: members.collect() });
                    let s = (node_sets.len() - 1) as u16;
                    set_index.insert(key, s);
                    Some(s)
                }
            }
        };
        let Some(scheduled) = p.scheduled else {
            if opts.drop_never_scheduled {
                stats.never_scheduled += 1;
                continue;
            }
            return Err(pods.err(
                p.line,
                P_SCHEDULED,
                "pod was never scheduled, so it has no runtime to replay (drop_never_scheduled is off)".into(),
            ));
        };
        let demand = [p.cpu, p.mem_gib, p.gpu];
        let caps = node_set.map_or(&all_caps, |s| &set_caps[s as usize]);
        if !caps.iter().any(|c| c.iter().zip(&demand).all(|(c, d)| d <= c)) {
            if opts.drop_unplaceable {
                stats.unplaceable += 1;
                continue;
            }
            // Point at the first resource that no allowed node can hold, if there is one.
            let r = (0..3).find(|&r| caps.iter().all(|c| demand[r] > c[r]));
            let field = [P_CPU, P_MEM, P_NUM_GPU][r.unwrap_or(0)];
            return Err(pods.err(
                p.line,
                field,
                format!("demand {demand:?} (cores, GiB, GPUs) fits no node this pod may use: it could never run"),
            ));
        }
        let censored = p.phase == PodPhase::Running || p.deletion.is_none();
        if censored {
            stats.censored += 1;
            if p.deletion.is_none_or(|d| d >= pods.end_time) {
                stats.censored_at_end += 1;
            }
            if opts.drop_censored {
                stats.censored_dropped += 1;
                continue;
            }
        }
        let runtime = p.deletion.unwrap_or(pods.end_time) - scheduled;
        let work = if runtime > 0.0 {
            runtime
        } else {
            stats.zero_runtime += 1;
            opts.min_runtime
        };
        stats.constrained += usize::from(node_set.is_some());
        let class = opts.qos_class[p.qos.index()] as u16;
        tasks.push(TraceTask { pod: i, line: p.line, arrival: p.creation, work, demand, class, node_set, censored });
    }
    if tasks.is_empty() {
        return Err(trace_err(&pods.path, 0, 0, format!("no pod became a task: {stats:?}")));
    }
    // Stable: ties keep file order.
    tasks.sort_by(|a, b| a.arrival.total_cmp(&b.arrival));
    stats.tasks = tasks.len();
    let mut per_class = vec![0usize; opts.classes.len()];
    tasks.iter().for_each(|t| per_class[t.class as usize] += 1);
    let classes = opts
        .classes
        .iter()
        .zip(per_class)
        .map(|(c, n)| PriorityClass { name: c.name.clone(), weight: c.weight, prob: n as f64 / tasks.len() as f64 })
        .collect();
    let train_end = split_point(&tasks);
    Ok(TraceTasks { tasks, classes, node_sets, stats, train_end })
}

/// The first index of the test split: [`TRAIN_FRACTION`] of the tasks, moved forward past any
/// tasks created at the same time as the last training task (a creation time is never split).
fn split_point(tasks: &[TraceTask]) -> usize {
    let n = tasks.len();
    let mut cut = ((n as f64) * TRAIN_FRACTION).floor() as usize;
    while cut > 0 && cut < n && tasks[cut].arrival == tasks[cut - 1].arrival {
        cut += 1;
    }
    cut
}

impl TraceTasks {
    /// The nodes a task may use (`None` = every node).
    pub fn allowed_nodes(&self, task: &TraceTask) -> Option<&[usize]> {
        task.node_set.and_then(|s| self.node_sets.get(s as usize)).map(|s| s.nodes.as_slice())
    }

    /// Index range of a split in [`TraceTasks::tasks`].
    pub fn split_range(&self, split: Split) -> Range<usize> {
        match split {
            Split::Train => 0..self.train_end,
            Split::Test => self.train_end..self.tasks.len(),
        }
    }

    /// The tasks of a split.
    pub fn split(&self, split: Split) -> &[TraceTask] {
        &self.tasks[self.split_range(split)]
    }

    /// Number of distinct windows of `len` consecutive tasks that fit inside a split (0 if the
    /// split is shorter than `len` or `len` is 0).
    pub fn n_windows(&self, split: Split, len: usize) -> usize {
        let n = self.split_range(split).len();
        if len == 0 || len > n { 0 } else { n - len + 1 }
    }

    /// Index range of the window of `len` consecutive tasks of `split` that episode `seed`
    /// draws: its offset is uniform over the split's [`TraceTasks::n_windows`] windows, from a
    /// `ChaCha8Rng` seeded with `seed`.
    pub fn window_range(&self, split: Split, len: usize, seed: u64) -> Result<Range<usize>, ClusterError> {
        let n = self.n_windows(split, len);
        if n == 0 {
            return Err(invalid(
                "openb.window_len",
                len,
                format!("1..={} (the tasks in the {split} split)", self.split_range(split).len()),
            ));
        }
        let offset = ChaCha8Rng::seed_from_u64(seed).random_range(0..n);
        let start = self.split_range(split).start + offset;
        Ok(start..start + len)
    }

    /// The window that episode `seed` draws (see [`TraceTasks::window_range`]), arrivals as in
    /// the trace.
    pub fn window(&self, split: Split, len: usize, seed: u64) -> Result<&[TraceTask], ClusterError> {
        Ok(&self.tasks[self.window_range(split, len, seed)?])
    }
}

// ---------------------------------------------------------------------------------------------
// Time compression

/// What [`compress_window`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compression {
    /// The factor every arrival gap was multiplied by (< 1: time compressed).
    pub factor: f64,
    /// The bottleneck resource (index into [`RESOURCES`]).
    pub bottleneck: usize,
    /// Offered load per resource before rescaling; after it, each is divided by `factor`.
    pub load_before: [f64; 3],
}

/// Offered load per resource of consecutive tasks on a cluster with total capacity `capacity`:
/// `L_r = Σ_i work_i · demand_i,r / (capacity_r · T)`, where `T` = last arrival − first arrival.
/// Infinite for a resource with zero capacity and some demand; NaN when `T` is 0 (or `capacity_r`
/// and the demand are both 0).
pub fn offered_load(window: &[TraceTask], capacity: [f64; 3]) -> [f64; 3] {
    let span = match (window.first(), window.last()) {
        (Some(a), Some(b)) => b.arrival - a.arrival,
        _ => 0.0,
    };
    std::array::from_fn(|r| window.iter().map(|t| t.work * t.demand[r]).sum::<f64>() / (capacity[r] * span))
}

/// Rescales the arrival gaps of a window of consecutive tasks so that the offered load on the
/// bottleneck resource equals `target_load`, keeping the order and the relative gaps.
///
/// With `L_r` as in [`offered_load`], the bottleneck is `b = argmax_r L_r` and the factor is
/// `f = L_b / target_load`; every arrival becomes `f · (arrival − first arrival)` (the window
/// then starts at 0 and spans `f · T`), so the load on `b` becomes exactly `target_load` and every
/// other resource's load is divided by `f` as well. Works and demands are unchanged: only time
/// between arrivals is compressed (`f` < 1) or stretched. `capacity` is the simulated cluster's
/// total capacity per resource, e.g. [`NodeList::total_capacity`] of a sub-cluster.
pub fn compress_window(
    window: &mut [TraceTask],
    capacity: [f64; 3],
    target_load: f64,
) -> Result<Compression, ClusterError> {
    if !(target_load.is_finite() && target_load > 0.0) {
        return Err(invalid("openb.target_load", target_load, "a finite value > 0"));
    }
    if let Some(c) = capacity.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
        return Err(invalid("openb.capacity", c, "finite capacities >= 0"));
    }
    if window.len() < 2 {
        return Err(invalid("openb.window", window.len(), "at least 2 tasks (a window needs a duration)"));
    }
    let first = window[0].arrival;
    let span = window[window.len() - 1].arrival - first;
    if !(span.is_finite() && span > 0.0) || window.windows(2).any(|w| w[1].arrival < w[0].arrival) {
        return Err(invalid(
            "openb.window",
            format!("arrivals {first}..{}", first + span),
            "tasks sorted by arrival that do not all arrive at once",
        ));
    }
    let load = offered_load(window, capacity);
    let mut bottleneck = None;
    for (r, l) in load.iter().enumerate() {
        if l.is_infinite() {
            return Err(invalid(
                "openb.capacity",
                format!("{capacity:?}"),
                format!("some capacity of resource {:?}, which the window's tasks demand", RESOURCES[r]),
            ));
        }
        if l.is_finite() && *l > 0.0 && bottleneck.is_none_or(|b: usize| *l > load[b]) {
            bottleneck = Some(r);
        }
    }
    let Some(b) = bottleneck else {
        return Err(invalid("openb.window", "zero demand", "tasks that demand some resource"));
    };
    let factor = load[b] / target_load;
    for t in window.iter_mut() {
        t.arrival = factor * (t.arrival - first);
    }
    Ok(Compression { factor, bottleneck: b, load_before: load })
}

// ---------------------------------------------------------------------------------------------
// Sub-clusters

/// Picks `k` of the cluster's nodes, keeping its node-shape mix, deterministically per `seed`.
///
/// Each shape ([`NodeList::shapes`]) with `c` of the `N` nodes gets `⌊k·c/N⌋` nodes; the
/// remaining ones go to the shapes with the largest remainders `k·c mod N` (ties: the more common
/// shape first). Then every model in `required_models` that got no node takes one for its
/// commonest shape, from the shape most over its exact quota `k·c/N` that can spare one. Within a
/// shape, nodes are drawn uniformly without replacement from a `ChaCha8Rng` seeded with `seed`.
/// Returns node indices, ascending.
pub fn sample_subcluster<S: AsRef<str>>(
    nodes: &NodeList,
    k: usize,
    required_models: &[S],
    seed: u64,
) -> Result<Vec<usize>, ClusterError> {
    let n = nodes.len();
    if k == 0 || k > n {
        return Err(invalid("openb.subcluster.k", k, format!("1..={n} (the nodes in {})", nodes.path.display())));
    }
    let models = nodes.models();
    let mut required: Vec<&str> = Vec::new();
    for m in required_models.iter().map(|m| m.as_ref()) {
        if models.binary_search_by(|x| x.as_str().cmp(m)).is_err() {
            return Err(invalid(
                "openb.subcluster.required_models",
                m,
                format!("GPU models of the node list: {}", models.join(", ")),
            ));
        }
        if !required.contains(&m) {
            required.push(m);
        }
    }
    if required.len() > k {
        return Err(invalid(
            "openb.subcluster.k",
            k,
            format!("at least {} (one node per required model)", required.len()),
        ));
    }
    let shapes = nodes.shape_members();
    let (n, k) = (n as u128, k as u128);
    let counts: Vec<u128> = shapes.iter().map(|(_, m)| m.len() as u128).collect();
    let mut alloc: Vec<u128> = counts.iter().map(|c| k * c / n).collect();
    let mut order: Vec<usize> = (0..shapes.len()).collect();
    // Stable sort: equal remainders keep the shapes' order (most common first).
    order.sort_by_key(|&s| std::cmp::Reverse((k * counts[s]) % n));
    let left = k - alloc.iter().sum::<u128>();
    for &s in order.iter().take(left as usize) {
        alloc[s] += 1;
    }
    let model_of = |s: usize| shapes[s].0.model.as_deref();
    for m in &required {
        let has = |alloc: &[u128]| (0..shapes.len()).any(|s| model_of(s) == Some(m) && alloc[s] > 0);
        if has(&alloc) {
            continue;
        }
        // Shapes are most common first, so the first of this model is its commonest.
        let Some(take) = (0..shapes.len()).find(|&s| model_of(s) == Some(m)) else { continue };
        // A donor must keep every required model that it alone covers; over-allocation is
        // compared exactly as alloc·N − k·count.
        let donor = (0..shapes.len())
            .filter(|&s| alloc[s] > 0)
            .filter(|&s| {
                let covers_alone = model_of(s).is_some_and(|dm| {
                    required.contains(&dm)
                        && alloc[s] == 1
                        && !(0..shapes.len()).any(|o| o != s && model_of(o) == Some(dm) && alloc[o] > 0)
                });
                !covers_alone
            })
            .max_by(|&a, &b| {
                let over = |s: usize| alloc[s] as i128 * n as i128 - (k * counts[s]) as i128;
                over(a).cmp(&over(b)).then(b.cmp(&a))
            });
        let Some(donor) = donor else {
            return Err(invalid("openb.subcluster.k", k, "enough nodes for one per required model"));
        };
        alloc[donor] -= 1;
        alloc[take] += 1;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = Vec::with_capacity(k as usize);
    for ((shape, members), &a) in shapes.iter().zip(&alloc) {
        if a as usize > members.len() {
            return Err(invalid(
                "openb.subcluster",
                format!("{a} nodes of shape {shape}"),
                "at most the shape's count",
            ));
        }
        let chosen = rand::seq::index::sample(&mut rng, members.len(), a as usize);
        picked.extend(chosen.into_iter().map(|j| members[j]));
    }
    picked.sort_unstable();
    Ok(picked)
}

// ---------------------------------------------------------------------------------------------
// CSV reading

fn trace_err(path: &Path, line: usize, column: usize, message: String) -> ClusterError {
    ClusterError::Trace { path: path.to_path_buf(), line, column, message }
}

/// Reads a file as text, refusing files over [`MAX_FILE_BYTES`] before reading them.
fn read_bounded(path: &Path) -> Result<String, ClusterError> {
    let cannot = |e: std::io::Error| trace_err(path, 0, 0, format!("cannot read: {e}"));
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > MAX_FILE_BYTES as u64 {
        return Err(trace_err(path, 0, 0, format!("file is {len} bytes, over the {MAX_FILE_BYTES}-byte limit")));
    }
    std::fs::read_to_string(path).map_err(cannot)
}

/// A CSV with a header naming known columns in any order. Blank lines and lines starting with
/// `#` are skipped; fields are trimmed; quoting is not supported.
struct Csv<'a, 'p> {
    path: &'p Path,
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    header_line: usize,
    /// Header names, trimmed.
    names: Vec<&'a str>,
    /// 0-based position in the row of each expected column.
    pos: Vec<usize>,
    fields: Vec<&'a str>,
}

/// One data row.
struct Row<'c, 'a> {
    path: &'c Path,
    line: usize,
    fields: &'c [&'a str],
    names: &'c [&'a str],
    pos: &'c [usize],
}

impl<'a, 'p> Csv<'a, 'p> {
    fn new(text: &'a str, path: &'p Path, expected: &[&str], what: &str) -> Result<Self, ClusterError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(trace_err(
                path,
                0,
                0,
                format!("text is {} bytes, over the {MAX_FILE_BYTES}-byte limit", text.len()),
            ));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut csv = Self {
            path,
            lines: text.lines().enumerate(),
            header_line: 1,
            names: Vec::new(),
            pos: Vec::new(),
            fields: Vec::new(),
        };
        let Some((line, header)) = csv.next_line() else {
            return Err(trace_err(path, 1, 0, format!("empty {what}: expected a header {}", expected.join(","))));
        };
        csv.header_line = line;
        csv.names = header.split(',').map(str::trim).collect();
        let at = |col: usize, message: String| trace_err(path, line, col, message);
        for (i, name) in csv.names.iter().enumerate() {
            if csv.names[..i].contains(name) {
                return Err(at(i + 1, format!("header column {name:?} appears twice")));
            }
        }
        let missing: Vec<&str> = expected.iter().copied().filter(|e| !csv.names.contains(e)).collect();
        let extra: Vec<(usize, &str)> =
            csv.names.iter().copied().enumerate().filter(|(_, n)| !expected.contains(n)).collect();
        if let Some(&(col, _)) = extra.first() {
            let names: Vec<String> = extra.iter().map(|(_, n)| format!("{n:?}")).collect();
            let mut message = format!("unknown header column(s) {}", names.join(", "));
            if !missing.is_empty() {
                message += &format!("; missing {}", missing.join(", "));
            }
            return Err(at(col + 1, format!("{message}; a {what} has the columns {}", expected.join(","))));
        }
        if !missing.is_empty() {
            return Err(at(
                0,
                format!(
                    "header lacks column(s) {}; a {what} has the columns {}",
                    missing.join(", "),
                    expected.join(",")
                ),
            ));
        }
        csv.pos = expected.iter().map(|e| csv.names.iter().position(|n| n == e).unwrap_or(0)).collect();
        Ok(csv)
    }

    /// The next line that is not blank or a comment, with its 1-based number.
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        self.lines.by_ref().map(|(i, l)| (i + 1, l)).find(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
    }

    fn header_err(&self, message: String) -> ClusterError {
        trace_err(self.path, self.header_line, 0, message)
    }

    fn next_row(&mut self) -> Result<Option<Row<'_, 'a>>, ClusterError> {
        let Some((line, text)) = self.next_line() else { return Ok(None) };
        self.fields.clear();
        self.fields.extend(text.split(',').map(str::trim));
        if self.fields.len() != self.names.len() {
            return Err(trace_err(
                self.path,
                line,
                0,
                format!("expected {} columns as in the header, found {}", self.names.len(), self.fields.len()),
            ));
        }
        if let Some(c) = self.fields.iter().position(|f| f.contains('"')) {
            return Err(trace_err(self.path, line, c + 1, "quoted fields are not supported".into()));
        }
        Ok(Some(Row { path: self.path, line, fields: &self.fields, names: &self.names, pos: &self.pos }))
    }
}

impl<'a> Row<'_, 'a> {
    /// Error at expected column `col` (its position in this file).
    fn err(&self, col: usize, message: String) -> ClusterError {
        trace_err(self.path, self.line, self.pos[col] + 1, message)
    }

    /// Error about the whole line (column 0).
    fn line_err(&self, message: String) -> ClusterError {
        trace_err(self.path, self.line, 0, message)
    }

    fn text(&self, col: usize) -> &'a str {
        self.fields[self.pos[col]]
    }

    fn name(&self, col: usize) -> &'a str {
        self.names[self.pos[col]]
    }

    /// A finite number >= 0.
    fn number(&self, col: usize) -> Result<f64, ClusterError> {
        let s = self.text(col);
        let v: f64 = s.parse().map_err(|_| {
            if s.is_empty() {
                self.err(col, format!("empty {:?}: expected a number", self.name(col)))
            } else {
                self.err(col, format!("{s:?} in column {:?} is not a number", self.name(col)))
            }
        })?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(self.err(col, format!("{s} in column {:?} must be finite and >= 0", self.name(col))));
        }
        Ok(v)
    }

    /// A finite number > 0.
    fn positive(&self, col: usize) -> Result<f64, ClusterError> {
        let v = self.number(col)?;
        if v == 0.0 {
            return Err(self.err(col, format!("{:?} must be > 0", self.name(col))));
        }
        Ok(v)
    }

    /// A whole number >= 0.
    fn whole(&self, col: usize) -> Result<f64, ClusterError> {
        let v = self.number(col)?;
        if v.fract() != 0.0 {
            return Err(self.err(col, format!("{v} in column {:?} must be a whole number", self.name(col))));
        }
        Ok(v)
    }

    /// Empty, or a finite number >= 0.
    fn optional(&self, col: usize) -> Result<Option<f64>, ClusterError> {
        if self.text(col).is_empty() { Ok(None) } else { self.number(col).map(Some) }
    }
}

#[cfg(test)]
mod tests {
    //! The shipped openb files parse with the documented counts; broken rows fail at their line
    //! and column; splits, windows, compression and sub-clusters behave as documented.

    use super::*;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/traces/openb")
    }

    fn shipped_nodes() -> NodeList {
        NodeList::read(dir().join("openb_node_list_all_node.csv")).unwrap()
    }

    fn shipped_pods(name: &str) -> PodList {
        PodList::read(dir().join(format!("openb_pod_list_{name}.csv"))).unwrap()
    }

    const NODE_HEADER: &str = "sn,cpu_milli,memory_mib,gpu,model\n";
    const POD_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

    /// Four small nodes: a CPU-only one, a 2 × T4, a 4 × V100M16 and an 8 × V100M32.
    fn small_nodes() -> NodeList {
        let text = format!(
            "{NODE_HEADER}n0,8000,32768,0,\nn1,16000,65536,2,T4\nn2,32000,131072,4,V100M16\nn3,64000,262144,8,V100M32\n"
        );
        NodeList::parse(&text, "nodes.csv").unwrap()
    }

    /// The (line, column) and message of a trace error.
    fn pos(r: Result<impl fmt::Debug, ClusterError>, path: &str, part: &str) -> (usize, usize) {
        match r {
            Err(ClusterError::Trace { path: p, line, column, message }) => {
                assert_eq!(p, Path::new(path));
                assert!(message.contains(part), "{message:?} lacks {part:?}");
                (line, column)
            }
            other => panic!("expected a trace error containing {part:?}, got {other:?}"),
        }
    }

    fn node_err(text: &str, part: &str) -> (usize, usize) {
        pos(NodeList::parse(text, "n.csv"), "n.csv", part)
    }

    fn pod_err(rows: &str, part: &str) -> (usize, usize) {
        pos(PodList::parse(&format!("{POD_HEADER}{rows}"), "p.csv"), "p.csv", part)
    }

    #[test]
    fn openb_shipped_node_list_and_its_shapes() {
        let nodes = shipped_nodes();
        assert_eq!(nodes.len(), 1523);
        let n0 = &nodes.nodes()[0];
        assert_eq!(
            (n0.name.as_str(), n0.cpu, n0.mem_gib, n0.gpu, n0.model.as_deref(), n0.line),
            ("openb-node-0000", 32.0, 256.0, 0.0, None, 2)
        );
        assert_eq!(nodes.models(), ["A10", "G2", "G3", "P100", "T4", "V100M16", "V100M32"]);
        let shapes = nodes.shapes();
        assert_eq!(shapes.len(), 27);
        assert_eq!(shapes.iter().map(|s| s.1).sum::<usize>(), 1523);
        let shape = |cpu: f64, mem_gib: f64, gpu: f64, model: Option<&str>| NodeShape {
            cpu,
            mem_gib,
            gpu,
            model: model.map(String::from),
        };
        assert_eq!(
            shapes[..4],
            [
                (shape(96.0, 384.0, 8.0, Some("G2")), 549),
                (shape(104.0, 512.0, 2.0, Some("T4")), 387),
                (shape(32.0, 256.0, 0.0, None), 129),
                (shape(16.0, 120.0, 2.0, Some("P100")), 107),
            ]
        );
        assert_eq!(shapes[0].0.to_string(), "(96 cores, 384 GiB, 8 × G2)");
        assert_eq!(shapes[2].0.to_string(), "(32 cores, 256 GiB, no GPU)");
        assert!(shapes.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(nodes.total_capacity(None), [125_514.0, 597_684.0, 6212.0]);
        assert_eq!(nodes.total_capacity(Some(&[0, 1])), [64.0, 512.0, 0.0]);
    }

    #[test]
    fn openb_shipped_pod_lists_and_their_counts() {
        let nodes = shipped_nodes();
        for name in ["default", "gpuspec33"] {
            let pods = shipped_pods(name);
            assert_eq!(pods.len(), 8152, "{name}");
            let phase = |ph: PodPhase| pods.pods().iter().filter(|p| p.phase == ph).count();
            let phases = PodPhase::ALL.map(phase);
            assert_eq!(phases, [5193, 1870, 897, 192], "{name}: Running, Failed, Pending, Succeeded");
            let qos = Qos::ALL.map(|q| pods.pods().iter().filter(|p| p.qos == q).count());
            assert_eq!(qos, [4647, 7, 100, 3398], "{name}: LS, Guaranteed, Burstable, BE");
            assert_eq!(pods.end_time(), 12_902_960.0);
            let p0 = &pods.pods()[0];
            assert_eq!(
                (p0.cpu, p0.mem_gib, p0.gpu, p0.creation, p0.scheduled, p0.deletion, p0.line),
                (12.0, 16.0, 1.0, 0.0, Some(0.0), Some(12_537_496.0), 2)
            );
            assert_eq!(pods.pods()[1].gpu, 0.46);
            assert_eq!(pods.pods().iter().filter(|p| p.gpu == 0.0).count(), 1088);
            // Every pending pod, and only those, lacks a scheduled time; no deletion time is empty.
            assert!(pods.pods().iter().all(|p| p.scheduled.is_none() == (p.phase == PodPhase::Pending)));
            assert!(pods.pods().iter().all(|p| p.deletion.is_some()));

            let t = pods_to_tasks(&pods, &nodes, &TraceOptions::default()).unwrap();
            let s = t.stats;
            println!("{name}: {s:?}");
            assert_eq!(
                (s.pods, s.never_scheduled, s.censored, s.censored_dropped, s.zero_runtime),
                (8152, 897, 5193, 0, 0)
            );
            // Most Running pods were deleted while running, long before the trace ends.
            assert_eq!(s.censored_at_end, 34);
            assert_eq!(s.pods, s.tasks + s.never_scheduled + s.unplaceable + s.censored_dropped);
            assert_eq!(t.tasks.len(), s.tasks);
            assert!(
                t.tasks.windows(2).all(|w| (w[0].arrival, w[0].line) < (w[1].arrival, w[1].line)),
                "sorted, ties by line"
            );
            assert!(t.tasks.iter().all(|t| t.work >= 4.0), "the shortest runtime is 4 s");
            let probs: f64 = t.classes.iter().map(|c| c.prob).sum();
            assert!((probs - 1.0).abs() < 1e-12);
            assert_eq!(t.classes.iter().map(|c| c.weight).collect::<Vec<_>>(), [3.0, 3.0, 2.0, 1.0]);
            match name {
                "default" => {
                    assert_eq!((s.tasks, s.unplaceable, s.constrained), (7255, 0, 0));
                    assert!(t.node_sets.is_empty());
                }
                _ => {
                    // openb-pod-1639 (line 1641): 120 cores, 720 GiB, 8 × G2; G2 nodes have 96 cores.
                    assert_eq!((s.tasks, s.unplaceable), (7254, 1));
                    assert!(t.tasks.iter().all(|t| t.line != 1641));
                    assert_eq!(s.constrained, t.tasks.iter().filter(|t| t.node_set.is_some()).count());
                    assert_eq!(
                        t.node_sets.len(),
                        15,
                        "16 gpu_spec strings; V100M16|V100M32|V100M32 is V100M16|V100M32"
                    );
                    let strict = TraceOptions { drop_unplaceable: false, ..TraceOptions::default() };
                    let (line, col) =
                        pos(pods_to_tasks(&pods, &nodes, &strict), pods.path().to_str().unwrap(), "fits no node");
                    assert_eq!((line, col), (1641, 2), "cpu is the resource no G2 node has enough of");
                }
            }
            for split in [Split::Train, Split::Test] {
                println!(
                    "{name}: {split}: {} tasks, {} windows of 1000",
                    t.split(split).len(),
                    t.n_windows(split, DEFAULT_WINDOW_LEN)
                );
            }
            let dropped = TraceOptions { drop_censored: true, ..TraceOptions::default() };
            let d = pods_to_tasks(&pods, &nodes, &dropped).unwrap();
            assert_eq!((d.stats.censored, d.stats.censored_dropped), (5193, 5193));
            assert_eq!(d.stats.tasks, s.tasks - 5193);
            assert!(d.tasks.iter().all(|t| !t.censored));
        }
    }

    #[test]
    fn openb_split_never_overlaps_and_windows_stay_inside() {
        let t = pods_to_tasks(&shipped_pods("default"), &shipped_nodes(), &TraceOptions::default()).unwrap();
        let (train, test) = (t.split_range(Split::Train), t.split_range(Split::Test));
        assert_eq!((train.start, train.end, test.start, test.end), (0, 5078, 5078, 7255));
        assert_eq!((t.n_windows(Split::Train, 1000), t.n_windows(Split::Test, 1000)), (4079, 1178));
        // No pod in both; every training task was created strictly before every test task.
        let pods_of = |s: Split| t.split(s).iter().map(|x| x.pod).collect::<HashSet<_>>();
        assert!(pods_of(Split::Train).is_disjoint(&pods_of(Split::Test)));
        assert_eq!(pods_of(Split::Train).len() + pods_of(Split::Test).len(), t.tasks.len());
        assert!(t.split(Split::Train).last().unwrap().arrival < t.split(Split::Test)[0].arrival);
        for seed in 0..300 {
            for (split, range) in [(Split::Train, &train), (Split::Test, &test)] {
                let w = t.window_range(split, 1000, seed).unwrap();
                assert!(range.start <= w.start && w.end <= range.end && w.len() == 1000, "{split} {seed}: {w:?}");
            }
        }
        // The whole split is one window; one task more is refused.
        assert_eq!(t.window_range(Split::Test, 2177, 9).unwrap(), 5078..7255);
        assert!(matches!(t.window_range(Split::Test, 2178, 9), Err(ClusterError::InvalidConfig { .. })));
        assert!(t.window_range(Split::Train, 0, 9).is_err());
    }

    #[test]
    fn openb_windows_are_deterministic_per_seed() {
        let t = pods_to_tasks(&shipped_pods("default"), &shipped_nodes(), &TraceOptions::default()).unwrap();
        let starts: Vec<usize> = (0..50).map(|s| t.window_range(Split::Train, 1000, s).unwrap().start).collect();
        let again: Vec<usize> = (0..50).map(|s| t.window_range(Split::Train, 1000, s).unwrap().start).collect();
        assert_eq!(starts, again);
        assert!(starts.iter().collect::<HashSet<_>>().len() > 45, "seeds draw different windows: {starts:?}");
        let w = t.window(Split::Test, 10, 7).unwrap();
        assert_eq!(w, &t.tasks[t.window_range(Split::Test, 10, 7).unwrap()]);
    }

    #[test]
    fn openb_gpu_spec_maps_to_exactly_the_nodes_of_those_models() {
        let nodes = shipped_nodes();
        let t = pods_to_tasks(&shipped_pods("gpuspec33"), &nodes, &TraceOptions::default()).unwrap();
        let task = t
            .tasks
            .iter()
            .find(|x| x.node_set.is_some_and(|s| t.node_sets[s as usize].models == ["V100M16", "V100M32"]))
            .unwrap();
        let want: Vec<usize> = (0..nodes.len())
            .filter(|&i| matches!(nodes.nodes()[i].model.as_deref(), Some("V100M16" | "V100M32")))
            .collect();
        assert_eq!(want.len(), 85);
        assert_eq!(t.allowed_nodes(task).unwrap(), want);
        // `V100M16|V100M32|V100M32` is the same set.
        let pods = shipped_pods("gpuspec33");
        let dup = t.tasks.iter().find(|x| {
            pods.pods()[x.pod].gpu_spec.as_ref().is_some_and(|s| s.len() == 2) && {
                let line = std::fs::read_to_string(pods.path()).unwrap();
                line.lines().nth(x.line - 1).unwrap().contains("V100M16|V100M32|V100M32")
            }
        });
        assert_eq!(dup.unwrap().node_set, task.node_set);
        let free = t.tasks.iter().find(|x| x.node_set.is_none()).unwrap();
        assert_eq!(t.allowed_nodes(free), None);

        // Small lists: order within gpu_spec does not matter; an unknown model lists the models.
        let nodes = small_nodes();
        let text = format!(
            "{POD_HEADER}a,1000,1024,1,500,V100M32|V100M16,LS,Failed,0,10,0\nb,1000,1024,1,500,V100M16|V100M32,BE,Failed,1,10,1\nc,1000,1024,0,0,T4,BE,Failed,2,10,2\n"
        );
        let t = pods_to_tasks(&PodList::parse(&text, "p.csv").unwrap(), &nodes, &TraceOptions::default()).unwrap();
        assert_eq!(
            t.node_sets,
            [
                NodeSet { models: vec!["V100M16".into(), "V100M32".into()], nodes: vec![2, 3] },
                NodeSet { models: vec!["T4".into()], nodes: vec![1] },
            ]
        );
        assert_eq!(t.tasks.iter().map(|x| x.node_set).collect::<Vec<_>>(), [Some(0), Some(0), Some(1)]);
        let text =
            format!("{POD_HEADER}a,1000,1024,1,500,,LS,Failed,0,10,0\nb,1000,1024,1,500,T4|H100,LS,Failed,0,10,0\n");
        let r = pods_to_tasks(&PodList::parse(&text, "p.csv").unwrap(), &nodes, &TraceOptions::default());
        assert_eq!(
            pos(r.clone(), "p.csv", "\"H100\" is on no node of nodes.csv: the models are T4, V100M16, V100M32"),
            (3, 6)
        );
        // A demand that only an excluded model could hold is unplaceable.
        let text = format!("{POD_HEADER}a,1000,1024,8,1000,T4|V100M16,LS,Failed,0,10,0\n");
        let strict = TraceOptions { drop_unplaceable: false, ..TraceOptions::default() };
        let pods = PodList::parse(&text, "p.csv").unwrap();
        assert_eq!(pos(pods_to_tasks(&pods, &nodes, &strict), "p.csv", "fits no node"), (2, 4));
        assert_eq!(
            pos(pods_to_tasks(&pods, &nodes, &TraceOptions::default()), "p.csv", "no pod became a task"),
            (0, 0)
        );
    }

    #[test]
    fn openb_conversion_rules_on_a_small_list() {
        let nodes = small_nodes();
        // Columns reordered; times in any order; a pending pod; a running (censored) one; a zero
        // runtime; an empty deletion time; ties in creation time.
        let text = "\
name,qos,pod_phase,creation_time,scheduled_time,deletion_time,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec
late,BE,Succeeded,50,60,160,2000,2048,0,0,
pend,LS,Pending,5,,9,1000,1024,0,0,
run,Burstable,Running,20,25,125,500,512,1,250,
zero,Guaranteed,Failed,20,30,30,1000,1024,2,1000,
open,LS,Succeeded,10,10,,1000,1024,0,0,
";
        let pods = PodList::parse(text, "p.csv").unwrap();
        assert_eq!(pods.column("gpu_spec"), 11);
        assert_eq!(pods.column("nope"), 0);
        assert_eq!(pods.end_time(), 160.0);
        let t = pods_to_tasks(&pods, &nodes, &TraceOptions::default()).unwrap();
        let got: Vec<_> = t
            .tasks
            .iter()
            .map(|x| (pods.pods()[x.pod].name.as_str(), x.arrival, x.work, x.demand, x.class, x.censored))
            .collect();
        assert_eq!(
            got,
            [
                ("open", 10.0, 150.0, [1.0, 1.0, 0.0], 0, true),
                ("run", 20.0, 100.0, [0.5, 0.5, 0.25], 2, true),
                ("zero", 20.0, 1.0, [1.0, 1.0, 2.0], 1, false),
                ("late", 50.0, 100.0, [2.0, 2.0, 0.0], 3, false),
            ]
        );
        let s = t.stats;
        assert_eq!(
            s,
            TraceStats {
                pods: 5,
                tasks: 4,
                never_scheduled: 1,
                unplaceable: 0,
                censored: 2,
                censored_dropped: 0,
                censored_at_end: 1,
                zero_runtime: 1,
                constrained: 0
            }
        );
        assert_eq!(t.classes.iter().map(|c| c.prob).collect::<Vec<_>>(), [0.25; 4]);
        // Split: floor(0.7 · 4) = 2, but tasks 1 and 2 share a creation time: the cut moves past.
        assert_eq!(t.split_range(Split::Train), 0..3);

        // Options: classes merged, censored dropped, pending refused, other minimum runtime.
        let opts = TraceOptions {
            classes: vec![
                ClassSpec { name: "high".into(), weight: 5.0 },
                ClassSpec { name: "low".into(), weight: 1.0 },
            ],
            qos_class: [0, 0, 1, 1],
            drop_censored: true,
            min_runtime: 0.5,
            ..TraceOptions::default()
        };
        let t = pods_to_tasks(&pods, &nodes, &opts).unwrap();
        assert_eq!(t.tasks.iter().map(|x| (x.class, x.work)).collect::<Vec<_>>(), [(0, 0.5), (1, 100.0)]);
        assert_eq!((t.stats.censored_dropped, t.stats.tasks), (2, 2));
        assert_eq!(t.classes[0], PriorityClass { name: "high".into(), weight: 5.0, prob: 0.5 });
        let strict = TraceOptions { drop_never_scheduled: false, ..TraceOptions::default() };
        assert_eq!(pos(pods_to_tasks(&pods, &nodes, &strict), "p.csv", "never scheduled"), (3, 5));
        let bad = |o: TraceOptions| match pods_to_tasks(&pods, &nodes, &o) {
            Err(ClusterError::InvalidConfig { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(TraceOptions { qos_class: [0, 1, 2, 4], ..TraceOptions::default() }), "openb.qos_class[BE]");
        assert_eq!(bad(TraceOptions { min_runtime: 0.0, ..TraceOptions::default() }), "openb.min_runtime");
        assert_eq!(bad(TraceOptions { classes: vec![], ..TraceOptions::default() }), "openb.classes");
        let mut o = TraceOptions::default();
        o.classes[1].weight = f64::NAN;
        assert_eq!(bad(o), "openb.classes[1].weight");
    }

    #[test]
    fn openb_node_errors_name_line_and_column() {
        // Columns by name, in any order; a CPU-only node has an empty model.
        let ok =
            NodeList::parse("model,gpu,sn,memory_mib,cpu_milli\r\nT4,2,a,1024,4000\r\n,0,b,2048,2000\r\n", "n.csv")
                .unwrap();
        assert_eq!(ok.nodes()[0].capacity(), [4.0, 1.0, 2.0]);
        assert_eq!((ok.nodes()[1].model.as_ref(), ok.nodes()[1].line), (None, 3));
        assert_eq!(
            node_err(&format!("{NODE_HEADER}a,abc,1024,0,\n"), "\"abc\" in column \"cpu_milli\" is not a number"),
            (2, 2)
        );
        assert_eq!(node_err("gpu,sn,cpu_milli,memory_mib,model\n0,a,1000,-5,\n", "must be finite and >= 0"), (2, 4));
        assert_eq!(node_err(&format!("{NODE_HEADER}a,1000,0,0,\n"), "\"memory_mib\" must be > 0"), (2, 3));
        assert_eq!(node_err(&format!("{NODE_HEADER}a,1000,1024,1.5,T4\n"), "whole number"), (2, 4));
        assert_eq!(
            node_err(&format!("{NODE_HEADER}a,1000,1024,0,\na,1000,1024,0,\n"), "duplicate node name \"a\""),
            (3, 1)
        );
        assert_eq!(node_err(&format!("{NODE_HEADER}a,1000,1024,1,A|B\n"), "contains '|'"), (2, 5));
        assert_eq!(
            node_err(&format!("{NODE_HEADER}a,1000,1024,0\n"), "expected 5 columns as in the header, found 4"),
            (2, 0)
        );
        assert_eq!(node_err("sn,cpu_milli,memory_mib,gpu\n", "lacks column(s) model"), (1, 0));
        assert_eq!(
            node_err(
                "# nodes\nsn,cpu_milli,memory_mib,gpu,model,rack,zone\n",
                "unknown header column(s) \"rack\", \"zone\""
            ),
            (2, 6)
        );
        assert_eq!(node_err("sn,cpu_milli,memory_mib,gpu,gpu\n", "\"gpu\" appears twice"), (1, 5));
        assert_eq!(node_err("", "empty node list"), (1, 0));
        assert_eq!(node_err(NODE_HEADER, "no nodes"), (1, 0));
        assert_eq!(node_err(&format!("{NODE_HEADER}\"a\",1000,1024,0,\n"), "quoted"), (2, 1));
        let missing = NodeList::read(dir().join("no-such-file.csv"));
        assert_eq!(pos(missing, dir().join("no-such-file.csv").to_str().unwrap(), "cannot read"), (0, 0));
    }

    #[test]
    fn openb_pod_errors_name_line_and_column() {
        let good = "a,1000,1024,1,500,,LS,Failed,0,10,0\n";
        PodList::parse(&format!("{POD_HEADER}{good}"), "p.csv").unwrap();
        assert_eq!(
            pod_err(&format!("{good}b,1000,x,1,500,,LS,Failed,0,10,0\n"), "\"x\" in column \"memory_mib\""),
            (3, 3)
        );
        assert_eq!(
            pod_err("a,1000,1024,1,500,,LS,Failed,,10,0\n", "empty \"creation_time\": expected a number"),
            (2, 9)
        );
        assert_eq!(pod_err("a,1000,1024,1,500,,LS,Failed,5,3,1\n", "earlier than creation_time"), (2, 11));
        assert_eq!(
            pod_err(
                "a,1000,1024,1,500,,LS,Failed,0,3,5\n",
                "negative runtime: deletion_time 3 is earlier than scheduled_time 5"
            ),
            (2, 10)
        );
        assert_eq!(pod_err("a,1000,1024,1,500,,LS,Failed,4,3,\n", "only Pending pods"), (2, 11));
        assert_eq!(
            pod_err("a,1000,1024,1,500,,LS,Pending,4,3,\n", "deletion_time 3 is earlier than creation_time 4"),
            (2, 10)
        );
        assert_eq!(
            pod_err(
                "a,1000,1024,1,500,,XL,Failed,0,10,0\n",
                "unknown qos \"XL\": expected one of LS, Guaranteed, Burstable, BE"
            ),
            (2, 7)
        );
        assert_eq!(
            pod_err(
                "a,1000,1024,1,500,,LS,Done,0,10,0\n",
                "unknown pod_phase \"Done\": expected one of Running, Failed, Pending, Succeeded"
            ),
            (2, 8)
        );
        assert_eq!(pod_err("a,1000,1024,0,500,,LS,Failed,0,10,0\n", "with num_gpu 0"), (2, 5));
        assert_eq!(pod_err("a,1000,1024,1,0,,LS,Failed,0,10,0\n", "expected 1..=1000"), (2, 5));
        assert_eq!(pod_err("a,1000,1024,2,500,,LS,Failed,0,10,0\n", "whole GPUs"), (2, 5));
        assert_eq!(pod_err("a,1000,1024,1,1500,,LS,Failed,0,10,0\n", "over 1000"), (2, 5));
        assert_eq!(pod_err("a,1000,1024,0.5,500,,LS,Failed,0,10,0\n", "whole number"), (2, 4));
        assert_eq!(pod_err("a,1000,1024,1,500,T4||P100,LS,Failed,0,10,0\n", "empty model"), (2, 6));
        assert_eq!(pod_err("a,1000,1024,1,500,,LS,Failed,0,inf,0\n", "finite"), (2, 10));
        assert_eq!(pod_err(&format!("{good}{good}"), "duplicate pod name"), (3, 1));
        assert_eq!(pod_err(",1000,1024,1,500,,LS,Failed,0,10,0\n", "empty pod name"), (2, 1));
        assert_eq!(pod_err("a,1000,1024,1,500,,LS,Failed,0,10\n", "found 10"), (2, 0));
        // Header problems are on the header's line.
        let header_err = |text: &str, part: &str| pos(PodList::parse(text, "p.csv"), "p.csv", part);
        let no_qos = POD_HEADER.replace(",qos", "");
        assert_eq!(header_err(&no_qos, "lacks column(s) qos"), (1, 0));
        let renamed = POD_HEADER.replace("pod_phase", "phase");
        assert_eq!(header_err(&renamed, "unknown header column(s) \"phase\"; missing pod_phase"), (1, 8));
        // Oversized text is refused before parsing.
        let huge = " ".repeat(MAX_FILE_BYTES + 1);
        assert_eq!(header_err(&huge, "over the"), (0, 0));
    }

    #[test]
    fn openb_compression_hits_the_target_load_keeping_order_and_gaps() {
        let nodes = shipped_nodes();
        let t = pods_to_tasks(&shipped_pods("default"), &nodes, &TraceOptions::default()).unwrap();
        let cap = nodes.total_capacity(None);
        let mut factors = Vec::new();
        for seed in 0..5 {
            let orig = t.window(Split::Train, 1000, seed).unwrap().to_vec();
            let mut w = orig.clone();
            let c = compress_window(&mut w, cap, 0.8).unwrap();
            factors.push((c.factor, c.bottleneck));
            assert_eq!(c.load_before, offered_load(&orig, cap));
            let after = offered_load(&w, cap);
            assert!((after[c.bottleneck] - 0.8).abs() < 1e-9, "{after:?}");
            assert!(after.iter().all(|l| *l <= 0.8 + 1e-9));
            assert_eq!(w[0].arrival, 0.0);
            for (a, b) in w.iter().zip(&orig) {
                assert!((a.arrival - c.factor * (b.arrival - orig[0].arrival)).abs() <= 1e-6 * b.arrival.max(1.0));
                assert_eq!((a.work, a.demand, a.pod), (b.work, b.demand, b.pod));
            }
            assert!(w.windows(2).all(|p| p[0].arrival <= p[1].arrival));
        }
        println!("compression factors (factor, bottleneck) for target 0.8 on the full cluster: {factors:?}");

        let task = |arrival: f64, work: f64, demand: [f64; 3]| TraceTask {
            pod: 0,
            line: 2,
            arrival,
            work,
            demand,
            class: 0,
            node_set: None,
            censored: false,
        };
        // 2 tasks over 10 s on capacity [10, 10, 1]: loads [0.2, 0.04, 0]; target 0.5 → f = 0.4.
        let mut w = [task(100.0, 10.0, [1.0, 0.2, 0.0]), task(110.0, 10.0, [1.0, 0.2, 0.0])];
        let c = compress_window(&mut w, [10.0, 10.0, 1.0], 0.5).unwrap();
        assert_eq!((c.bottleneck, c.load_before[2]), (0, 0.0));
        assert!((c.factor - 0.4).abs() < 1e-12 && (w[1].arrival - 4.0).abs() < 1e-12);
        let field = |r: Result<Compression, ClusterError>| match r {
            Err(ClusterError::InvalidConfig { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(compress_window(&mut w.clone(), [1.0; 3], 0.0)), "openb.target_load");
        assert_eq!(field(compress_window(&mut w[..1], [1.0; 3], 0.5)), "openb.window");
        assert_eq!(field(compress_window(&mut [w[0], w[0]], [1.0; 3], 0.5)), "openb.window");
        assert_eq!(field(compress_window(&mut w.clone(), [0.0, 1.0, 1.0], 0.5)), "openb.capacity");
        let mut zero = [task(0.0, 1.0, [0.0; 3]), task(1.0, 1.0, [0.0; 3])];
        assert_eq!(field(compress_window(&mut zero, [1.0; 3], 0.5)), "openb.window");
    }

    #[test]
    fn openb_subclusters_keep_the_shape_mix() {
        let nodes = shipped_nodes();
        let members = nodes.shape_members();
        let shape_of: HashMap<usize, usize> =
            members.iter().enumerate().flat_map(|(s, (_, m))| m.iter().map(move |&i| (i, s))).collect();
        for k in [10, 64, 100, 500] {
            let a = sample_subcluster(&nodes, k, &["A10", "V100M32"], 1).unwrap();
            assert_eq!(a, sample_subcluster(&nodes, k, &["A10", "V100M32"], 1).unwrap(), "deterministic");
            assert_ne!(a, sample_subcluster(&nodes, k, &["A10", "V100M32"], 2).unwrap(), "seed matters");
            assert_eq!(a.len(), k);
            assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct, ascending");
            let models: HashSet<_> = a.iter().filter_map(|&i| nodes.nodes()[i].model.as_deref()).collect();
            assert!(models.contains("A10") && models.contains("V100M32"), "{k}: {models:?}");
            // Within one node (or two: one given to a required model, one taken) of the quota.
            for (s, (_, m)) in members.iter().enumerate() {
                let got = a.iter().filter(|&&i| shape_of[&i] == s).count() as f64;
                let quota = k as f64 * m.len() as f64 / nodes.len() as f64;
                assert!((got - quota).abs() < 2.0, "k {k} shape {s}: {got} vs {quota}");
            }
        }
        // Without requirements, largest remainders: 100 nodes → 36 G2 (549·100/1523 = 36.05).
        let a = sample_subcluster::<&str>(&nodes, 100, &[], 3).unwrap();
        assert_eq!(a.iter().filter(|&&i| shape_of[&i] == 0).count(), 36);
        assert!(a.iter().all(|&i| nodes.nodes()[i].model.as_deref() != Some("A10")));
        assert_eq!(sample_subcluster::<&str>(&nodes, 1523, &[], 3).unwrap(), (0..1523).collect::<Vec<_>>());
        let field = |r: Result<Vec<usize>, ClusterError>| match r {
            Err(ClusterError::InvalidConfig { field, allowed, .. }) => (field, allowed),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(sample_subcluster::<&str>(&nodes, 0, &[], 3)).0, "openb.subcluster.k");
        assert_eq!(field(sample_subcluster::<&str>(&nodes, 1524, &[], 3)).0, "openb.subcluster.k");
        assert_eq!(field(sample_subcluster(&nodes, 1, &["T4", "G2"], 3)).0, "openb.subcluster.k");
        let (f, allowed) = field(sample_subcluster(&nodes, 5, &["H100"], 3));
        assert_eq!(
            (f.as_str(), allowed.as_str()),
            (
                "openb.subcluster.required_models",
                "GPU models of the node list: A10, G2, G3, P100, T4, V100M16, V100M32"
            )
        );
        // Every model required with k = 7: one node of each.
        let a = sample_subcluster(&nodes, 7, &nodes.models(), 4).unwrap();
        let mut got: Vec<_> = a.iter().map(|&i| nodes.nodes()[i].model.clone().unwrap()).collect();
        got.sort();
        assert_eq!(got, nodes.models());
    }

    #[test]
    fn openb_load_time() {
        // Timing only (see the module docs for the number); run in release with --nocapture.
        let nodes = shipped_nodes();
        let path = dir().join("openb_pod_list_default.csv");
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t0 = std::time::Instant::now();
            let pods = PodList::read(&path).unwrap();
            let tasks = pods_to_tasks(&pods, &nodes, &TraceOptions::default()).unwrap();
            best = best.min(t0.elapsed().as_secs_f64());
            assert_eq!(tasks.tasks.len(), 7255);
        }
        println!("openb: read + convert the default pod list: {:.2} ms (best of 5)", best * 1e3);
    }
}
