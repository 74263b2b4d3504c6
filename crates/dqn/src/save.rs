//! Saving and loading the complete agent state.
//!
//! A checkpoint is a directory:
//!
//! | file            | format    | holds |
//! | --------------- | --------- | ----- |
//! | `agent.json`    | JSON      | format version, config, network shape, counters, RNG state, normalisation statistics, file checksums |
//! | `online.bpk`    | burnpack  | online network weights (`hidden.0.weight` `[in, out]`, …) |
//! | `target.bpk`    | burnpack  | target network weights |
//! | `optimizer.bpk` | burnpack  | Adam moments and step counts, keyed by parameter id |
//! | `replay.bin`    | binary    | optional: the replay buffer, pending n-step transitions and the observation they would bootstrap from |
//!
//! Burnpack is burn's documented container (header, CBOR metadata, aligned little-endian
//! tensors) and keeps parameter ids, which the optimizer state is keyed by. The JSON and the
//! burnpack metadata carry [`FORMAT_VERSION`], and `agent.json` records an FNV-1a checksum of
//! each other file, so a truncated, swapped or corrupted file is a typed [`DqnError`], never a
//! panic.
//!
//! `replay.bin`'s header has a layout version of its own: 2 since the file also holds each
//! env's last `next_obs` and mask, which [`Agent::truncate_pending`] bootstraps from. Version 1
//! files (format version 1 checkpoints) still load; `truncate_pending` then drops their pending
//! windows instead of bootstrapping from an unknown state. Config fields added later default
//! to the behaviour before them, which is why `agent.json` is still at version 1.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::store::burn_pack::{Reader, Writer};
use burn::tensor::{Bytes, DType};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::DqnError;
use crate::agent::{Agent, check_rows, network_shape};
use crate::bin::{ByteReader, ByteWriter, fnv1a64};
use crate::config::{DeviceSetting, DqnConfig};
use crate::model::{NodeRows, QNetwork};
use crate::normalize::{RewardScaler, RunningMeanStd};
use crate::replay::{NStepAccumulator, ReplayBuffer, ReplayState};
use policy_core::NetworkShape;

/// Version of the checkpoint format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const FORMAT_NAME: &str = "cluster-rl-dqn";
const AGENT_FILE: &str = "agent.json";
const ONLINE_FILE: &str = "online.bpk";
const TARGET_FILE: &str = "target.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const REPLAY_FILE: &str = "replay.bin";
const REPLAY_MAGIC: &[u8; 8] = b"DQNRPLAY";
/// Layout version `replay.bin` is written with; version 1 (no bootstrap observation of the
/// pending windows) is still read.
const REPLAY_VERSION: u32 = 2;
const META_FORMAT: &str = "dqn.format";
const META_VERSION: &str = "dqn.format_version";
const META_NETWORK: &str = "dqn.network";

/// What [`Agent::save`] writes besides the always-saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Also save the replay buffer and pending n-step transitions (needed to resume training
    /// exactly; can be large).
    pub replay: bool,
}

/// `agent.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentFile {
    format: String,
    format_version: u32,
    config: DqnConfig,
    network: NetworkShape,
    /// How a node-scoring network reads the observation (absent for an MLP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_rows: Option<NodeRows>,
    global_step: u64,
    update_step: u64,
    episodes: u64,
    rng: ChaCha8Rng,
    obs_stats: Option<RunningMeanStd>,
    reward_scaler: RewardScaler,
    /// File name → FNV-1a 64 checksum (hex) of every other file of the checkpoint.
    checksums: BTreeMap<String, String>,
}

/// Writes `bytes` to `path` crash-safely ([`durable::write_atomic`]: a unique temporary file,
/// fsynced, renamed, the directory fsynced).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DqnError> {
    durable::write_atomic(path, bytes).map_err(|e| DqnError::io(path, e))
}

fn read(path: &Path) -> Result<Vec<u8>, DqnError> {
    fs::read(path).map_err(|e| DqnError::io(path, e))
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a64(bytes))
}

