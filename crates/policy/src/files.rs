//! An export directory: `policy.json` ([`PolicyMeta`]) beside `policy.safetensors` (the weights),
//! read, checked and written as one [`Export`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use policy_core::{Architecture, Dense, Mlp, Network, NetworkShape, NodeScoring};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::Deserialize;

use crate::error::{PolicyError, Result};
use crate::meta::{FORMAT, FORMAT_VERSION, FORMAT_VERSION_MLP, IN_MEMORY, PolicyMeta, json_string, meta_err};

/// The metadata file of an export.
pub const META_FILE: &str = "policy.json";
/// The weights file of an export.
pub const WEIGHTS_FILE: &str = "policy.safetensors";
/// Files that `cluster-rl export` writes beside [`META_FILE`] and [`WEIGHTS_FILE`]: the ONNX
/// graph and the experiment; for a trace scenario also the trace's copy, named
/// `trace-<16 hex digits>.csv` ([`is_trace_copy`]). [`Export::write`] replaces a directory only
/// if it holds nothing but these, so it never deletes a file it does not know.
pub const COMPANION_FILES: [&str; 2] = ["policy.onnx", "experiment.toml"];

/// Whether `name` is the copy of a replayed trace that `cluster-rl export` keeps beside the
/// experiment: `trace-` and 16 hexadecimal digits (the content's hash), then `.csv`.
pub fn is_trace_copy(name: &str) -> bool {
    name.strip_prefix("trace-")
        .and_then(|rest| rest.strip_suffix(".csv"))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How often [`Export::read`] starts again when the directory is replaced while it reads. One
/// restart is enough unless a writer replaces the export again and again faster than it is read.
const READ_ATTEMPTS: usize = 20;

/// An exported policy: metadata and weights, as one directory holds them.
///
/// `policy.safetensors` holds, all `F32` and row-major, for an MLP (`policy.json` version 1):
///
/// | tensor | shape |
/// |---|---|
/// | `hidden.{i}.weight` | `[in, out]` of hidden layer i |
/// | `hidden.{i}.bias` | `[out]` |
/// | `head.weight`, `head.bias` | `[last hidden, n_actions]`, `[n_actions]` |
/// | `value.weight`, `value.bias` | `[last hidden, 1]`, `[1]` (dueling only) |
///
/// and for a node-scoring network (version 2; `hidden_sizes` = `[h_0, …, h_k, s]`, `w` and
/// `t` the node and task row widths, `h = h_k`), the layers of [`NodeScoring::layers`]:
///
/// | tensor | shape |
/// |---|---|
/// | `embed_node.weight`, `.bias` | `[w, h_0]`, `[h_0]` |
/// | `embed_task.weight`, `.bias` | `[t, h_0]`, `[h_0]` (zero) |
/// | `embed.{k}.weight`, `.bias` | `[h_k, h_{k+1}]`, `[h_{k+1}]` |
/// | `score_node.weight`, `.bias` | `[h, s]`, `[s]` |
/// | `score_pool.weight`, `.bias` | `[2h, s]`, `[s]` (zero) |
/// | `head.weight`, `.bias` | `[s, 1]`, `[1]` |
/// | `value.weight`, `.bias` | `[2h, 1]`, `[1]` (dueling only) |
///
/// and `{"format": "cluster-rl-policy"}` as its `__metadata__`. A layer computes `y = x·W + b`
/// (burn's layout, the transpose of PyTorch's `Linear.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// `policy.json`.
    pub meta: PolicyMeta,
    /// `policy.safetensors`: the network, of the architecture `meta.network` records.
    pub network: Network,
}

