//! The node-scoring Q-network as plain vectors: one small network scores every node, so the
//! same weights serve a cluster of any size ([`NodeScoring`]).
//!
//! For an observation of `N` node rows (`node_width` values each) and one task row
//! (`task_width` values), with `act` the activation:
//!
//! ```text
//! t     = task · W_embed_task                                    once per decision
//! e_i   = act(node_i · W_embed_node + b_embed_node + t)          every node, same weights
//! e_i   = act(embed.k(e_i))                                      further embedding layers
//! s     = [mean_i e_i, max_i e_i]                                the cluster summary (2h)
//! p     = s · W_score_pool                                       once per decision
//! z_i   = act(e_i · W_score_node + b_score_node + p)
//! A_i   = head(z_i)                                              one value per node
//! Q_i   = A_i                         or, dueling, (A_i − mean_j A_j) + value(s)
//! ```
//!
//! The task's and the summary's terms of the first embedding and scoring layers are computed
//! once per decision and added to every node's (the concatenation `[node_i, task] · W` split
//! in two). Permuting the nodes permutes `e`, leaves `s` unchanged and so permutes `Q`: the
//! network is permutation-equivariant, and nothing in it depends on `N`.
//!
//! Padding (training on clusters of several sizes in one batch) marks the real nodes with a
//! `present` mask: the summary pools over the present nodes only and the dueling mean averages
//! over them, so a padded row never changes a real node's Q-value.

use crate::{Activation, Architecture, Dense, NetworkShape, ShapeError};

/// The node-scoring Q-network's weights, each [`Dense`] `[d_in, d_out]` row-major, named as its
/// tensors are (`embed_node`, `embed_task`, `embed.{k}`, `score_node`, `score_pool`, `head`,
/// `value`). See the [module documentation](self) for the arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeScoring {
    /// First embedding layer, node part: `[node_width, h_0]` with the layer's bias.
    pub embed_node: Dense,
    /// First embedding layer, task part: `[task_width, h_0]`; its bias is 0 (the node part
    /// holds the layer's bias).
    pub embed_task: Dense,
    /// Further embedding layers `h_k → h_{k+1}`, each followed by the activation.
    pub embed: Vec<Dense>,
    /// Scoring layer, node part: `[h, s]` with the layer's bias (`h` the embedding width).
    pub score_node: Dense,
    /// Scoring layer, summary part: `[2h, s]`; its bias is 0.
    pub score_pool: Dense,
    /// Output: `[s, 1]`, a node's Q-value (or advantage, dueling).
    pub head: Dense,
    /// Dueling value head on the summary, `[2h, 1]`.
    pub value: Option<Dense>,
    /// Activation after every embedding layer and the scoring layer.
    pub activation: Activation,
}

impl NodeScoring {
    /// Values per node row (the first embedding layer's node inputs).
    pub fn node_width(&self) -> usize {
        self.embed_node.d_in
    }

    /// Values of the task row.
    pub fn task_width(&self) -> usize {
        self.embed_task.d_in
    }

    /// The embedding width `h`: what each node's embedding and half the summary hold.
    pub fn embed_width(&self) -> usize {
        self.embed.last().unwrap_or(&self.embed_node).d_out
    }

    /// The widths of the hidden layers as `NetworkShape::hidden_sizes` records them: the
    /// embedding layers', then the scoring layer's.
    pub fn hidden_sizes(&self) -> Vec<usize> {
        std::iter::once(self.embed_node.d_out)
            .chain(self.embed.iter().map(|d| d.d_out))
            .chain([self.score_node.d_out])
            .collect()
    }

    /// The network's shape as it serves clusters of `n_nodes` nodes (what a checkpoint or
    /// `policy.json` records for the layout it was trained on; the weights serve any `N`).
    pub fn shape(&self, n_nodes: usize) -> NetworkShape {
        NetworkShape {
            obs_dim: n_nodes * self.node_width() + self.task_width(),
            n_actions: n_nodes,
            hidden_sizes: self.hidden_sizes(),
            activation: self.activation,
            dueling: self.value.is_some(),
            architecture: Architecture::NodeScoring { node_width: self.node_width(), task_width: self.task_width() },
        }
    }