/// Adds our format metadata to a burnpack container produced by burn.
fn stamp(path: &Path, bytes: Bytes, network: &str, role: &str) -> Result<Vec<u8>, DqnError> {
    let err = |e: &dyn std::fmt::Display| DqnError::corrupt(path, format!("encoding: {e}"));
    let reader = Reader::from_bytes(bytes).map_err(|e| err(&e))?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let tensors = reader.into_tensors().map_err(|e| err(&e))?;
    let mut writer = Writer::new(tensors)
        .with_metadata(META_FORMAT, FORMAT_NAME)
        .with_metadata(META_VERSION, &FORMAT_VERSION.to_string())
        .with_metadata(META_NETWORK, network)
        .with_metadata("dqn.role", role);
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    for (k, v) in scalars {
        writer = writer.with_scalar(&k, v);
    }
    Ok(writer.into_bytes().map_err(|e| err(&e))?.to_vec())
}

/// A tensor of a burnpack file: name, dtype, shape, parameter id.
type PackedTensor = (String, DType, Vec<usize>, Option<u64>);

/// Opens one of our burnpack files: checks the format version and the network, and lists its
/// tensors.
fn open_pack(
    path: &Path,
    bytes: &[u8],
    network: &str,
) -> Result<(Vec<PackedTensor>, BTreeMap<String, burn::store::burn_pack::Scalar>), DqnError> {
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| DqnError::corrupt(path, format!("not a burnpack file: {e}")))?;
    let meta = reader.metadata();
    if meta.get(META_FORMAT).map(String::as_str) != Some(FORMAT_NAME) {
        return Err(DqnError::corrupt(path, "not a dqn checkpoint file (no format tag)"));
    }
    let version = meta.get(META_VERSION).and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(DqnError::FormatVersion { path: path.into(), found, expected: FORMAT_VERSION });
        }
        None => return Err(DqnError::corrupt(path, "missing or unreadable format version")),
    }
    let found = meta.get(META_NETWORK).cloned().unwrap_or_default();
    if found != network {
        return Err(DqnError::ShapeMismatch {
            path: path.into(),
            expected: format!("network {network}"),
            found: format!("network {found}"),
        });
    }
    let scalars = reader.scalars().clone();
    let tensors = reader
        .into_tensors()
        .map_err(|e| DqnError::corrupt(path, e.to_string()))?
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, id, _) = t.into_parts().map_err(|e| DqnError::corrupt(path, e.to_string()))?;
            Ok((name, dtype, shape.as_slice().to_vec(), id))
        })
        .collect::<Result<Vec<_>, DqnError>>()?;
    Ok((tensors, scalars))
}

/// Loads network weights from `path` into `net` (built with the expected shape).
fn load_network(
    path: &Path,
    net: QNetwork,
    net_cfg: &NetworkShape,
    expected_checksum: Option<&String>,
) -> Result<QNetwork, DqnError> {
    let bytes = read(path)?;
    let (tensors, _) = open_pack(path, &bytes, &net_cfg.to_string())?;
    let expected: BTreeMap<String, Vec<usize>> = net.param_shapes().into_iter().collect();
    let found: BTreeMap<String, Vec<usize>> =
        tensors.iter().map(|(name, _, shape, _)| (name.clone(), shape.clone())).collect();
    if expected != found {
        return Err(DqnError::ShapeMismatch {
            path: path.into(),
            expected: format!("tensors {expected:?}"),
            found: format!("tensors {found:?}"),
        });
    }
    if let Some((name, dtype, _, _)) = tensors.iter().find(|t| t.1 != DType::F32) {
        return Err(DqnError::corrupt(path, format!("tensor {name} has dtype {dtype:?}, not f32")));
    }
    verify_checksum(path, &bytes, expected_checksum)?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| DqnError::corrupt(path, e.to_string()))?;
    net.try_load_record(record).map_err(|e| DqnError::corrupt(path, e.to_string()))
}