impl Export {
    /// Checks the metadata ([`PolicyMeta::validate`]) and that the network matches it: the
    /// architecture and `format_version`, the activation, one layer per hidden size, every
    /// tensor's shape, a value head exactly when dueling, finite weights, and (node-scoring)
    /// zero biases on the task and summary halves.
    ///
    /// # Errors
    /// The first inconsistency, naming the field or tensor (path `<in-memory export>`).
    pub fn validate(&self) -> Result<()> {
        let path = Path::new(IN_MEMORY);
        self.meta.validate_at(path)?;
        let network_is_mlp = matches!(self.network, Network::Mlp(_));
        if network_is_mlp != self.meta.network.architecture.is_mlp() {
            let kind = |mlp: bool| if mlp { "mlp" } else { "node-scoring" };
            return Err(meta_err(
                path,
                "network.architecture",
                format!(
                    "is {}, but the network is {}",
                    kind(self.meta.network.architecture.is_mlp()),
                    kind(network_is_mlp)
                ),
            ));
        }
        if self.network.activation() != self.meta.network.activation {
            return Err(meta_err(
                path,
                "network.activation",
                format!(
                    "is {}, but the network applies {}",
                    self.meta.network.activation.name(),
                    self.network.activation().name()
                ),
            ));
        }
        let expected = expected_tensors(&self.meta.network);
        let found: BTreeMap<String, Vec<usize>> =
            network_tensors(&self.network).into_iter().map(|(name, shape, _)| (name, shape)).collect();
        check_tensor_set(path, &expected, |name| found.get(name).cloned())?;
        if let Some(name) = found.keys().find(|name| !expected.iter().any(|(e, _)| e == *name)) {
            return Err(PolicyError::UnexpectedTensor {
                path: path.into(),
                name: name.clone(),
                expected: tensor_names(&expected),
            });
        }
        // Shapes match the metadata: what is left is a weight vector of the wrong length.
        self.network.validate()?;
        for (name, _, values) in network_tensors(&self.network) {
            check_finite(path, &name, values.into_iter())?;
        }
        Ok(())
    }

