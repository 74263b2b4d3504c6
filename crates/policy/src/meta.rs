//! `policy.json`: [`PolicyMeta`] — what the network is, what it was trained on, how to build its
//! input — and its consistency checks.

use std::collections::BTreeMap;
use std::path::Path;

use policy_core::{ActionFilter, Architecture, NetworkShape, Normalization, ObservationLayout};
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};

/// `format` of `policy.json` and of the safetensors `__metadata__`.
pub const FORMAT: &str = "cluster-rl-policy";
/// The newest `format_version` this runtime reads and writes: version 2 records the network's
/// architecture (`network.architecture`), which a node-scoring export needs.
pub const FORMAT_VERSION: u32 = 2;
/// The `format_version` of an MLP export. Version 1 has no architecture (every network in it is
/// an MLP), and an MLP's `policy.json` reads the same in both versions, so MLP exports keep
/// being written as version 1: their files stay byte for byte what they were, and runtimes that
/// read only version 1 still load them. Only a node-scoring export is written as version 2.
pub const FORMAT_VERSION_MLP: u32 = 1;
/// `weight_layout` of `policy.json`: how to read the weight tensors.
pub const WEIGHT_LAYOUT: &str = "[in, out]; y = x W + b";
/// What an action means, as [`PolicyMeta::new`] records it.
pub const ACTION_MEANING: &str = "index of the node the task is placed on (the node's id in the cluster state)";
/// What errors about an export that was built in memory (not read from a file) name as its path.
pub const IN_MEMORY: &str = "<in-memory export>";

/// `policy.json`: what the network is, what it was trained on, and how to build its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION_MLP`] (1) for an MLP, [`FORMAT_VERSION`] (2) for a node-scoring
    /// network; a reader takes either for an MLP.
    pub format_version: u32,
    /// Scenario the policy was trained on (a preset name or the experiment's scenario name).
    pub scenario: String,
    /// Where the weights came from.
    #[serde(default)]
    pub source: Source,
    /// The network's shape, with its architecture (version 2; absent means an MLP). For a
    /// node-scoring network, `obs_dim` and `n_actions` describe the node count it was trained
    /// on (the observation layout's); the network serves any node count.
    pub network: NetworkShape,
    /// Observation normalisation applied before the network (none: raw observations).
    pub normalization: Option<Normalization>,
    /// How an observation is laid out and normalised from a cluster state.
    pub observation: ObservationLayout,
    /// What the network's outputs index.
    pub actions: ActionMeaning,
    /// Which valid nodes the policy chooses among before taking the largest Q-value
    /// ([`ActionFilter`]; absent means every valid node). With `"fits-now"`, a client that
    /// runs `policy.onnx` itself keeps only the valid nodes whose observation row has 1 in
    /// column [`ObservationLayout::fits_now_column`] when there are any, as [`crate::Policy`]
    /// does. Written only when set, so exports without a filter keep their bytes.
    #[serde(default, skip_serializing_if = "ActionFilter::is_none")]
    pub action_filter: ActionFilter,
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

/// What the network's outputs mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMeaning {
    /// Number of actions (= `network.n_actions` = the number of nodes).
    pub n: usize,
    /// In words ([`ACTION_MEANING`]).
    pub meaning: String,
}