    /// The layers in order, each named as its tensors are.
    pub fn layers(&self) -> impl Iterator<Item = (String, &Dense)> {
        let first = [("embed_node".to_string(), &self.embed_node), ("embed_task".to_string(), &self.embed_task)];
        let embed = self.embed.iter().enumerate().map(|(k, d)| (format!("embed.{k}"), d));
        let score = [
            ("score_node".to_string(), &self.score_node),
            ("score_pool".to_string(), &self.score_pool),
            ("head".to_string(), &self.head),
        ];
        first.into_iter().chain(embed).chain(score).chain(self.value.iter().map(|v| ("value".to_string(), v)))
    }

    /// Number of nodes in an observation of `obs_len` values, if it is a whole number of node
    /// rows (at least one) followed by the task row.
    pub fn n_nodes_of(&self, obs_len: usize) -> Option<usize> {
        let (w, t) = (self.node_width(), self.task_width());
        let nodes = obs_len.checked_sub(t)?;
        (nodes > 0 && nodes.is_multiple_of(w)).then_some(nodes / w)
    }

    /// Checks that the layers fit together: every layer has inputs and outputs and vectors of
    /// the lengths its widths say, the embedding chain is consistent, the task and node parts
    /// of each split layer have the same outputs, the summary is twice the embedding width,
    /// the head and the value head have one output, and the bias-free halves have zero bias.
    ///
    /// # Errors
    /// The first problem, as [`ShapeError::Layer`] naming the layer.
    pub fn validate(&self) -> Result<(), ShapeError> {
        for (layer, d) in self.layers() {
            let bad = |message: String| Err(ShapeError::Layer { layer: layer.clone(), message });
            if d.d_in == 0 || d.d_out == 0 {
                return bad(format!("has shape [{}, {}]; a layer needs inputs and outputs", d.d_in, d.d_out));
            }
            if let Err(e) = d.check_lengths() {
                return bad(e.to_string());
            }
        }
        let bad = |layer: &str, message: String| Err(ShapeError::Layer { layer: layer.into(), message });
        if self.embed_task.d_out != self.embed_node.d_out {
            return bad(
                "embed_task",
                format!("has {} outputs but embed_node has {}", self.embed_task.d_out, self.embed_node.d_out),
            );
        }
        let mut width = self.embed_node.d_out;
        for (k, d) in self.embed.iter().enumerate() {
            if d.d_in != width {
                return bad(
                    &format!("embed.{k}"),
                    format!("has {} inputs but the layer before it has {width} outputs", d.d_in),
                );
            }
            width = d.d_out;
        }
        if self.score_node.d_in != width {
            return bad(
                "score_node",
                format!("has {} inputs but the embedding has {width} values", self.score_node.d_in),
            );
        }
        if self.score_pool.d_in != 2 * width {
            return bad(
                "score_pool",
                format!("has {} inputs but the summary (mean and max) has {}", self.score_pool.d_in, 2 * width),
            );
        }
        if self.score_pool.d_out != self.score_node.d_out {
            return bad(
                "score_pool",
                format!("has {} outputs but score_node has {}", self.score_pool.d_out, self.score_node.d_out),
            );
        }
        if self.head.d_in != self.score_node.d_out || self.head.d_out != 1 {
            return bad(
                "head",
                format!("has shape [{}, {}], expected [{}, 1]", self.head.d_in, self.head.d_out, self.score_node.d_out),
            );
        }
        if let Some(v) = &self.value
            && (v.d_in != 2 * width || v.d_out != 1)
        {
            return bad("value", format!("has shape [{}, {}], expected [{}, 1]", v.d_in, v.d_out, 2 * width));
        }
        for (layer, d) in [("embed_task", &self.embed_task), ("score_pool", &self.score_pool)] {
            if d.bias.iter().any(|&b| b != 0.0) {
                return bad(layer, "has a non-zero bias; the node part holds the layer's bias".into());
            }
        }
        Ok(())
    }