fn verify_checksum(path: &Path, bytes: &[u8], expected: Option<&String>) -> Result<(), DqnError> {
    match expected {
        Some(sum) if *sum == checksum(bytes) => Ok(()),
        Some(sum) => Err(DqnError::corrupt(
            path,
            format!(
                "checksum {} does not match {sum} recorded in agent.json (the file changed \
                 after the save or belongs to another checkpoint)",
                checksum(bytes)
            ),
        )),
        None => Err(DqnError::corrupt(path, "agent.json records no checksum for this file")),
    }
}

impl Agent {
    /// Saves the complete agent state into directory `dir` (created if needed; files in it
    /// are replaced). With `options.replay`, the replay buffer is saved too, and loading then
    /// resumes training exactly.
    ///
    /// # Errors
    /// [`DqnError::NonFinite`] (`weights`) if a parameter is NaN or infinite (nothing is
    /// written then); [`DqnError::Io`] if a file cannot be written.
    pub fn save(&self, dir: impl AsRef<Path>, options: SaveOptions) -> Result<(), DqnError> {
        let dir = dir.as_ref();
        // The one guard against persisting a diverged agent: a gradient step can leave NaN
        // weights behind a finite loss, which only the next step's loss would reveal.
        if !self.online.is_finite()? {
            return Err(DqnError::NonFinite {
                what: "weights",
                global_step: self.global_step,
                update_step: self.update_step,
            });
        }
        fs::create_dir_all(dir).map_err(|e| DqnError::io(dir, e))?;
        let network = self.net_cfg.to_string();
        let mut checksums = BTreeMap::new();
        let mut put = |name: &str, bytes: Vec<u8>| -> Result<(), DqnError> {
            checksums.insert(name.to_owned(), checksum(&bytes));
            write_atomic(&dir.join(name), &bytes)
        };

        let encode = |name: &str, r: Result<Bytes, burn::store::RecordError>| {
            r.map_err(|e| DqnError::corrupt(dir.join(name), format!("encoding: {e}")))
        };
        let online = encode(ONLINE_FILE, self.online.clone().into_record().into_bytes())?;
        put(ONLINE_FILE, stamp(&dir.join(ONLINE_FILE), online, &network, "online")?)?;
        let target = encode(TARGET_FILE, self.target.clone().into_record().into_bytes())?;
        put(TARGET_FILE, stamp(&dir.join(TARGET_FILE), target, &network, "target")?)?;
        let optim = encode(OPTIMIZER_FILE, self.optim.into_bytes())?;
        put(OPTIMIZER_FILE, stamp(&dir.join(OPTIMIZER_FILE), optim, &network, "optimizer")?)?;

        let replay_path = dir.join(REPLAY_FILE);
        if options.replay {
            let mut w = ByteWriter::default();
            w.raw(REPLAY_MAGIC);
            w.u32(REPLAY_VERSION);
            self.nstep.write(&mut w);
            w.bools(&[self.pending_next_known]);
            w.f32s(&self.pending_next_obs);
            w.bools(&self.pending_next_masks);
            self.replay.write(&mut w);
            put(REPLAY_FILE, w.into_inner())?;
        } else if replay_path.exists() {
            fs::remove_file(&replay_path).map_err(|e| DqnError::io(&replay_path, e))?;
        }

        let file = AgentFile {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            config: self.cfg.clone(),
            network: self.net_cfg.clone(),
            node_rows: self.rows,
            global_step: self.global_step,
            update_step: self.update_step,
            episodes: self.episodes,
            rng: self.rng.clone(),
            obs_stats: self.obs_stats.clone(),
            reward_scaler: self.reward_scaler.clone(),
            checksums,
        };
        let path = dir.join(AGENT_FILE);
        let json = serde_json::to_vec_pretty(&file).map_err(|e| DqnError::corrupt(&path, format!("encoding: {e}")))?;
        // agent.json goes last: a checkpoint without it is incomplete, not inconsistent.
        write_atomic(&path, &json)
    }

