//! [`DqnConfig`]: every hyperparameter of the learner in one serde struct.

use serde::{Deserialize, Serialize};

use crate::DqnError;
use policy_core::{ActionFilter, Activation};

/// Most parallel environments (`num_envs`): the agent keeps per-env n-step windows and
/// statistics, and the trainer builds one environment each.
pub const MAX_NUM_ENVS: usize = 4096;

/// Largest replay buffer (`buffer_size`), in transitions; its memory is also bounded by
/// [`MAX_REPLAY_BYTES`] once the observation size is known.
pub const MAX_BUFFER_SIZE: usize = 100_000_000;

/// Widest hidden layer (`hidden_sizes`).
pub const MAX_HIDDEN_WIDTH: usize = 65_536;

/// Most hidden layers (`hidden_sizes`).
pub const MAX_HIDDEN_LAYERS: usize = 64;

/// Longest observation (`obs_dim`, the network's input width) an agent may be built for.
pub const MAX_OBS_DIM: usize = 1 << 24;

/// Most actions (`n_actions`, the network's output width) an agent may be built for.
pub const MAX_ACTIONS: usize = 1 << 24;

/// Most bytes the replay buffer may preallocate (64 GiB): two observations, a next mask and
/// four scalars per transition, plus the priority tree. Every buffer is allocated in full when
/// the agent is built (or loaded), so this is refused up front rather than aborting then.
pub const MAX_REPLAY_BYTES: u64 = 64 << 30;

/// Most bytes of the n-step windows, `num_envs × n_step` pending observations (4 GiB).
pub const MAX_NSTEP_BYTES: u64 = 4 << 30;

/// Most parameters of the Q-network (2^30: 4 GiB of `f32` per copy; the agent holds the online
/// and target networks, Adam's two moments and a gradient of that size).
pub const MAX_NETWORK_PARAMS: u64 = 1 << 30;

/// Where the networks live and run.
///
/// Written in config files as a string: `"cpu"` (burn's pure-Rust flex backend, always
/// available), `"cuda"` / `"cuda:N"` (needs the crate's `cuda` feature) or `"wgpu"` (needs the
/// `wgpu` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSetting {
    /// burn's flex CPU backend: single-threaded and bit-for-bit reproducible.
    #[default]
    Cpu,
    /// An NVIDIA GPU through CUDA, by index.
    Cuda(usize),
    /// The default wgpu adapter (Vulkan, Metal, DX12 or WebGPU).
    Wgpu,
}

impl std::fmt::Display for DeviceSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSetting::Cpu => write!(f, "cpu"),
            DeviceSetting::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceSetting::Wgpu => write!(f, "wgpu"),
        }
    }
}

impl std::str::FromStr for DeviceSetting {
    type Err = DqnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" | "flex" => Ok(DeviceSetting::Cpu),
            "cuda" => Ok(DeviceSetting::Cuda(0)),
            "wgpu" => Ok(DeviceSetting::Wgpu),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceSetting::Cuda(i)),
                _ => Err(DqnError::config(
                    "device",
                    format!("unknown device {s:?} (expected cpu, cuda, cuda:N or wgpu)"),
                )),
            },
        }
    }
}