    /// Writes the export as directory `dir`: `policy.json` and `policy.safetensors`, nothing
    /// else. See [`Export::write_with`].
    ///
    /// # Errors
    /// As [`Export::write_with`].
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.write_with(dir, |_| Ok(()))
    }

    /// Writes the export, and whatever `extra` writes into the directory being built (the
    /// trainer's ONNX graph and experiment), as directory `dir`, replacing a former one whole.
    ///
    /// The complete directory is built beside `dir` under a temporary name
    /// ([`durable::temp_path`]), every file fsynced, and then put in place of the old one by
    /// [`durable::replace_dir`] (one atomic exchange on Linux). So neither a crash nor a reader
    /// racing the writer ([`Export::read`]) ever finds new weights with an old `policy.json`, or
    /// a new export beside a stale companion file. Leftovers of writers that died are removed
    /// first ([`durable::remove_stale_temps`]).
    ///
    /// `dir` must be absent, empty, or an earlier export: a directory holding any other file is
    /// refused, since replacing it would delete that file.
    ///
    /// # Errors
    /// An invalid export ([`Export::validate`]), a `dir` that is not replaceable, an error of
    /// `extra`, or an I/O error naming the path. Nothing changes at `dir` then.
    pub fn write_with<E: From<PolicyError>>(
        &self,
        dir: impl AsRef<Path>,
        extra: impl FnOnce(&Path) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let dir = dir.as_ref();
        self.validate()?;
        check_replaceable(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        durable::remove_stale_temps(dir).map_err(io_err(dir))?;
        let tmp = durable::temp_path(dir);
        let built = (|| -> std::result::Result<(), E> {
            fs::create_dir(&tmp).map_err(io_err(&tmp))?;
            self.write_files(&tmp)?;
            extra(&tmp)?;
            durable::sync_dir(&tmp).map_err(io_err(&tmp))?;
            durable::replace_dir(&tmp, dir).map_err(io_err(dir))?;
            Ok(())
        })();
        if built.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        built
    }

    /// Writes `policy.json` and `policy.safetensors` into the new directory `dir`, each
    /// fsynced.
    fn write_files(&self, dir: &Path) -> Result<()> {
        let weights_path = dir.join(WEIGHTS_FILE);
        let weights = self.safetensors_bytes(&weights_path)?;
        durable::write_atomic(&weights_path, &weights).map_err(io_err(&weights_path))?;
        let meta_path = dir.join(META_FILE);
        let mut json = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| PolicyError::Json { path: meta_path.clone(), message: e.to_string() })?;
        json.push('\n');
        durable::write_atomic(&meta_path, json.as_bytes()).map_err(io_err(&meta_path))?;
        Ok(())
    }

    /// Reads and validates the export in `dir`.
    ///
    /// `policy.json` and `policy.safetensors` always come from one export: if a writer
    /// replaces the directory ([`Export::write_with`]) while they are opened, the read starts
    /// again on the new one.
    ///
    /// # Errors
    /// A missing directory or file, unreadable JSON (with line and column), a wrong format or
    /// version, inconsistent metadata, an unparsable safetensors file, a missing, extra,
    /// mis-shaped, non-F32 or non-finite tensor — each naming the file and what is wrong — or a
    /// directory replaced again at every one of 20 attempts ([`PolicyError::ExportDir`]).
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
        for _ in 0..READ_ATTEMPTS {
            if let Some(export) = Self::read_pinned(dir)? {
                return Ok(export);
            }
            // Replaced while being read: give the writer a moment, then read the new one.
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(PolicyError::ExportDir {
            dir: dir.into(),
            reason: format!("replaced {READ_ATTEMPTS} times while being read; is an export being rewritten in a loop?"),
        })
    }

    /// One attempt at [`Export::read`]; `None` if `dir` was replaced during it.
    ///
    /// The two files are opened one after the other, by path, so a writer replacing the
    /// directory in between could hand us one file of each export. Writers replace export
    /// directories whole ([`Export::write_with`]), never a file inside one, so: if after opening
    /// both, `dir/policy.json` is still the file we opened, the directory we opened it from was
    /// still in place, and the weights opened in between came from it too. Then both are read
    /// through the open handles, which later replacements do not affect.
    fn read_pinned(dir: &Path) -> Result<Option<Self>> {
        let meta_path = dir.join(META_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let mut meta_file = match File::open(&meta_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PolicyError::MissingFile { dir: dir.into(), file: META_FILE });
            }
            Err(e) => return Err(PolicyError::Io { path: meta_path, source: e }),
        };
        let weights_file = File::open(&weights_path);
        if !still_at(&meta_file, &meta_path)? {
            return Ok(None);
        }
        let mut weights_file = match weights_file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PolicyError::MissingFile { dir: dir.into(), file: WEIGHTS_FILE });
            }
            Err(e) => return Err(PolicyError::Io { path: weights_path, source: e }),
        };
        let mut text = Vec::new();
        meta_file.read_to_end(&mut text).map_err(io_err(&meta_path))?;
        let mut bytes = Vec::new();
        weights_file.read_to_end(&mut bytes).map_err(io_err(&weights_path))?;
        Self::parse(&meta_path, &text, &weights_path, &bytes).map(Some)
    }

    /// Reads an export from the contents of its two files, as [`Export::read`] does once it has
    /// read them: `policy_json`, the bytes of `policy.json`, and `safetensors`, the bytes of
    /// `policy.safetensors`. Errors name the files as `policy.json` and `policy.safetensors`.
    ///
    /// # Errors
    /// As [`Export::read`], except the file-system ones; `policy.json` not in UTF-8 is a
    /// [`PolicyError::Json`].
    pub fn from_bytes(policy_json: &[u8], safetensors: &[u8]) -> Result<Self> {
        Self::parse(Path::new(META_FILE), policy_json, Path::new(WEIGHTS_FILE), safetensors)
    }

    /// [`Export::from_bytes`], naming the files by `meta_path` and `weights_path`.
    fn parse(meta_path: &Path, policy_json: &[u8], weights_path: &Path, safetensors: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(policy_json)
            .map_err(|e| PolicyError::Json { path: meta_path.into(), message: format!("not valid UTF-8: {e}") })?;
        let meta = read_meta(meta_path, text)?;
        let network = read_weights(weights_path, safetensors, &meta.network)?;
        Ok(Self { meta, network })
    }

    /// `policy.safetensors`'s bytes.
    fn safetensors_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let st_err =
            |e: safetensors::SafeTensorError| PolicyError::Safetensors { path: path.into(), message: e.to_string() };
        let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = network_tensors(&self.network)
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