    /// Loads an agent saved by [`Agent::save`] from directory `dir`, on the device its config
    /// names. Training continues exactly where it stopped when the replay buffer was saved;
    /// otherwise the buffer starts empty.
    ///
    /// # Errors
    /// [`DqnError::Io`] if a file is missing or unreadable, [`DqnError::FormatVersion`] for a
    /// checkpoint of another format version, [`DqnError::ShapeMismatch`] if a file holds
    /// another network or buffer shape, [`DqnError::Corrupt`] for truncated, garbage or
    /// inconsistent files.
    pub fn load(dir: impl AsRef<Path>) -> Result<Agent, DqnError> {
        Self::load_on(dir, None)
    }

    /// [`Agent::load`], placing the networks on `device` instead of the saved config's device
    /// when given (e.g. to run a GPU-trained agent on CPU).
    ///
    /// # Errors
    /// As [`Agent::load`].
    pub fn load_on(dir: impl AsRef<Path>, device: Option<DeviceSetting>) -> Result<Agent, DqnError> {
        let dir = dir.as_ref();
        let path = dir.join(AGENT_FILE);
        let bytes = read(&path)?;
        let mut file = read_agent_file(&path, &bytes)?;
        if let Some(device) = device {
            file.config.device = device;
        }
        let (obs_dim, n_actions) = (file.network.obs_dim, file.network.n_actions);
        // A fresh agent of the saved shape (validating again, as every new agent does), whose
        // state the files then replace.
        let agent = match file.node_rows {
            None => Agent::new(file.config.clone(), obs_dim, n_actions),
            Some(rows) => Agent::with_node_rows(file.config.clone(), obs_dim, n_actions, rows),
        };
        let mut agent = agent.map_err(|e| DqnError::corrupt(&path, e.to_string()))?;

        let network = agent.net_cfg.to_string();
        let online_path = dir.join(ONLINE_FILE);
        agent.online =
            load_network(&online_path, agent.online.clone(), &agent.net_cfg, file.checksums.get(ONLINE_FILE))?;
        agent.target = load_network(
            &dir.join(TARGET_FILE),
            agent.target.clone(),
            &agent.net_cfg,
            file.checksums.get(TARGET_FILE),
        )?;

        let optim_path = dir.join(OPTIMIZER_FILE);
        let optim_bytes = read(&optim_path)?;
        check_optimizer(&optim_path, &optim_bytes, &network, &agent.online)?;
        verify_checksum(&optim_path, &optim_bytes, file.checksums.get(OPTIMIZER_FILE))?;
        let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(optim_bytes))
            .map_err(|e| DqnError::corrupt(&optim_path, e.to_string()))?;
        agent.optim = Agent::fresh_optimizer(&agent.cfg).load_record(record);

        if let Some(sum) = file.checksums.get(REPLAY_FILE) {
            let replay_path = dir.join(REPLAY_FILE);
            let bytes = read(&replay_path)?;
            load_replay(&replay_path, &bytes, sum, &mut agent)?;
        }

        agent.global_step = file.global_step;
        agent.update_step = file.update_step;
        agent.episodes = file.episodes;
        agent.rng = file.rng;
        agent.obs_stats = file.obs_stats;
        agent.reward_scaler = file.reward_scaler;
        agent.invalidate_caches();
        Ok(agent)
    }
}