impl Serialize for DeviceSetting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How ε, the probability of a random action, decays from `start_e` to `end_e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpsilonSchedule {
    /// Straight line from `start_e` to `end_e` over the exploration period (CleanRL).
    #[default]
    Linear,
    /// Geometric decay `start_e · (end_e / start_e)^(t / T)`, reaching `end_e` at the same time
    /// as the linear schedule; needs `end_e > 0`.
    Exponential,
}

/// How the learning rate changes over training, by global step.
///
/// The annealing schedules go from `learning_rate` at step 0 to `end_learning_rate` at
/// `total_timesteps` and stay there; a resumed run continues the curve because the agent saves
/// its global step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// `learning_rate` throughout (`end_learning_rate` is ignored).
    #[default]
    Constant,
    /// Straight line from `learning_rate` to `end_learning_rate`.
    Linear,
    /// Half a cosine from `learning_rate` to `end_learning_rate` (SGDR without restarts):
    /// flat at both ends, fastest in the middle.
    Cosine,
}

/// Which Q-network an agent trains (`agent.network` in an experiment file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// One MLP over the whole flat observation (`hidden_sizes` are its layers): fits one node
    /// count.
    #[default]
    Mlp,
    /// One small network scores every node from its row, the task's row and a mean/max summary
    /// of all nodes (`policy_core::NodeScoring`): serves any node count. `hidden_sizes` are
    /// the embedding layers then the scoring layer (at least two).
    NodeScoring,
}

impl NetworkKind {
    /// Whether this is the MLP (serde skips the field then, so MLP configs read and write as
    /// they did before the field existed).
    pub fn is_mlp(&self) -> bool {
        matches!(self, NetworkKind::Mlp)
    }
}

/// The regression loss between Q(s, a) and its TD target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Huber (smooth L1) with δ = 1: quadratic near zero, linear beyond — robust to the large
    /// TD errors of big rewards.
    #[default]
    Huber,
    /// Mean squared error (CleanRL's choice).
    Mse,
}

/// All hyperparameters of Deep Q-Learning, read from a config file.
///
/// Missing fields take the [`Default`] values below (CleanRL's `dqn.py` defaults where they
/// work, with Double DQN, Huber loss and gradient clipping on); unknown fields are an error.
/// Call [`DqnConfig::validate`] (the agent does) before use.
///
/// ```
/// let cfg: dqn::DqnConfig = serde_json::from_str(r#"{"learning_rate": 1e-3, "n_step": 3}"#).unwrap();
/// assert_eq!(cfg.n_step, 3);
/// assert!(cfg.double_dqn);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// Seed of everything random in the learner: weight init, exploration, replay sampling
    /// (environments are seeded by the caller).
    pub seed: u64,
    /// Device the networks run on: `"cpu"`, `"cuda"`, `"cuda:N"` or `"wgpu"`.
    pub device: DeviceSetting,
    /// Number of parallel environments the agent acts in (rows of `act_batch`/`observe`).
    pub num_envs: usize,
    /// Length of training, in environment steps summed over all envs; sets the ε and β
    /// schedules.
    pub total_timesteps: u64,
    /// Adam learning rate (step size, unitless); the rate at step 0 under an annealing
    /// `lr_schedule`.
    pub learning_rate: f64,
    /// How the learning rate changes with the global step: `constant`, `linear` or `cosine`
    /// (annealed to `end_learning_rate` at `total_timesteps`).
    pub lr_schedule: LrSchedule,
    /// Learning rate at `total_timesteps` and after, under the `linear` and `cosine`
    /// schedules (ignored by `constant`); in `[0, learning_rate]`.
    pub end_learning_rate: f64,
    /// Adam's ε, added to the denominator for numerical stability (unitless).
    pub adam_epsilon: f64,
    /// Clip the global L2 norm of the gradient to this value before each Adam step; `0`
    /// disables clipping.
    pub max_grad_norm: f64,
    /// Replay buffer capacity, in transitions.
    pub buffer_size: usize,
    /// Discount factor γ per environment step, in `[0, 1]`.
    pub gamma: f64,
    /// Target-network update coefficient τ in `(0, 1]`: `1` is a hard copy, smaller is Polyak
    /// averaging `target ← τ·online + (1−τ)·target`.
    pub tau: f64,
    /// Environment steps between target-network updates.
    pub target_network_frequency: u64,
    /// Transitions per gradient step.
    pub batch_size: usize,
    /// ε at the start of training (probability of a uniformly random valid action).
    pub start_e: f64,
    /// ε at the end of the exploration period and after it.
    pub end_e: f64,
    /// Fraction of `total_timesteps` over which ε decays from `start_e` to `end_e`.
    pub exploration_fraction: f64,
    /// Shape of the ε decay.
    pub epsilon_schedule: EpsilonSchedule,
    /// Environment steps of pure collection before the first gradient step.
    pub learning_starts: u64,
    /// Environment steps between rounds of training.
    pub train_frequency: u64,
    /// Gradient steps per round of training.
    pub gradient_steps: usize,
    /// Double DQN: the online network picks the next action, the target network values it.
    pub double_dqn: bool,
    /// Steps of real reward before bootstrapping (n-step return); `1` is one-step TD.
    pub n_step: usize,
    /// Regression loss between Q(s, a) and the TD target.
    pub loss: LossKind,
    /// Which Q-network: the MLP or the node-scoring network.
    #[serde(skip_serializing_if = "NetworkKind::is_mlp")]
    pub network: NetworkKind,
    /// Widths of the hidden layers of the Q-network, input to output (node-scoring: the
    /// embedding layers, then the scoring layer).
    pub hidden_sizes: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dueling head: Q(s, a) = V(s) + A(s, a) − mean_a A(s, a).
    pub dueling: bool,
    /// Which valid actions the agent chooses among, exploring and greedy alike, and which the
    /// TD targets maximise over: `fits-now` keeps the nodes where the task fits now whenever
    /// there are any (read from the observation's "fits now" column; node-scoring on a cluster
    /// observation with the packing columns). Exports record it, so the runtime chooses alike.
    pub action_filter: ActionFilter,
    /// Prioritized experience replay (proportional, sum-tree) instead of uniform sampling.
    pub prioritized_replay: bool,
    /// PER exponent α: how strongly priorities shape sampling (`0` is uniform).
    pub per_alpha: f64,
    /// PER importance-sampling exponent β at the start; annealed linearly to `1` at
    /// `total_timesteps`.
    pub per_beta_start: f64,
    /// Added to |TD error| so no transition gets priority zero.
    pub per_epsilon: f64,
    /// Normalise observations by a running mean and standard deviation (saved with the agent).
    pub normalize_obs: bool,
    /// Clip normalised observations to `[-obs_clip, obs_clip]` (standard deviations).
    pub obs_clip: f64,
    /// Constant factor applied to every reward before learning (e.g. `1e-4` for cluster
    /// rewards); Q-values are in scaled units.
    pub reward_scale: f64,
    /// Also divide rewards by the running standard deviation of the discounted return (saved
    /// with the agent).
    pub normalize_reward: bool,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            device: DeviceSetting::Cpu,
            num_envs: 1,
            total_timesteps: 500_000,
            learning_rate: 2.5e-4,
            lr_schedule: LrSchedule::Constant,
            end_learning_rate: 0.0,
            adam_epsilon: 1e-8,
            max_grad_norm: 10.0,
            buffer_size: 100_000,
            gamma: 0.99,
            tau: 1.0,
            target_network_frequency: 500,
            batch_size: 128,
            start_e: 1.0,
            end_e: 0.05,
            exploration_fraction: 0.5,
            epsilon_schedule: EpsilonSchedule::Linear,
            learning_starts: 10_000,
            train_frequency: 10,
            gradient_steps: 1,
            double_dqn: true,
            n_step: 1,
            loss: LossKind::Huber,
            network: NetworkKind::Mlp,
            hidden_sizes: vec![128, 128],
            activation: Activation::Relu,
            dueling: false,
            action_filter: ActionFilter::None,
            prioritized_replay: false,
            per_alpha: 0.6,
            per_beta_start: 0.4,
            per_epsilon: 1e-6,
            normalize_obs: false,
            obs_clip: 10.0,
            reward_scale: 1.0,
            normalize_reward: false,
        }
    }
}