/// Whether `path` still names the file `file` was opened from (same device and inode). Where
/// inodes are not available (not Unix), the same length and modification time.
fn still_at(file: &File, path: &Path) -> Result<bool> {
    let now = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(PolicyError::Io { path: path.into(), source: e }),
    };
    let opened = file.metadata().map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((opened.dev(), opened.ino()) == (now.dev(), now.ino()))
    }
    #[cfg(not(unix))]
    {
        Ok(opened.len() == now.len() && opened.modified().ok() == now.modified().ok())
    }
}

/// Checks that writing an export as `dir` deletes nothing else: `dir` is absent, or a
/// directory holding only export files ([`META_FILE`], [`WEIGHTS_FILE`], [`COMPANION_FILES`]).
fn check_replaceable(dir: &Path) -> Result<()> {
    let refuse = |reason: String| Err(PolicyError::ExportDir { dir: dir.into(), reason });
    if dir.file_name().is_none() {
        return refuse("name the export directory itself (not `.`, `..` or a root)".into());
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) if !dir.is_dir() => return refuse("exists and is not a directory".into()),
        Err(e) => return Err(PolicyError::Io { path: dir.into(), source: e }),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let known = [META_FILE, WEIGHTS_FILE].iter().chain(&COMPANION_FILES).any(|f| name == *f)
            || name.to_str().is_some_and(is_trace_copy);
        if !known || !entry.file_type().map_err(io_err(dir))?.is_file() {
            return refuse(format!(
                "holds {}, which is not part of an export; an export replaces its directory whole, so \
                 choose a new or empty directory (or an earlier export, which holds only {META_FILE}, \
                 {WEIGHTS_FILE}, {} and a trace-<hash>.csv)",
                name.to_string_lossy(),
                COMPANION_FILES.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reads `policy.json` from its `text`: format and version first (so that a future version is
/// reported as such, not as an unknown field), then the strict schema, then consistency.
fn read_meta(path: &Path, text: &str) -> Result<PolicyMeta> {
    /// Just the two fields that say whether the rest can be read.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        format_version: Option<serde_json::Value>,
    }
    let json_err = |e: serde_json::Error| PolicyError::Json { path: path.into(), message: e.to_string() };
    let probe: Probe = serde_json::from_str(text).map_err(json_err)?;
    let shown = |v: &Option<serde_json::Value>| v.as_ref().map_or_else(|| "(missing)".to_string(), |v| v.to_string());
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT) {
        return Err(PolicyError::Format { path: path.into(), found: shown(&probe.format) });
    }
    let version = probe.format_version.as_ref().and_then(|v| v.as_u64());
    if !version.is_some_and(|v| (u64::from(FORMAT_VERSION_MLP)..=u64::from(FORMAT_VERSION)).contains(&v)) {
        return Err(PolicyError::Version {
            path: path.into(),
            found: shown(&probe.format_version),
            supported: FORMAT_VERSION,
        });
    }
    let meta: PolicyMeta = serde_json::from_str(text).map_err(json_err)?;
    meta.validate_at(path)?;
    Ok(meta)
}

/// Reads the weights of a network shaped `shape` (of its architecture) from the bytes of
/// `policy.safetensors`.
fn read_weights(path: &Path, bytes: &[u8], shape: &NetworkShape) -> Result<Network> {
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
        let weight = values.remove(&format!("{prefix}.weight")).unwrap_or_default();
        let bias = values.remove(&format!("{prefix}.bias")).unwrap_or_default();
        // The shapes were checked above, so the lengths agree.
        Dense::new(d_in, d_out, weight, bias).map_err(PolicyError::Network)
    };
    // The layers in file order, each `(name, d_in, d_out)` as `expected_layers` lists them.
    let mut layers = expected_layers(shape).into_iter();
    let mut next = || -> Result<Dense> {
        let (name, d_in, d_out) = layers.next().expect("expected_layers lists every layer read here");
        take_dense(&name, d_in, d_out)
    };
    let network = match shape.architecture {
        Architecture::Mlp => {
            let hidden = shape.hidden_sizes.iter().map(|_| next()).collect::<Result<Vec<_>>>()?;
            let head = next()?;
            let value = if shape.dueling { Some(next()?) } else { None };
            Network::Mlp(Mlp { hidden, head, value, activation: shape.activation })
        }
        Architecture::NodeScoring { .. } => {
            let (embed_node, embed_task) = (next()?, next()?);
            // hidden_sizes = [h_0, …, h_k, s]: k further embedding layers.
            let embed = (2..shape.hidden_sizes.len()).map(|_| next()).collect::<Result<Vec<_>>>()?;
            let (score_node, score_pool, head) = (next()?, next()?, next()?);
            let value = if shape.dueling { Some(next()?) } else { None };
            Network::NodeScoring(NodeScoring {
                embed_node,
                embed_task,
                embed,
                score_node,
                score_pool,
                head,
                value,
                activation: shape.activation,
            })
        }
    };
    // The shapes agree with the metadata; what is left is what only the weights can say (a
    // node-scoring network's bias-free halves must have zero bias).
    network.validate()?;
    Ok(network)
}

/// Every layer a network of `shape` has, `(name, d_in, d_out)`, in file order. A node-scoring
/// shape has at least two hidden sizes ([`PolicyMeta::validate`] checks it).
fn expected_layers(shape: &NetworkShape) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    match shape.architecture {
        Architecture::Mlp => {
            let mut width = shape.obs_dim;
            for (i, &h) in shape.hidden_sizes.iter().enumerate() {
                out.push((format!("hidden.{i}"), width, h));
                width = h;
            }
            out.push(("head".into(), width, shape.n_actions));
            if shape.dueling {
                out.push(("value".into(), width, 1));
            }
        }
        Architecture::NodeScoring { node_width, task_width } => {
            let sizes = &shape.hidden_sizes;
            let (embeds, score) = sizes.split_at(sizes.len().saturating_sub(1));
            let (first, s) = (embeds.first().copied().unwrap_or(0), score.first().copied().unwrap_or(0));
            let h = embeds.last().copied().unwrap_or(0);
            out.push(("embed_node".into(), node_width, first));
            out.push(("embed_task".into(), task_width, first));
            for (k, pair) in embeds.windows(2).enumerate() {
                out.push((format!("embed.{k}"), pair[0], pair[1]));
            }
            out.push(("score_node".into(), h, s));
            out.push(("score_pool".into(), 2 * h, s));
            out.push(("head".into(), s, 1));
            if shape.dueling {
                out.push(("value".into(), 2 * h, 1));
            }
        }
    }
    out
}

/// Every tensor a network of `shape` has, with its shape, in file order.
fn expected_tensors(shape: &NetworkShape) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (prefix, d_in, d_out) in expected_layers(shape) {
        out.push((format!("{prefix}.weight"), vec![d_in, d_out]));
        out.push((format!("{prefix}.bias"), vec![d_out]));
    }
    out
}