/// Reads and checks `agent.json` from its `bytes` (named `path` in errors), as [`Agent::load`]
/// does before it builds anything: the format tag and version, the strict schema, the config
/// with the validation a fresh agent runs (so no size read here can make a later allocation
/// abort), the network shape against the config, and the normalisation statistics against
/// both.
fn read_agent_file(path: &Path, bytes: &[u8]) -> Result<AgentFile, DqnError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DqnError::corrupt(path, format!("not valid json: {e}")))?;
    if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(DqnError::corrupt(path, "not a dqn agent file (no format tag)"));
    }
    match value.get("format_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(DqnError::FormatVersion {
                path: path.into(),
                found: u32::try_from(v).unwrap_or(u32::MAX),
                expected: FORMAT_VERSION,
            });
        }
        None => return Err(DqnError::corrupt(path, "missing format_version")),
    }
    let file: AgentFile = serde_json::from_value(value).map_err(|e| DqnError::corrupt(path, e.to_string()))?;
    // Every field is checked before anything is allocated: the sizes with the validation a
    // fresh agent runs (a corrupted or edited file cannot make the load abort), then the
    // network and the statistics against the config.
    let (obs_dim, n_actions) = (file.network.obs_dim, file.network.n_actions);
    file.config.validate_for(obs_dim, n_actions).map_err(|e| DqnError::corrupt(path, e.to_string()))?;
    let rows = check_rows(&file.config, obs_dim, n_actions, file.node_rows)
        .map_err(|e| DqnError::corrupt(path, e.to_string()))?;
    if rows.is_none() && file.node_rows.is_some() {
        return Err(DqnError::corrupt(path, "node_rows are recorded for an MLP network"));
    }
    let expected = network_shape(&file.config, obs_dim, n_actions, rows.as_ref());
    if expected != file.network {
        return Err(DqnError::ShapeMismatch {
            path: path.into(),
            expected: format!("network {expected}"),
            found: format!("network {}", file.network),
        });
    }
    let n_envs = file.config.num_envs;
    let stats_ok = match (&file.obs_stats, file.config.normalize_obs) {
        (Some(s), true) => s.dim() == rows.map_or(obs_dim, |r| r.node_width + r.task_width) && s.var.len() == s.dim(),
        (None, false) => true,
        _ => false,
    };
    let scaler_ok = file.reward_scaler.returns.len() == n_envs
        && file.reward_scaler.return_stats.as_ref().is_none_or(|s| s.dim() == 1 && s.var.len() == 1)
        && file.reward_scaler.return_stats.is_some() == file.config.normalize_reward;
    if !stats_ok || !scaler_ok {
        return Err(DqnError::corrupt(path, "normalisation statistics do not fit the config"));
    }
    Ok(file)
}

/// Checks the bytes of a checkpoint's `agent.json` as [`Agent::load`] does before it builds
/// the networks or reads the other files (format, version, schema, the config's validation,
/// the network shape and the normalisation statistics against the config), without the file
/// system or burn; errors name the file `agent.json`. Returns the network the file describes.
///
/// # Errors
/// As [`Agent::load`] for `agent.json`: [`DqnError::Corrupt`], [`DqnError::FormatVersion`] or
/// [`DqnError::ShapeMismatch`].
pub fn check_agent_json(bytes: &[u8]) -> Result<NetworkShape, DqnError> {
    read_agent_file(Path::new(AGENT_FILE), bytes).map(|file| file.network)
}

/// Checks an optimizer file against the online network before burn parses it: every state
/// tensor must belong to a parameter of the network and have its shape, so a file of another
/// network is an error rather than a panic inside burn.
fn check_optimizer(path: &Path, bytes: &[u8], network: &str, online: &QNetwork) -> Result<(), DqnError> {
    let (tensors, scalars) = open_pack(path, bytes, network)?;
    let mut shapes: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let linears = online.linears();
    let layers = linears.iter().map(|(_, l)| *l);
    for layer in layers {
        shapes.insert(layer.weight.id.val(), layer.weight.shape().as_slice().to_vec());
        if let Some(b) = &layer.bias {
            shapes.insert(b.id.val(), b.shape().as_slice().to_vec());
        }
    }
    let mut seen = BTreeSet::new();
    for (name, dtype, shape, id) in &tensors {
        let Some(id) = id else {
            return Err(DqnError::corrupt(path, format!("state tensor {name} has no parameter id")));
        };
        let Some(expected) = shapes.get(id) else {
            return Err(DqnError::ShapeMismatch {
                path: path.into(),
                expected: "optimizer state of the saved online network".into(),
                found: format!("state tensor {name} of unknown parameter {id}"),
            });
        };
        if shape != expected || *dtype != DType::F32 {
            return Err(DqnError::ShapeMismatch {
                path: path.into(),
                expected: format!("f32 {expected:?} for {name}"),
                found: format!("{dtype:?} {shape:?}"),
            });
        }
        seen.insert(*id);
    }
    for (key, value) in &scalars {
        if let Some(id) = key.strip_suffix(".__rank").and_then(|k| k.parse::<u64>().ok()) {
            let rank = usize::try_from(*value).ok();
            if shapes.get(&id).map(Vec::len) != rank {
                return Err(DqnError::corrupt(path, format!("parameter {id} has rank {value:?}")));
            }
        }
    }
    if !seen.is_empty() && seen.len() != shapes.len() {
        return Err(DqnError::corrupt(
            path,
            format!("optimizer state covers {} of {} parameters", seen.len(), shapes.len()),
        ));
    }
    Ok(())
}