    /// The reference forward pass of one (normalised) observation of any number of nodes,
    /// following the [module documentation](self) literally: slow and allocating, for tests
    /// and tools (the `policy` crate's runtime computes the same values without allocating).
    /// `present[i]` says whether node `i` is real (`None`: all are); absent nodes get `NaN`.
    ///
    /// # Shapes
    /// - `obs`: `[N·node_width + task_width]`
    /// - `present`: `[N]`
    /// - output: `[N]`
    ///
    /// # Panics
    /// If `obs` is not a whole number of node rows plus the task row, `present` has another
    /// length or no present node, or the network is inconsistent ([`NodeScoring::validate`]).
    pub fn forward(&self, obs: &[f32], present: Option<&[bool]>) -> Vec<f32> {
        let n = self.n_nodes_of(obs.len()).expect("observation is N node rows and a task row");
        let all = vec![true; n];
        let present = present.unwrap_or(&all);
        assert_eq!(present.len(), n, "present mask length");
        assert!(present.contains(&true), "no present node");
        let (w, h) = (self.node_width(), self.embed_width());
        let dense = |d: &Dense, x: &[f32]| {
            let mut y = vec![0.0; d.d_out];
            d.forward_into(x, &mut y);
            y
        };
        let task = dense(&self.embed_task, &obs[n * w..]);
        let embeddings: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let mut e = dense(&self.embed_node, &obs[i * w..(i + 1) * w]);
                e.iter_mut().zip(&task).for_each(|(x, t)| *x += t);
                self.activation.apply_slice(&mut e);
                for layer in &self.embed {
                    e = dense(layer, &e);
                    self.activation.apply_slice(&mut e);
                }
                e
            })
            .collect();
        let real = || embeddings.iter().zip(present).filter(|(_, p)| **p).map(|(e, _)| e);
        let count = real().count() as f32;
        let mut summary = vec![0.0f32; 2 * h];
        summary[h..].fill(f32::NEG_INFINITY);
        for e in real() {
            for (k, &x) in e.iter().enumerate() {
                summary[k] += x;
                summary[h + k] = summary[h + k].max(x);
            }
        }
        summary[..h].iter_mut().for_each(|s| *s /= count);
        let pool = dense(&self.score_pool, &summary);
        let mut q: Vec<f32> = embeddings
            .iter()
            .zip(present)
            .map(|(e, &p)| {
                if !p {
                    return f32::NAN;
                }
                let mut z = dense(&self.score_node, e);
                z.iter_mut().zip(&pool).for_each(|(x, p)| *x += p);
                self.activation.apply_slice(&mut z);
                dense(&self.head, &z)[0]
            })
            .collect();
        if let Some(value) = &self.value {
            let v = dense(value, &summary)[0];
            let mean = q.iter().zip(present).filter(|(_, p)| **p).map(|(a, _)| a).sum::<f32>() / count;
            q.iter_mut().zip(present).filter(|(_, p)| **p).for_each(|(a, _)| *a = (*a - mean) + v);
        }
        q
    }
}

/// A Q-network of either architecture, as checkpoints, exports and the runtime hold it.
// A policy holds one network, built once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Network {
    /// One MLP over the whole observation (fits one node count).
    Mlp(crate::Mlp),
    /// The node-scoring network (serves any node count).
    NodeScoring(NodeScoring),
}

impl Network {
    /// The network's shape; `n_nodes` is the node count a node-scoring network is described
    /// for (an MLP's shape is its own and ignores it).
    pub fn shape(&self, n_nodes: usize) -> NetworkShape {
        match self {
            Network::Mlp(mlp) => mlp.shape(),
            Network::NodeScoring(net) => net.shape(n_nodes),
        }
    }