impl DqnConfig {
    /// Checks every field's range and the fields' consistency.
    ///
    /// # Errors
    /// [`DqnError::InvalidConfig`] naming the first offending field.
    pub fn validate(&self) -> Result<(), DqnError> {
        fn finite(field: &'static str, v: f64) -> Result<(), DqnError> {
            if v.is_finite() { Ok(()) } else { Err(DqnError::config(field, format!("{v} is not a finite number"))) }
        }
        fn in_range(field: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), DqnError> {
            finite(field, v)?;
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(DqnError::config(field, format!("{v} is outside [{lo}, {hi}]")))
            }
        }
        fn positive(field: &'static str, v: f64) -> Result<(), DqnError> {
            finite(field, v)?;
            if v > 0.0 { Ok(()) } else { Err(DqnError::config(field, format!("{v} must be > 0"))) }
        }
        fn nonzero(field: &'static str, v: u64) -> Result<(), DqnError> {
            if v > 0 { Ok(()) } else { Err(DqnError::config(field, "must be at least 1")) }
        }

        nonzero("num_envs", self.num_envs as u64)?;
        if self.num_envs > MAX_NUM_ENVS {
            return Err(DqnError::config("num_envs", format!("{} is above {MAX_NUM_ENVS}", self.num_envs)));
        }
        nonzero("total_timesteps", self.total_timesteps)?;
        positive("learning_rate", self.learning_rate)?;
        // Checked whatever the schedule, so switching the schedule on later cannot turn a
        // config that validated into one that doesn't.
        finite("end_learning_rate", self.end_learning_rate)?;
        if self.end_learning_rate < 0.0 {
            return Err(DqnError::config("end_learning_rate", format!("{} must be >= 0", self.end_learning_rate)));
        }
        if self.end_learning_rate > self.learning_rate {
            return Err(DqnError::config(
                "end_learning_rate",
                format!("{} is above learning_rate {}", self.end_learning_rate, self.learning_rate),
            ));
        }
        positive("adam_epsilon", self.adam_epsilon)?;
        finite("max_grad_norm", self.max_grad_norm)?;
        if self.max_grad_norm < 0.0 {
            return Err(DqnError::config("max_grad_norm", "must be >= 0 (0 disables clipping)"));
        }
        nonzero("buffer_size", self.buffer_size as u64)?;
        if self.buffer_size > MAX_BUFFER_SIZE {
            return Err(DqnError::config(
                "buffer_size",
                format!("{} transitions is above {MAX_BUFFER_SIZE}", self.buffer_size),
            ));
        }
        in_range("gamma", self.gamma, 0.0, 1.0)?;
        in_range("tau", self.tau, 0.0, 1.0)?;
        if self.tau == 0.0 {
            return Err(DqnError::config("tau", "must be > 0 (0 never updates the target)"));
        }
        nonzero("target_network_frequency", self.target_network_frequency)?;
        nonzero("batch_size", self.batch_size as u64)?;
        if self.batch_size > self.buffer_size {
            return Err(DqnError::config(
                "batch_size",
                format!("{} exceeds buffer_size {}", self.batch_size, self.buffer_size),
            ));
        }
        in_range("start_e", self.start_e, 0.0, 1.0)?;
        in_range("end_e", self.end_e, 0.0, 1.0)?;
        in_range("exploration_fraction", self.exploration_fraction, 0.0, 1.0)?;
        if self.epsilon_schedule == EpsilonSchedule::Exponential && (self.end_e <= 0.0 || self.start_e <= 0.0) {
            return Err(DqnError::config("end_e", "the exponential schedule needs start_e > 0 and end_e > 0"));
        }
        nonzero("train_frequency", self.train_frequency)?;
        nonzero("gradient_steps", self.gradient_steps as u64)?;
        nonzero("n_step", self.n_step as u64)?;
        if self.n_step > 1000 {
            return Err(DqnError::config("n_step", format!("{} is above 1000", self.n_step)));
        }
        if self.hidden_sizes.contains(&0) {
            return Err(DqnError::config("hidden_sizes", "a hidden layer has width 0"));
        }
        if self.hidden_sizes.len() > MAX_HIDDEN_LAYERS {
            return Err(DqnError::config(
                "hidden_sizes",
                format!("{} layers is above {MAX_HIDDEN_LAYERS}", self.hidden_sizes.len()),
            ));
        }
        if let Some(w) = self.hidden_sizes.iter().find(|&&w| w > MAX_HIDDEN_WIDTH) {
            return Err(DqnError::config("hidden_sizes", format!("width {w} is above {MAX_HIDDEN_WIDTH}")));
        }
        if self.network == NetworkKind::NodeScoring && self.hidden_sizes.len() < 2 {
            return Err(DqnError::config(
                "hidden_sizes",
                format!(
                    "{:?} has {} layers; a node-scoring network needs at least 2 (the embedding layers, then \
                     the scoring layer)",
                    self.hidden_sizes,
                    self.hidden_sizes.len()
                ),
            ));
        }
        in_range("per_alpha", self.per_alpha, 0.0, 1.0)?;
        in_range("per_beta_start", self.per_beta_start, 0.0, 1.0)?;
        positive("per_epsilon", self.per_epsilon)?;
        positive("obs_clip", self.obs_clip)?;
        positive("reward_scale", self.reward_scale)?;
        Ok(())
    }

    /// [`validate`](Self::validate), then the sizes of an agent for `obs_dim`-long observations
    /// and `n_actions` actions: what [`crate::Agent::new`] and [`crate::Agent::load`] check
    /// before allocating anything. Every buffer is bounded (replay by [`MAX_REPLAY_BYTES`],
    /// n-step windows by [`MAX_NSTEP_BYTES`], the network by [`MAX_NETWORK_PARAMS`]), so a typo
    /// or a corrupted checkpoint is an error, never an allocation failure that aborts.
    ///
    /// # Errors
    /// [`DqnError::InvalidConfig`] naming the first offending field (`obs_dim` and `n_actions`
    /// for the sizes given).
    pub fn validate_for(&self, obs_dim: usize, n_actions: usize) -> Result<(), DqnError> {
        self.validate()?;
        if obs_dim == 0 {
            return Err(DqnError::config("obs_dim", "the observation is empty"));
        }
        if obs_dim > MAX_OBS_DIM {
            return Err(DqnError::config("obs_dim", format!("{obs_dim} is above {MAX_OBS_DIM}")));
        }
        if n_actions == 0 {
            return Err(DqnError::config("n_actions", "the action space is empty"));
        }
        if n_actions > MAX_ACTIONS {
            return Err(DqnError::config("n_actions", format!("{n_actions} is above {MAX_ACTIONS}")));
        }
        // Every size is bounded above, so these products fit in u64 (checked all the same).
        let (obs, actions) = (obs_dim as u64, n_actions as u64);
        let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;

        // Two observations, a next mask and four 4-byte scalars per transition; PER adds a
        // sum tree and a min tree of 2 × (capacity rounded up to a power of two) f64 each.
        let capacity = self.buffer_size as u64;
        let tree = if self.prioritized_replay { 32 * capacity.next_power_of_two() } else { 0 };
        let replay = (8 * obs + actions + 16).checked_mul(capacity).and_then(|b| b.checked_add(tree));
        if replay.is_none_or(|b| b > MAX_REPLAY_BYTES) {
            return Err(DqnError::config(
                "buffer_size",
                format!(
                    "{capacity} transitions of {obs_dim} observations and {n_actions} actions need {:.1} GiB, \
                     more than {} GiB",
                    replay.map_or(f64::INFINITY, gib),
                    gib(MAX_REPLAY_BYTES)
                ),
            ));
        }

        // Each env's window: n_step observations, actions and rewards.
        let windows = (self.num_envs as u64 * self.n_step as u64).checked_mul(4 * obs + 16);
        if windows.is_none_or(|b| b > MAX_NSTEP_BYTES) {
            return Err(DqnError::config(
                "n_step",
                format!(
                    "{} envs × {} steps of {obs_dim} observations need {:.1} GiB, more than {} GiB",
                    self.num_envs,
                    self.n_step,
                    windows.map_or(f64::INFINITY, gib),
                    gib(MAX_NSTEP_BYTES)
                ),
            ));
        }

        // Weights and biases of every layer, input to output, and the dueling value head. A
        // node-scoring network's input is a node row and the task row (both within obs_dim), its
        // scoring layer also reads the 2h summary, and its head has one output.
        let mut params: u64 = 0;
        let scoring = self.network == NetworkKind::NodeScoring;
        let (mut width, outputs) = if scoring { (obs, 1) } else { (obs, actions) };
        let last_embed = self.hidden_sizes.len().saturating_sub(1);
        for (k, out) in self.hidden_sizes.iter().map(|&h| h as u64).chain(std::iter::once(outputs)).enumerate() {
            let d_in = if scoring && k == last_embed { 3 * width } else { width };
            params = params.saturating_add(d_in.saturating_mul(out).saturating_add(out));
            width = out;
        }
        if self.dueling {
            let last = self.hidden_sizes.last().map_or(obs, |&h| h as u64);
            let summary = if scoring { 2 * self.hidden_sizes[last_embed.saturating_sub(1)] as u64 } else { last };
            params = params.saturating_add(summary + 1);
        }
        if params > MAX_NETWORK_PARAMS {
            return Err(DqnError::config(
                "hidden_sizes",
                format!(
                    "a network of {obs_dim} inputs, hidden layers {:?} and {n_actions} actions has {params} \
                     parameters, more than {MAX_NETWORK_PARAMS}",
                    self.hidden_sizes
                ),
            ));
        }
        Ok(())
    }

    /// Environment steps over which ε decays.
    pub fn exploration_steps(&self) -> f64 {
        self.exploration_fraction * self.total_timesteps as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        DqnConfig::default().validate().unwrap();
    }

    #[test]
    fn out_of_range_values_are_typed_errors() {
        let cases: Vec<(DqnConfig, &str)> = vec![
            (DqnConfig { gamma: 1.5, ..Default::default() }, "gamma"),
            (DqnConfig { gamma: -0.1, ..Default::default() }, "gamma"),
            (DqnConfig { gamma: f64::NAN, ..Default::default() }, "gamma"),
            (DqnConfig { batch_size: 200, buffer_size: 100, ..Default::default() }, "batch_size"),
            (DqnConfig { tau: 0.0, ..Default::default() }, "tau"),
            (DqnConfig { learning_rate: 0.0, ..Default::default() }, "learning_rate"),
            (DqnConfig { end_learning_rate: -1e-5, ..Default::default() }, "end_learning_rate"),
            (DqnConfig { end_learning_rate: 1e-3, learning_rate: 1e-4, ..Default::default() }, "end_learning_rate"),
            (DqnConfig { end_learning_rate: f64::INFINITY, ..Default::default() }, "end_learning_rate"),
            (DqnConfig { n_step: 0, ..Default::default() }, "n_step"),
            (DqnConfig { hidden_sizes: vec![64, 0], ..Default::default() }, "hidden_sizes"),
            (DqnConfig { epsilon_schedule: EpsilonSchedule::Exponential, end_e: 0.0, ..Default::default() }, "end_e"),
            // Sizes that would be allocated are bounded.
            (DqnConfig { hidden_sizes: vec![100_000_000], ..Default::default() }, "hidden_sizes"),
            (DqnConfig { hidden_sizes: vec![8; MAX_HIDDEN_LAYERS + 1], ..Default::default() }, "hidden_sizes"),
            (DqnConfig { buffer_size: 1_000_000_000_000, ..Default::default() }, "buffer_size"),
            (DqnConfig { num_envs: MAX_NUM_ENVS + 1, ..Default::default() }, "num_envs"),
        ];
        for (cfg, field) in cases {
            match cfg.validate() {
                Err(DqnError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    /// The sizes of an agent for given observation and action counts: each buffer and the
    /// network are bounded, and the error names the field to change.
    #[test]
    fn sizes_for_an_environment_are_bounded() {
        let field = |cfg: &DqnConfig, obs_dim: usize, n_actions: usize| match cfg.validate_for(obs_dim, n_actions) {
            Err(DqnError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        let base = DqnConfig::default();
        // The `large` scenario's 1000 nodes (7005 observations) with the default buffer.
        base.validate_for(7005, 1000).unwrap();
        assert_eq!(field(&base, 0, 2), "obs_dim");
        assert_eq!(field(&base, MAX_OBS_DIM + 1, 2), "obs_dim");
        assert_eq!(field(&base, 4, 0), "n_actions");
        assert_eq!(field(&base, 4, MAX_ACTIONS + 1), "n_actions");
        // 10^8 transitions of 100 floats: 82 GB.
        let big = DqnConfig { buffer_size: MAX_BUFFER_SIZE, ..base.clone() };
        big.validate_for(4, 2).unwrap();
        assert_eq!(field(&big, 100, 2), "buffer_size");
        let err = big.validate_for(100, 2).unwrap_err().to_string();
        assert!(err.contains("need 76.2 GiB, more than 64 GiB"), "{err}");
        // PER's trees count too: 2 × 2^27 f64 (2 GiB) tip 64e6 transitions of 128 floats
        // (62.1 GiB) over the bound.
        let per = DqnConfig { buffer_size: 64_000_000, prioritized_replay: true, ..base.clone() };
        DqnConfig { prioritized_replay: false, ..per.clone() }.validate_for(128, 2).unwrap();
        assert_eq!(field(&per, 128, 2), "buffer_size");
        // 4096 envs × 1000 steps of 1000 floats: 16 GB of n-step windows.
        let windows = DqnConfig { num_envs: MAX_NUM_ENVS, n_step: 1000, ..base.clone() };
        windows.validate_for(100, 2).unwrap();
        assert_eq!(field(&windows, 1000, 2), "n_step");
        // Two layers of the widest width: 2^32 parameters.
        let wide = DqnConfig { hidden_sizes: vec![MAX_HIDDEN_WIDTH; 2], ..base.clone() };
        assert_eq!(field(&wide, 4, 2), "hidden_sizes");
        DqnConfig { hidden_sizes: vec![MAX_HIDDEN_WIDTH], ..base.clone() }.validate_for(4, 2).unwrap();
        let err = DqnConfig { hidden_sizes: vec![MAX_HIDDEN_WIDTH], dueling: true, buffer_size: 128, ..base.clone() }
            .validate_for(MAX_OBS_DIM, 2)
            .unwrap_err();
        assert!(err.to_string().contains("parameters, more than 1073741824"), "{err}");
        // Whatever the sizes, nothing overflows.
        let huge = DqnConfig { buffer_size: MAX_BUFFER_SIZE, num_envs: MAX_NUM_ENVS, n_step: 1000, ..base };
        assert_eq!(field(&huge, MAX_OBS_DIM, MAX_ACTIONS), "buffer_size");
    }

    #[test]
    fn unknown_fields_are_rejected_and_missing_ones_default() {
        assert!(serde_json::from_str::<DqnConfig>(r#"{"gama": 0.9}"#).is_err());
        let cfg: DqnConfig = serde_json::from_str(r#"{"device": "cuda:1"}"#).unwrap();
        assert_eq!(cfg.device, DeviceSetting::Cuda(1));
        assert_eq!(cfg.gamma, 0.99);
        assert!(serde_json::from_str::<DqnConfig>(r#"{"device": "tpu"}"#).is_err());
    }

    #[test]
    fn lr_schedule_fields_parse_and_default_to_a_constant_rate() {
        let cfg: DqnConfig = serde_json::from_str(r#"{"lr_schedule": "cosine", "end_learning_rate": 1e-5}"#).unwrap();
        assert_eq!((cfg.lr_schedule, cfg.end_learning_rate), (LrSchedule::Cosine, 1e-5));
        cfg.validate().unwrap();
        // A config written before these fields existed keeps today's constant rate.
        let old: DqnConfig = serde_json::from_str(r#"{"learning_rate": 1e-4}"#).unwrap();
        assert_eq!((old.lr_schedule, old.end_learning_rate), (LrSchedule::Constant, 0.0));
        assert!(serde_json::from_str::<DqnConfig>(r#"{"lr_schedule": "step"}"#).is_err());
        let err = DqnConfig { end_learning_rate: 1.0, ..Default::default() }.validate().unwrap_err();
        assert_eq!(err.to_string(), "invalid dqn config: end_learning_rate: 1 is above learning_rate 0.00025");
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = DqnConfig {
            hidden_sizes: vec![3, 4],
            dueling: true,
            lr_schedule: LrSchedule::Linear,
            end_learning_rate: 1e-5,
            ..Default::default()
        };
        let text = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<DqnConfig>(&text).unwrap(), cfg);
    }
}