fn load_replay(path: &Path, bytes: &[u8], sum: &str, agent: &mut Agent) -> Result<(), DqnError> {
    let parts = ReplayParts {
        nstep: &mut agent.nstep,
        pending_next_known: &mut agent.pending_next_known,
        pending_next_obs: &mut agent.pending_next_obs,
        pending_next_masks: &mut agent.pending_next_masks,
        replay: &mut agent.replay,
    };
    read_replay(path, bytes, parts)?;
    verify_checksum(path, bytes, Some(&sum.to_owned()))
}

/// What `replay.bin` restores, in buffers already of the config's sizes.
struct ReplayParts<'a> {
    nstep: &'a mut NStepAccumulator,
    pending_next_known: &'a mut bool,
    pending_next_obs: &'a mut [f32],
    pending_next_masks: &'a mut [bool],
    replay: &'a mut ReplayBuffer,
}

/// Parses `replay.bin` (`bytes`, named `path` in errors) into `parts`: every length must equal
/// the size of the buffer it fills, so nothing is allocated from a size in the file.
fn read_replay(path: &Path, bytes: &[u8], parts: ReplayParts<'_>) -> Result<(), DqnError> {
    let mut r = ByteReader::new(bytes);
    let corrupt = |e: String| DqnError::corrupt(path, e);
    if r.take(REPLAY_MAGIC.len()).map_err(corrupt)? != REPLAY_MAGIC {
        return Err(DqnError::corrupt(path, "not a dqn replay file (bad magic)"));
    }
    let version = r.u32().map_err(corrupt)?;
    if version != 1 && version != REPLAY_VERSION {
        return Err(DqnError::FormatVersion { path: path.into(), found: version, expected: REPLAY_VERSION });
    }
    parts.nstep.read_into(&mut r).map_err(|e| DqnError::ShapeMismatch {
        path: path.into(),
        expected: "the n-step accumulator of the config".into(),
        found: e,
    })?;
    if version == 1 {
        *parts.pending_next_known = false;
    } else {
        let mut known = [false];
        r.bools_into(&mut known).map_err(corrupt)?;
        *parts.pending_next_known = known[0];
        r.f32s_into(parts.pending_next_obs).map_err(corrupt)?;
        r.bools_into(parts.pending_next_masks).map_err(corrupt)?;
    }
    parts.replay.read_into(&mut r).map_err(corrupt)?;
    if r.remaining() != 0 {
        return Err(DqnError::corrupt(path, format!("{} trailing bytes", r.remaining())));
    }
    Ok(())
}