/// Every tensor of `network`: name, shape and values in row-major order.
fn network_tensors(network: &Network) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    for (prefix, d) in network.layers() {
        out.push((format!("{prefix}.weight"), vec![d.d_in, d.d_out], d.weight.clone()));
        out.push((format!("{prefix}.bias"), vec![d.bias.len()], d.bias.clone()));
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError + '_ {
    move |source| PolicyError::Io { path: path.into(), source }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Write → read round trips, the shipped exports byte for byte, and every way an export
    //! directory can be wrong.

    use std::path::PathBuf;

    use policy_core::{Activation, Normalization};

    use super::*;
    use crate::Policy;
    use crate::meta::Source;
    use crate::runtime::tests::{mlp_mut, tiny_export};

    /// A fresh, empty directory under the system's temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("policy-format-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// A full-layout export (2 nodes, 2 resources: obs_dim 2·6 + 4 = 16), dueling, tanh, with
    /// normalisation and provenance.
    pub(crate) fn full_export() -> Export {
        let layout = crate::request::tests::full_layout();
        let dense = |d_in: usize, d_out: usize, seed: f32| {
            let weight = (0..d_in * d_out).map(|k| ((k / d_out * 7 + k % d_out * 3) as f32 * 0.37 + seed).sin());
            let bias = (0..d_out).map(|j| (j as f32 - seed) * 0.1);
            Dense::new(d_in, d_out, weight.collect(), bias.collect()).unwrap()
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
        Export {
            meta: PolicyMeta::new("unit-full", source, mlp.shape(), Some(norm), layout),
            network: Network::Mlp(mlp),
        }
    }

    /// A node-scoring export on the full layout of 2 nodes × 2 resources (node rows of 6,
    /// a task row of 4), hidden `[5, 4, 3]` (two embedding layers, scoring width 3), tanh,
    /// dueling, with normalisation of one node row and the task row (10 features).
    pub(crate) fn ns_export() -> Export {
        let net = crate::runtime::tests::random_ns(6, 4, &[5, 4, 3], true, Activation::Tanh, 7);
        let norm = Normalization {
            mean: (0..10).map(|j| f64::from(j) * 0.1).collect(),
            var: vec![0.5; 10],
            epsilon: 1e-8,
            clip: 5.0,
        };
        let layout = crate::request::tests::full_layout();
        let meta = PolicyMeta::new("unit-ns", Source::default(), net.shape(2), Some(norm), layout);
        Export { meta, network: Network::NodeScoring(net) }
    }

    #[test]
    fn a_node_scoring_export_is_version_2_and_round_trips() {
        let dir = temp_dir("ns-round-trip");
        let export = ns_export();
        export.write(&dir).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&fs::read(dir.join(META_FILE)).unwrap()).unwrap();
        assert_eq!(json["format_version"], 2);
        assert_eq!(
            json["network"]["architecture"],
            serde_json::json!({"kind": "node-scoring", "node_width": 6, "task_width": 4})
        );
        assert_eq!(json["network"]["obs_dim"], 16, "the trained node count's observation");
        assert_eq!(export.meta.network.to_string(), "16-5-4-3-2 tanh dueling node-scoring 6+4");
        let back = Export::read(&dir).unwrap();
        assert_eq!(back, export);
        let st = fs::read(dir.join(WEIGHTS_FILE)).unwrap();
        let mut names: Vec<String> =
            SafeTensors::deserialize(&st).unwrap().names().into_iter().map(String::from).collect();
        names.sort();
        let layers = ["embed.0", "embed_node", "embed_task", "head", "score_node", "score_pool", "value"];
        let want: Vec<String> = layers.iter().flat_map(|l| [format!("{l}.bias"), format!("{l}.weight")]).collect();
        assert_eq!(names, want);
        // The loaded policy acts on any node count, as the in-memory one does.
        let mut a = Policy::load(&dir).unwrap();
        let mut b = Policy::from_export(export).unwrap();
        assert!(a.any_node_count());
        for n in [1, 2, 5] {
            let obs = crate::runtime::tests::ns_observation(n, 6, 4, n);
            assert_eq!(a.q_values(&obs).unwrap(), b.q_values(&obs).unwrap());
            assert_eq!(a.q_values(&obs).unwrap().len(), n);
            assert_eq!(a.n_nodes_of(obs.len()).unwrap(), n);
        }
        assert_eq!((a.obs_dim(), a.n_actions()), (16, 2), "the trained layout's");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn node_scoring_exports_that_do_not_fit_are_errors() {
        let check = |edit: fn(&mut Export), want: &str| {
            let mut export = ns_export();
            edit(&mut export);
            assert_eq!(export.validate().unwrap_err().to_string(), want);
        };
        fn net(e: &mut Export) -> &mut NodeScoring {
            match &mut e.network {
                Network::NodeScoring(n) => n,
                Network::Mlp(_) => unreachable!("a node-scoring export"),
            }
        }
        check(
            |e| e.meta.normalization.as_mut().unwrap().var.truncate(9),
            "<in-memory export>: normalization.var: has 9 values, expected 10 (node_width + task_width: one node row \
             and the task row)",
        );
        check(
            |e| net(e).score_pool = Dense::new(6, 3, vec![0.0; 18], vec![0.0; 3]).unwrap(),
            "<in-memory export>: tensor score_pool.weight has shape [6, 3], expected [8, 3]",
        );
        check(
            |e| net(e).embed_task.bias[2] = 1.0,
            "network: embed_task: has a non-zero bias; the node part holds the layer's bias",
        );
        check(
            |e| e.meta.format_version = 1,
            "<in-memory export>: format_version: is 1, which holds MLPs only, but network.architecture is \
             node-scoring; expected 2",
        );
        check(
            |e| e.meta.network.architecture = Architecture::NodeScoring { node_width: 5, task_width: 5 },
            "<in-memory export>: network.architecture: has rows of 5 (node) and 5 (task) values, but the \
             observation layout's are 6 and 4",
        );
        check(
            |e| e.meta.network.hidden_sizes.truncate(1),
            "<in-memory export>: network.hidden_sizes: has 1 values, but a node-scoring network needs at least 2 \
             (its embedding layers, then its scoring layer)",
        );
        check(
            |e| e.network = full_export().network,
            "<in-memory export>: network.architecture: is node-scoring, but the network is mlp",
        );
        // In the file: a mis-shaped tensor is named, with the file.
        let dir = temp_dir("ns-bad-tensor");
        ns_export().write(&dir).unwrap();
        let path = dir.join(WEIGHTS_FILE);
        let bytes = fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n.clone(), v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        let head = tensors.iter_mut().find(|t| t.0 == "head.weight").unwrap();
        head.2 = vec![1, 3];
        let raw: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> =
            tensors.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone())).collect();
        write_raw(&path, &raw, Some(FORMAT));
        let e = Export::read(&dir).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: tensor head.weight has shape [1, 3], expected [3, 1]", path.display()));
        fs::remove_dir_all(&dir).unwrap();
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
        assert_eq!(
            mlp_mut(&mut Export::read(&ok).unwrap().network).head,
            Dense::new(3, 2, vec![1.0; 6], vec![0.0; 2]).unwrap()
        );
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
            s.replace("\"format_version\": 1", "\"format_version\": 3, \"quantized\": true")
        });
        assert_eq!(
            e.to_string(),
            format!(
                "{}: format_version is 3, but this runtime reads versions 1 to 2 only (export the policy again with \
                 a matching `cluster-rl`)",
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
    fn an_export_replaces_an_earlier_one_whole_and_refuses_other_directories() {
        let dir = temp_dir("replace");
        fs::create_dir_all(&dir).unwrap();
        // An earlier export by the trainer: its companions go with it.
        for f in [META_FILE, WEIGHTS_FILE].iter().chain(&COMPANION_FILES).chain(&["trace-0123456789abcdef.csv"]) {
            fs::write(dir.join(f), "old").unwrap();
        }
        tiny_export(Activation::Relu, false).write(&dir).unwrap();
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        files.sort();
        assert_eq!(files, [META_FILE, WEIGHTS_FILE]);
        // Anything else in the directory: refused, nothing deleted.
        assert!(!is_trace_copy("trace-0123.csv") && !is_trace_copy("trace-0123456789abcdeg.csv"));
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        let e = tiny_export(Activation::Relu, false).write(&dir).unwrap_err();
        assert!(matches!(e, PolicyError::ExportDir { .. }), "{e}");
        assert!(e.to_string().contains("holds notes.txt, which is not part of an export"), "{e}");
        assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
        let e = tiny_export(Activation::Relu, false).write(dir.join("notes.txt")).unwrap_err();
        assert!(e.to_string().contains("exists and is not a directory"), "{e}");
        let e = tiny_export(Activation::Relu, false).write(".").unwrap_err();
        assert!(e.to_string().contains("name the export directory itself"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A reader racing a writer that alternates two exports of one shape always gets one
    /// export's metadata with the same export's weights.
    #[test]
    fn a_reader_racing_rewrites_never_pairs_two_exports() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let parent = temp_dir("race");
        let dir = parent.join("export");
        let mut exports = [tiny_export(Activation::Relu, false), tiny_export(Activation::Relu, false)];
        for (k, e) in exports.iter_mut().enumerate() {
            e.meta.source.global_step = Some(k as u64);
            let head = &mut mlp_mut(&mut e.network).head;
            head.bias = vec![k as f32; head.bias.len()];
        }
        exports[0].write(&dir).unwrap();
        let done = AtomicBool::new(false);
        let loads = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut loads = 0;
                while !done.load(Ordering::Relaxed) {
                    let e = Export::read(&dir).unwrap_or_else(|e| panic!("read {loads}: {e}"));
                    let k = e.meta.source.global_step.unwrap() as usize;
                    assert_eq!(
                        e.network, exports[k].network,
                        "read {loads}: metadata of export {k} with other weights"
                    );
                    loads += 1;
                }
                loads
            });
            let t0 = std::time::Instant::now();
            for k in (0..2).cycle() {
                if t0.elapsed() > std::time::Duration::from_secs(1) {
                    break;
                }
                exports[k].write(&dir).unwrap();
            }
            done.store(true, Ordering::Relaxed);
            reader.join().unwrap()
        });
        assert!(loads > 10, "the reader raced too little: {loads} reads");
        let names: Vec<_> = fs::read_dir(&parent).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["export"], "no temporary is left");
        fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn an_invalid_export_writes_nothing() {
        let dir = temp_dir("invalid");
        let mut export = full_export();
        export.meta.actions.n = 3;
        let e = export.write(&dir).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: actions.n: is 3, but network.n_actions is 2");
        assert!(!dir.exists());
        // A weight vector of the wrong length (the shapes agree with the metadata).
        let mut export = full_export();
        mlp_mut(&mut export.network).hidden[1].weight.pop();
        let e = export.write(&dir).unwrap_err();
        assert_eq!(e.to_string(), "network: hidden.1: weight has 19 values, expected 5·4 = 20");
        assert!(!dir.exists());
    }

    /// The shipped exports read, and written again, reproduce their files byte for byte (the
    /// trainer's export tests compare fresh exports with them).
    #[test]
    fn shipped_exports_round_trip_byte_for_byte() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints");
        for name in ["shipped-park-lb-export", "shipped-seed-case-export"] {
            let src = shipped.join(name);
            let export = Export::read(&src).unwrap_or_else(|e| panic!("{e}"));
            let dir = temp_dir(name);
            export.write(&dir).unwrap();
            for file in [META_FILE, WEIGHTS_FILE] {
                let (want, got) = (fs::read(src.join(file)).unwrap(), fs::read(dir.join(file)).unwrap());
                assert!(want == got, "{name}/{file}: the rewritten file differs");
            }
            // And the policy loads and acts.
            let mut policy = Policy::from_export(export).unwrap();
            let obs = vec![0.0; policy.obs_dim()];
            let mask = vec![true; policy.n_actions()];
            assert!(policy.act(&obs, &mask).unwrap() < policy.n_actions());
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// `Export::from_bytes` parses what `Export::read` reads from the files, naming the files
    /// without a directory; `policy.json` must be UTF-8 (a typed error, not an I/O one).
    #[test]
    fn from_bytes_reads_the_files_contents() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/shipped-park-lb-export");
        let (json, weights) =
            (fs::read(shipped.join(META_FILE)).unwrap(), fs::read(shipped.join(WEIGHTS_FILE)).unwrap());
        assert_eq!(Export::from_bytes(&json, &weights).unwrap(), Export::read(&shipped).unwrap());
        let e = Export::from_bytes(b"{\"format\": \"\xff\"}", &weights).unwrap_err();
        assert!(matches!(e, PolicyError::Json { .. }), "{e:?}");
        assert!(e.to_string().starts_with("policy.json: not valid UTF-8"), "{e}");
        let e = Export::from_bytes(&json, &weights[..100]).unwrap_err();
        assert!(e.to_string().starts_with("policy.safetensors: "), "{e}");
    }
}