    /// The layers in order, each named as its tensors are.
    pub fn layers(&self) -> Box<dyn Iterator<Item = (String, &Dense)> + '_> {
        match self {
            Network::Mlp(mlp) => Box::new(mlp.layers()),
            Network::NodeScoring(net) => Box::new(net.layers()),
        }
    }

    /// Checks that the layers fit together ([`crate::Mlp::validate`], [`NodeScoring::validate`]).
    ///
    /// # Errors
    /// The first problem, naming the layer.
    pub fn validate(&self) -> Result<(), ShapeError> {
        match self {
            Network::Mlp(mlp) => mlp.validate(),
            Network::NodeScoring(net) => net.validate(),
        }
    }

    /// The activation after each hidden layer.
    pub fn activation(&self) -> Activation {
        match self {
            Network::Mlp(mlp) => mlp.activation,
            Network::NodeScoring(net) => net.activation,
        }
    }

    /// The reference forward pass of one (normalised) observation, every node present
    /// ([`crate::Mlp::forward`], [`NodeScoring::forward`]).
    ///
    /// # Panics
    /// As those functions.
    pub fn forward(&self, obs: &[f32]) -> Vec<f32> {
        match self {
            Network::Mlp(mlp) => mlp.forward(obs),
            Network::NodeScoring(net) => net.forward(obs, None),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! A node-scoring network with hand-picked weights, its Q-values by hand, and the
    //! invariants (equivariance, any N, padding) on random weights.

    use super::*;

    /// Node rows of 2 values, a task row of 1; embedding width 2, scoring width 1.
    ///
    /// embed_node `[[1, 0], [0, 1]]` + bias `[0, −1]`; embed_task `[[1, 1]]`; score_node
    /// `[[1], [−1]]` + bias 0.5; score_pool `[[0], [0], [1], [0]]` (the max of feature 0);
    /// head `[[2]]` + bias −1; value `[[1], [1], [0], [0]]` + 0.
    pub(crate) fn tiny(activation: Activation, dueling: bool) -> NodeScoring {
        NodeScoring {
            embed_node: Dense::new(2, 2, vec![1.0, 0.0, 0.0, 1.0], vec![0.0, -1.0]).unwrap(),
            embed_task: Dense::new(1, 2, vec![1.0, 1.0], vec![0.0, 0.0]).unwrap(),
            embed: vec![],
            score_node: Dense::new(2, 1, vec![1.0, -1.0], vec![0.5]).unwrap(),
            score_pool: Dense::new(4, 1, vec![0.0, 0.0, 1.0, 0.0], vec![0.0]).unwrap(),
            head: Dense::new(1, 1, vec![2.0], vec![-1.0]).unwrap(),
            value: dueling.then(|| Dense::new(4, 1, vec![1.0, 1.0, 0.0, 0.0], vec![0.0]).unwrap()),
            activation,
        }
    }

    #[test]
    fn q_values_by_hand() {
        // Nodes [1, 3], [2, 0]; task 1. e_0 = relu([1 + 1, 3 − 1 + 1]) = [2, 3];
        // e_1 = relu([2 + 1, 0 − 1 + 1]) = [3, 0]. Summary: mean [2.5, 1.5], max [3, 3].
        // pool = 3. z_0 = relu(2 − 3 + 0.5 + 3) = 2.5 → A_0 = 4; z_1 = relu(3 + 0.5 + 3) = 6.5 → 12.
        let obs = [1.0, 3.0, 2.0, 0.0, 1.0];
        let net = tiny(Activation::Relu, false);
        net.validate().unwrap();
        assert_eq!(net.n_nodes_of(5), Some(2));
        assert_eq!(net.forward(&obs, None), [4.0, 12.0]);
        // Dueling: V = 2.5 + 1.5 = 4, mean A = 8 → Q = A − 8 + 4.
        assert_eq!(tiny(Activation::Relu, true).forward(&obs, None), [0.0, 8.0]);
        // One node: the summary is that node's embedding.
        // e = [2, 3]; pool = max feature 0 = 2; z = relu(2 − 3 + 0.5 + 2) = 1.5 → 2.
        assert_eq!(net.forward(&[1.0, 3.0, 1.0], None), [2.0]);
        assert_eq!(net.hidden_sizes(), [2, 1]);
        assert_eq!(net.shape(2).to_string(), "5-2-1-2 relu node-scoring 2+1");
        let names: Vec<String> = tiny(Activation::Relu, true).layers().map(|(n, _)| n).collect();
        assert_eq!(names, ["embed_node", "embed_task", "score_node", "score_pool", "head", "value"]);
        let network = Network::NodeScoring(net);
        network.validate().unwrap();
        assert_eq!(network.forward(&obs), [4.0, 12.0]);
        assert_eq!(network.layers().count(), 5);
        assert_eq!(network.activation(), Activation::Relu);
    }

    #[test]
    fn node_counts_that_do_not_fit() {
        let net = tiny(Activation::Relu, false);
        assert_eq!(net.n_nodes_of(1), None, "no node");
        assert_eq!(net.n_nodes_of(0), None);
        assert_eq!(net.n_nodes_of(4), None, "half a node row");
        assert_eq!(net.n_nodes_of(2001), Some(1000));
    }

    /// A deterministic pseudo-random network (an LCG; no dependency) of the given widths.
    pub(crate) fn random(w: usize, t: usize, hidden: &[usize], dueling: bool, seed: u64) -> NodeScoring {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut draw = |n: usize, zero: bool| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    if zero { 0.0 } else { ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.2 }
                })
                .collect()
        };
        let mut dense = |i: usize, o: usize, zero_bias: bool| {
            let weight = draw(i * o, false);
            Dense::new(i, o, weight, draw(o, zero_bias)).unwrap()
        };
        let (embeds, s) = hidden.split_at(hidden.len() - 1);
        let h = *embeds.last().unwrap();
        NodeScoring {
            embed_node: dense(w, embeds[0], false),
            embed_task: dense(t, embeds[0], true),
            embed: embeds.windows(2).map(|p| dense(p[0], p[1], false)).collect(),
            score_node: dense(h, s[0], false),
            score_pool: dense(2 * h, s[0], true),
            head: dense(s[0], 1, false),
            value: dueling.then(|| dense(2 * h, 1, false)),
            activation: Activation::Tanh,
        }
    }

    fn observation(n: usize, w: usize, t: usize, seed: u32) -> Vec<f32> {
        (0..n * w + t).map(|k| ((k as f32 + 0.3) * (seed as f32 + 1.7)).sin()).collect()
    }

    #[test]
    fn permuting_nodes_permutes_q_values() {
        for dueling in [false, true] {
            let net = random(4, 3, &[8, 6, 5], dueling, 11);
            net.validate().unwrap();
            for n in [1, 2, 7, 30] {
                let obs = observation(n, 4, 3, n as u32);
                let q = net.forward(&obs, None);
                // Reverse, then rotate by 3: a permutation with no fixed structure.
                let perm: Vec<usize> = (0..n).rev().cycle().skip(3 % n).take(n).collect();
                let mut permuted = obs.clone();
                for (to, &from) in perm.iter().enumerate() {
                    permuted[to * 4..(to + 1) * 4].copy_from_slice(&obs[from * 4..(from + 1) * 4]);
                }
                let qp = net.forward(&permuted, None);
                for (to, &from) in perm.iter().enumerate() {
                    // The sums of the mean pool run in another order: equal up to rounding.
                    assert!((qp[to] - q[from]).abs() < 1e-5, "n {n} dueling {dueling}: {} vs {}", qp[to], q[from]);
                }
            }
        }
    }

    #[test]
    fn padding_never_changes_real_nodes() {
        for dueling in [false, true] {
            let net = random(3, 2, &[6, 4], dueling, 5);
            let real = observation(5, 3, 2, 9);
            let q = net.forward(&real, None);
            // The same 5 nodes with 3 padded rows (zeros, then garbage) between and after them.
            for pad in [0.0, 7.5] {
                let mut padded = Vec::new();
                let mut present = Vec::new();
                for i in 0..5 {
                    padded.extend_from_slice(&real[i * 3..(i + 1) * 3]);
                    present.push(true);
                    if i % 2 == 0 {
                        padded.extend_from_slice(&[pad; 3]);
                        present.push(false);
                    }
                }
                padded.extend_from_slice(&real[15..]);
                let qp = net.forward(&padded, Some(&present));
                let kept: Vec<f32> = qp.iter().zip(&present).filter(|(_, p)| **p).map(|(q, _)| *q).collect();
                assert_eq!(kept, q, "dueling {dueling} pad {pad}");
                assert!(qp.iter().zip(&present).all(|(q, p)| *p || q.is_nan()));
            }
        }
    }

    #[test]
    fn validate_names_the_layer() {
        let check = |edit: fn(&mut NodeScoring), want: &str| {
            let mut net = random(3, 2, &[6, 4, 5], true, 1);
            net.validate().unwrap();
            edit(&mut net);
            assert_eq!(net.validate().unwrap_err().to_string(), want);
        };
        check(
            |n| n.embed_task = Dense::new(2, 5, vec![0.0; 10], vec![0.0; 5]).unwrap(),
            "embed_task: has 5 outputs but embed_node has 6",
        );
        check(
            |n| n.embed[0] = Dense::new(5, 4, vec![0.0; 20], vec![0.0; 4]).unwrap(),
            "embed.0: has 5 inputs but the layer before it has 6 outputs",
        );
        check(
            |n| n.score_node = Dense::new(6, 5, vec![0.0; 30], vec![0.0; 5]).unwrap(),
            "score_node: has 6 inputs but the embedding has 4 values",
        );
        check(
            |n| n.score_pool = Dense::new(4, 5, vec![0.0; 20], vec![0.0; 5]).unwrap(),
            "score_pool: has 4 inputs but the summary (mean and max) has 8",
        );
        check(
            |n| n.head = Dense::new(5, 2, vec![0.0; 10], vec![0.0; 2]).unwrap(),
            "head: has shape [5, 2], expected [5, 1]",
        );
        check(
            |n| n.value = Some(Dense::new(4, 1, vec![0.0; 4], vec![0.0]).unwrap()),
            "value: has shape [4, 1], expected [8, 1]",
        );
        check(|n| n.embed_task.bias[1] = 0.5, "embed_task: has a non-zero bias; the node part holds the layer's bias");
        check(|n| n.head.bias.clear(), "head: bias has 0 values, expected 1");
    }
}