impl PolicyMeta {
    /// Metadata for a network trained on `scenario`: the format and the version its
    /// architecture needs ([`FORMAT_VERSION_MLP`] for an MLP, [`FORMAT_VERSION`] otherwise),
    /// actions meaning node indices (`n` = `network.n_actions`), the `[in, out]` weight layout.
    pub fn new(
        scenario: impl Into<String>,
        source: Source,
        network: NetworkShape,
        normalization: Option<Normalization>,
        observation: ObservationLayout,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: version_for(&network.architecture),
            scenario: scenario.into(),
            source,
            actions: ActionMeaning { n: network.n_actions, meaning: ACTION_MEANING.into() },
            network,
            normalization,
            observation,
            action_filter: ActionFilter::None,
            weight_layout: WEIGHT_LAYOUT.into(),
        }
    }

    /// Checks that the metadata is self-consistent: format and version (version 1 holds MLPs
    /// only), the weight layout, non-empty layers, normalisation vectors of the network's input
    /// width (`obs_dim` for an MLP, `node_width + task_width` for a node-scoring network, whose
    /// statistics every node row shares) with finite means and variances ≥ 0, a usable
    /// observation layout ([`ObservationLayout::validate`]) whose length is `obs_dim` and whose
    /// node count is `n_actions` = `actions.n`; for a node-scoring network also row widths that
    /// are the layout's and at least two hidden sizes (embedding and scoring layers); an action
    /// filter the layout can serve.
    ///
    /// # Errors
    /// The first inconsistency, naming the field (path `<in-memory export>`).
    pub fn validate(&self) -> Result<()> {
        self.validate_at(Path::new(IN_MEMORY))
    }

    /// [`PolicyMeta::validate`], naming `path` in errors.
    pub(crate) fn validate_at(&self, path: &Path) -> Result<()> {
        if self.format != FORMAT {
            return Err(PolicyError::Format { path: path.into(), found: json_string(&self.format) });
        }
        if !(FORMAT_VERSION_MLP..=FORMAT_VERSION).contains(&self.format_version) {
            return Err(PolicyError::Version {
                path: path.into(),
                found: self.format_version.to_string(),
                supported: FORMAT_VERSION,
            });
        }
        if self.format_version < FORMAT_VERSION && !self.network.architecture.is_mlp() {
            return Err(meta_err(
                path,
                "format_version",
                format!(
                    "is {}, which holds MLPs only, but network.architecture is node-scoring; expected {FORMAT_VERSION}",
                    self.format_version
                ),
            ));
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
        self.observation.validate().map_err(|e| meta_err(path, &format!("observation.{}", e.field), e.message))?;
        self.action_filter.column(&self.observation).map_err(|message| meta_err(path, "action_filter", message))?;
        if let Architecture::NodeScoring { node_width, task_width } = net.architecture {
            let (layout_node, layout_task) = (self.observation.node_width(), self.observation.task_width());
            if (node_width, task_width) != (layout_node, layout_task) {
                return Err(meta_err(
                    path,
                    "network.architecture",
                    format!(
                        "has rows of {node_width} (node) and {task_width} (task) values, but the observation \
                         layout's are {layout_node} and {layout_task}"
                    ),
                ));
            }
            if net.hidden_sizes.len() < 2 {
                return Err(meta_err(
                    path,
                    "network.hidden_sizes",
                    format!(
                        "has {} values, but a node-scoring network needs at least 2 (its embedding layers, then \
                         its scoring layer)",
                        net.hidden_sizes.len()
                    ),
                ));
            }
        }
        if let Some(norm) = &self.normalization {
            let (width, width_is) = input_width(net);
            check_normalization(norm, width, width_is)
                .map_err(|(field, message)| meta_err(path, &format!("normalization.{field}"), message))?;
        }
        let layout_dim = self.observation.obs_dim();
        if layout_dim != net.obs_dim {
            let (n, r) = (self.observation.n_nodes(), self.observation.resources().len());
            let kind = self.observation.kind_name();
            let formula = match self.observation {
                ObservationLayout::Full { .. } => format!("{n}·({r}+4) + {r} + 2"),
                ObservationLayout::Scalable { .. } => {
                    format!("{n}·(3·{r}+{}) + {r} + 2", self.observation.node_width() - 3 * r)
                }
                ObservationLayout::Park { .. } => format!("{n} + 1"),
            };
            return Err(meta_err(
                path,
                "network.obs_dim",
                format!(
                    "is {}, but the {kind} observation of {n} nodes and {r} resources has {formula} = \
                     {layout_dim} values",
                    net.obs_dim,
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
}

/// The `format_version` an export of a network of this architecture is written with.
pub(crate) fn version_for(architecture: &Architecture) -> u32 {
    if architecture.is_mlp() { FORMAT_VERSION_MLP } else { FORMAT_VERSION }
}

/// The number of features a normalisation of this network has, and where that number comes
/// from (for errors): `obs_dim` for an MLP, one node row and the task row
/// (`node_width + task_width`, every node row sharing the statistics) for a node-scoring one.
pub(crate) fn input_width(shape: &NetworkShape) -> (usize, &'static str) {
    match shape.architecture {
        Architecture::Mlp => (shape.obs_dim, "network.obs_dim"),
        Architecture::NodeScoring { node_width, task_width } => {
            (node_width + task_width, "node_width + task_width: one node row and the task row")
        }
    }
}

/// Checks a normalisation for a network of input width `obs_dim`: `mean` and `var` of that
/// length, `epsilon` finite and ≥ 0, `clip` > 0, finite means, finite variances ≥ 0 and
/// `var + epsilon > 0`. The error is `(field, message)`, the field relative to the
/// normalisation (`var[3]`).
///
/// `width_is` says where the width comes from in the error (`network.obs_dim`).
pub(crate) fn check_normalization(
    norm: &Normalization,
    obs_dim: usize,
    width_is: &str,
) -> Result<(), (String, String)> {
    for (name, v) in [("mean", &norm.mean), ("var", &norm.var)] {
        if v.len() != obs_dim {
            return Err((name.into(), format!("has {} values, expected {obs_dim} ({width_is})", v.len())));
        }
    }
    if !(norm.epsilon.is_finite() && norm.epsilon >= 0.0) {
        return Err(("epsilon".into(), format!("is {}, expected a finite number ≥ 0", norm.epsilon)));
    }
    if norm.clip.is_nan() || norm.clip <= 0.0 {
        return Err(("clip".into(), format!("is {}, expected a number > 0", norm.clip)));
    }
    for (j, (&m, &v)) in norm.mean.iter().zip(&norm.var).enumerate() {
        if !m.is_finite() {
            return Err((format!("mean[{j}]"), format!("is {m}, expected a finite number")));
        }
        if !(v.is_finite() && v >= 0.0) {
            return Err((format!("var[{j}]"), format!("is {v}, expected a finite number ≥ 0")));
        }
        if v + norm.epsilon <= 0.0 {
            return Err((
                format!("var[{j}]"),
                "is 0 and epsilon is 0, so the feature would be divided by zero; expected var + epsilon > 0".into(),
            ));
        }
    }
    Ok(())
}

/// A string as a JSON literal (quoted and escaped), as error messages show file contents.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// [`PolicyError::Meta`].
pub(crate) fn meta_err(path: &Path, field: &str, message: String) -> PolicyError {
    PolicyError::Meta { path: path.into(), field: field.into(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::full_export;
    use crate::runtime::tests::park2;

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
    fn inconsistent_metadata() {
        let check = |edit: fn(&mut PolicyMeta), want: &str| {
            let mut meta = full_export().meta;
            edit(&mut meta);
            let e = meta.validate().unwrap_err();
            assert_eq!(e.to_string(), format!("<in-memory export>: {want}"));
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
            |m| {
                let norm = m.normalization.as_mut().unwrap();
                (norm.var[2], norm.epsilon) = (0.0, 0.0);
            },
            "normalization.var[2]: is 0 and epsilon is 0, so the feature would be divided by zero; expected var + \
             epsilon > 0",
        );
        check(
            |m| m.normalization.as_mut().unwrap().clip = f64::NAN,
            "normalization.clip: is NaN, expected a number > 0",
        );
        check(
            |m| m.observation = park2(),
            "network.obs_dim: is 16, but the park observation of 2 nodes and 1 resources has 2 + 1 = 3 values",
        );
        check(|m| m.actions.n = 3, "actions.n: is 3, but network.n_actions is 2");
        check(|m| m.network.hidden_sizes[1] = 0, "network.hidden_sizes[1]: is 0, expected at least 1");
        check(
            |m| {
                if let ObservationLayout::Full { max_capacity, .. } = &mut m.observation {
                    max_capacity[1] = 0.0;
                }
            },
            "observation.max_capacity[1]: is 0, expected a finite number > 0",
        );
        check(
            |m| {
                if let ObservationLayout::Full { n_nodes, .. } = &mut m.observation {
                    *n_nodes = 3;
                }
            },
            "network.obs_dim: is 16, but the full observation of 3 nodes and 2 resources has 3·(2+4) + 2 + 2 = 22 \
             values",
        );
        check(
            |m| m.format_version = 7,
            "format_version is 7, but this runtime reads versions 1 to 2 only (export the policy again with a matching \
             `cluster-rl`)",
        );
        check(
            |m| m.format = "onnx".into(),
            "format is \"onnx\", expected \"cluster-rl-policy\" (not a cluster-rl policy export)",
        );
    }
}