/// Parses the bytes of a checkpoint's `replay.bin` as [`Agent::load`] does for an agent of
/// `config` on `obs_dim` observations and `n_actions` actions (without the checksum that
/// `agent.json` records, and without the file system or burn): into fresh buffers of the
/// config's sizes, so no length in the file is ever allocated. Errors name the file
/// `replay.bin`. Returns the replay buffer read.
///
/// # Errors
/// [`DqnError::InvalidConfig`] if `config` does not validate for the sizes
/// ([`DqnConfig::validate_for`]); otherwise as [`Agent::load`] for `replay.bin`:
/// [`DqnError::Corrupt`], [`DqnError::FormatVersion`] or [`DqnError::ShapeMismatch`].
pub fn check_replay(
    bytes: &[u8],
    config: &DqnConfig,
    obs_dim: usize,
    n_actions: usize,
) -> Result<ReplayBuffer, DqnError> {
    config.validate_for(obs_dim, n_actions)?;
    let mut state = ReplayState::new(config, obs_dim, n_actions);
    let parts = ReplayParts {
        nstep: &mut state.nstep,
        pending_next_known: &mut state.pending_next_known,
        pending_next_obs: &mut state.pending_next_obs,
        pending_next_masks: &mut state.pending_next_masks,
        replay: &mut state.replay,
    };
    read_replay(Path::new(REPLAY_FILE), bytes, parts)?;
    Ok(state.replay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transitions;

    /// Every size read back from `agent.json` is validated as a fresh agent's config is, before
    /// anything is allocated: an edited or corrupted file is a typed error naming the file and
    /// the field, never an allocation of its size (which aborts the process). Before, a buffer
    /// of 10^10 transitions passed the 1 TiB check and its 120 GB allocation aborted.
    #[test]
    fn huge_sizes_in_agent_json_are_errors_not_aborts() {
        let dir = std::env::temp_dir().join(format!("dqn-huge-sizes-{}", std::process::id()));
        let cfg = DqnConfig { buffer_size: 8, batch_size: 4, hidden_sizes: vec![4], ..DqnConfig::default() };
        Agent::new(cfg, 3, 2).unwrap().save(&dir, SaveOptions::default()).unwrap();
        let path = dir.join(AGENT_FILE);
        let original: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let load_edited = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut value = original.clone();
            edit(&mut value);
            fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
            match Agent::load(&dir) {
                Err(DqnError::Corrupt { path: p, reason }) => {
                    assert_eq!(p, path);
                    reason
                }
                other => panic!("expected a corrupt agent.json, got {:?}", other.map(|_| "an agent")),
            }
        };
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "buffer_size: 10000000000 transitions",
                Box::new(|v| v["config"]["buffer_size"] = 10_000_000_000u64.into()),
            ),
            ("obs_dim: 1000000000 is above", Box::new(|v| v["network"]["obs_dim"] = 1_000_000_000u64.into())),
            ("n_actions: 1000000000 is above", Box::new(|v| v["network"]["n_actions"] = 1_000_000_000u64.into())),
            (
                "hidden_sizes: width 100000000",
                Box::new(|v| {
                    v["config"]["hidden_sizes"] = serde_json::json!([100_000_000]);
                    v["network"]["hidden_sizes"] = serde_json::json!([100_000_000]);
                }),
            ),
            (
                "hidden_sizes: a network of 3 inputs, hidden layers [65536, 65536]",
                Box::new(|v| {
                    v["config"]["hidden_sizes"] = serde_json::json!([65536, 65536]);
                    v["network"]["hidden_sizes"] = serde_json::json!([65536, 65536]);
                }),
            ),
            ("num_envs: 1000000000 is above 4096", Box::new(|v| v["config"]["num_envs"] = 1_000_000_000u64.into())),
            (
                "n_step: 4096 envs × 1000 steps",
                Box::new(|v| {
                    v["config"]["num_envs"] = 4096.into();
                    v["config"]["n_step"] = 1000.into();
                    v["network"]["obs_dim"] = 1000.into();
                }),
            ),
            (
                "buffer_size: 100000000 transitions of 100 observations and 2 actions need 76.2 GiB",
                Box::new(|v| {
                    v["config"]["buffer_size"] = 100_000_000.into();
                    v["network"]["obs_dim"] = 100.into();
                }),
            ),
        ];
        for (want, edit) in &cases {
            let reason = load_edited(edit.as_ref());
            assert!(reason.contains(want), "{want}: {reason}");
        }
        // A network that disagrees with the config is refused before it is built, too.
        let mut value = original.clone();
        value["network"]["hidden_sizes"] = serde_json::json!([5]);
        fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        assert!(matches!(Agent::load(&dir), Err(DqnError::ShapeMismatch { .. })));
        // The untouched file still loads.
        fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
        Agent::load(&dir).unwrap();
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn version_1_replay_files_still_load_and_their_pending_windows_are_dropped_on_truncation() {
        let cfg = DqnConfig { n_step: 3, buffer_size: 8, batch_size: 4, ..DqnConfig::default() };
        let mut agent = Agent::new(cfg.clone(), 1, 2).unwrap();
        for (obs, terminated) in [(1.0, true), (2.0, false)] {
            let t = Transitions {
                obs: &[obs],
                actions: &[1],
                rewards: &[2.0],
                next_obs: &[obs + 0.5],
                next_masks: &[true, true],
                terminated: &[terminated],
                truncated: &[false],
            };
            agent.observe(&t).unwrap();
        }
        // The version 1 layout: magic, version, accumulator, buffer.
        let mut w = ByteWriter::default();
        w.raw(REPLAY_MAGIC);
        w.u32(1);
        agent.nstep.write(&mut w);
        agent.replay.write(&mut w);
        let bytes = w.into_inner();

        let mut loaded = Agent::new(cfg, 1, 2).unwrap();
        load_replay(Path::new("replay.bin"), &bytes, &checksum(&bytes), &mut loaded).unwrap();
        assert_eq!(loaded.replay, agent.replay);
        assert_eq!(loaded.nstep, agent.nstep);
        assert_eq!(loaded.nstep.pending(0), 1);
        // Where that pending step would bootstrap from was not saved: it is dropped, not
        // stored with a made-up next observation.
        loaded.truncate_pending();
        assert_eq!(loaded.replay.len(), 1);
        assert_eq!(loaded.nstep.pending(0), 0);
    }

    /// The from-bytes checks (what the fuzz targets call) accept the files `Agent::save`
    /// writes and reject what `Agent::load` rejects, naming the bare file.
    #[test]
    fn agent_json_and_replay_files_are_checked_from_bytes() {
        let dir = std::env::temp_dir().join(format!("dqn-check-bytes-{}", std::process::id()));
        let cfg = DqnConfig { buffer_size: 8, batch_size: 4, n_step: 2, hidden_sizes: vec![4], ..DqnConfig::default() };
        let mut agent = Agent::new(cfg.clone(), 1, 2).unwrap();
        let t = Transitions {
            obs: &[1.0],
            actions: &[1],
            rewards: &[2.0],
            next_obs: &[1.5],
            next_masks: &[true, true],
            terminated: &[false],
            truncated: &[false],
        };
        agent.observe(&t).unwrap();
        agent.save(&dir, SaveOptions { replay: true }).unwrap();
        let json = fs::read(dir.join(AGENT_FILE)).unwrap();
        assert_eq!(check_agent_json(&json).unwrap(), agent.net_cfg);
        let e = check_agent_json(b"{\"format\": \"cluster-rl-dqn\"}").unwrap_err();
        assert_eq!(e.to_string(), "agent.json: corrupt checkpoint file: missing format_version");
        let replay = fs::read(dir.join(REPLAY_FILE)).unwrap();
        assert_eq!(check_replay(&replay, &cfg, 1, 2).unwrap(), agent.replay);
        assert!(matches!(check_replay(&replay, &cfg, 2, 2), Err(DqnError::ShapeMismatch { .. })));
        let e = check_replay(&replay[..replay.len() - 1], &cfg, 1, 2).unwrap_err();
        assert!(matches!(&e, DqnError::Corrupt { path, .. } if path == Path::new(REPLAY_FILE)), "{e:?}");
        let huge = DqnConfig { buffer_size: 10_000_000_000, ..cfg };
        assert!(matches!(check_replay(&replay, &huge, 1, 2), Err(DqnError::InvalidConfig { .. })));
        let _ = fs::remove_dir_all(&dir);
    }
}
