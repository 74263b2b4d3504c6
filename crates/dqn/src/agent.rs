//! [`Agent`]: the networks, the optimizer, the replay buffer and the statistics, with the
//! three things a DQN agent does — act, observe, learn.

use burn::module::{Module, ParamId};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gym::Env;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DqnError;
use crate::config::{DeviceSetting, DqnConfig, LossKind, NetworkKind};
use crate::model::{NodeRows, QNetwork};
use crate::normalize::{RewardScaler, RunningMeanStd};
use crate::replay::{Batch, EnvStep, NStepAccumulator, ReplayBuffer, ReplayState};
use crate::schedule::{epsilon, learning_rate, per_beta};
use crate::td::{TdInputs, td_targets};
use policy_core::{ActionFilter, Architecture, NetworkShape, masked_argmax, narrow_to_fitting};

/// One step of `N` environments, as the agent learns from it. Rows are envs; `[N, k]` arrays are
/// row-major.
#[derive(Debug, Clone, Copy)]
pub struct Transitions<'a> {
    /// `[N, obs_dim]`: observations the actions were chosen in.
    pub obs: &'a [f32],
    /// `[N]`: actions taken.
    pub actions: &'a [usize],
    /// `[N]`: rewards received (raw environment units).
    pub rewards: &'a [f64],
    /// `[N, obs_dim]`: observations after the step. For an env whose episode just ended this
    /// must be the episode's *final* observation, not the next episode's first one.
    pub next_obs: &'a [f32],
    /// `[N, n_actions]`: valid actions at `next_obs`.
    pub next_masks: &'a [bool],
    /// `[N]`: the episode reached a terminal state (no bootstrapping).
    pub terminated: &'a [bool],
    /// `[N]`: the episode was cut off by a time limit (bootstrapping from `next_obs`).
    pub truncated: &'a [bool],
}

/// What one gradient step measured (both values are read back from the device by
/// [`Agent::update`], so checking them costs nothing more).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The minimised loss (Huber or MSE, importance-weighted under PER), in squared scaled
    /// reward units.
    pub td_loss: f32,
    /// Mean Q(s, a) over the batch, in scaled reward units.
    pub q_values: f32,
}

impl UpdateStats {
    /// The first non-finite value (NaN or ±∞) by its logger tag, `losses/td_loss` or
    /// `losses/q_values`, or `None` when both are finite. A NaN or infinite Q(s, a) anywhere in
    /// the batch makes their mean, and the loss, non-finite too.
    pub fn non_finite(&self) -> Option<&'static str> {
        if !self.td_loss.is_finite() {
            Some("losses/td_loss")
        } else if !self.q_values.is_finite() {
            Some("losses/q_values")
        } else {
            None
        }
    }
}

/// A Deep Q-Learning agent for environments with `obs_dim` flat observations and `n_actions`
/// discrete actions.
///
/// It owns the online network (on an autodiff device), the target network and a cached
/// non-autodiff copy of the online network for acting, the Adam state, the replay buffer, the
/// n-step accumulator, the normalisation statistics, its random generator and its counters —
/// everything [`Agent::save`] writes.
pub struct Agent {
    pub(crate) cfg: DqnConfig,
    pub(crate) net_cfg: NetworkShape,
    /// Autodiff device the online network trains on.
    pub(crate) device: Device,
    pub(crate) online: QNetwork,
    pub(crate) target: QNetwork,
    /// `online.valid()`, rebuilt lazily after each gradient step.
    actor: Option<QNetwork>,
    pub(crate) optim: ModuleOptimizer,
    pub(crate) replay: ReplayBuffer,
    pub(crate) nstep: NStepAccumulator,
    /// `[N, obs_dim]`: the `next_obs` of the last observed step of each env, which is where a
    /// pending n-step window bootstraps from if its episode is cut off there
    /// ([`truncate_pending`](Self::truncate_pending)).
    pub(crate) pending_next_obs: Vec<f32>,
    /// `[N, n_actions]`: the `next_masks` of the last observed step.
    pub(crate) pending_next_masks: Vec<bool>,
    /// Whether the two arrays above describe the pending windows: false only after loading a
    /// checkpoint written before they were saved (replay file version 1).
    pub(crate) pending_next_known: bool,
    /// How a node-scoring network reads the observation (`None` for the MLP).
    pub(crate) rows: Option<NodeRows>,
    /// The node-row width and the "fits now" column the action filter reads (`None`: no
    /// filter, every valid action is a candidate).
    filter: Option<(usize, usize)>,
    /// Observation statistics: per feature of the observation (MLP), or per feature of a
    /// `[node row, task row]` pair, shared by every node (node-scoring).
    pub(crate) obs_stats: Option<RunningMeanStd>,
    pub(crate) reward_scaler: RewardScaler,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) global_step: u64,
    pub(crate) update_step: u64,
    pub(crate) episodes: u64,
    /// The global step before which no learning happens after [`refill_before_learning`]
    /// (0: only `learning_starts` applies). Not saved: it matters only while a buffer that
    /// was not saved refills, and a resume from a checkpoint written then refills again.
    ///
    /// [`refill_before_learning`]: Self::refill_before_learning
    learning_resumes_at: u64,
    // PLUMBING: scratch buffers reused every call, so acting and learning allocate little.
    actions: Vec<usize>,
    explore: Vec<bool>,
    norm_obs: Vec<f32>,
    /// `[batch, N]` presence of the nodes of the observations being evaluated (node-scoring
    /// with padding only).
    present: Vec<f32>,
    /// Masks narrowed by the action filter.
    narrowed: Vec<bool>,
    batch: Batch,
    targets: Vec<f32>,
}

/// `masks` (`n_envs` rows of `n_actions`) narrowed row by row by the action filter `filter`
/// (node-row width, "fits now" column), reading each row's observation in `obs` (rows of
/// `obs_dim`): written into `out` and returned; `masks` itself when there is no filter.
fn narrow_rows<'m>(
    filter: Option<(usize, usize)>,
    obs: &[f32],
    obs_dim: usize,
    masks: &'m [bool],
    n_actions: usize,
    out: &'m mut Vec<bool>,
) -> &'m [bool] {
    let Some((width, column)) = filter else { return masks };
    out.clear();
    out.extend_from_slice(masks);
    for (row, mask) in obs.chunks_exact(obs_dim).zip(out.chunks_exact_mut(n_actions)) {
        narrow_to_fitting(row, width, Some(column), mask);
    }
    out
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("network", &self.net_cfg.to_string())
            .field("device", &self.cfg.device)
            .field("global_step", &self.global_step)
            .field("update_step", &self.update_step)
            .field("episodes", &self.episodes)
            .field("replay_len", &self.replay.len())
            .finish_non_exhaustive()
    }
}

/// The burn device for a [`DeviceSetting`] (without autodiff).
///
/// # Errors
/// [`DqnError::Device`] if the backend is not compiled into this build.
pub fn make_device(setting: DeviceSetting) -> Result<Device, DqnError> {
    match setting {
        DeviceSetting::Cpu => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceSetting::Cuda(index) => Ok(Device::cuda(index)),
        #[cfg(feature = "wgpu")]
        DeviceSetting::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[allow(unreachable_patterns)]
        other => Err(DqnError::Device {
            device: other.to_string(),
            reason: "this build lacks the backend (enable the dqn crate's `cuda` or `wgpu` \
                     feature)"
                .into(),
        }),
    }
}

/// The Q-network shape of an agent with `cfg` for `obs_dim` observations and `n_actions`
/// actions (node-scoring: with the node rows `rows`).
pub(crate) fn network_shape(
    cfg: &DqnConfig,
    obs_dim: usize,
    n_actions: usize,
    rows: Option<&NodeRows>,
) -> NetworkShape {
    let architecture = match (cfg.network, rows) {
        (NetworkKind::NodeScoring, Some(r)) => {
            Architecture::NodeScoring { node_width: r.node_width, task_width: r.task_width }
        }
        _ => Architecture::Mlp,
    };
    NetworkShape {
        obs_dim,
        n_actions,
        hidden_sizes: cfg.hidden_sizes.clone(),
        activation: cfg.activation,
        dueling: cfg.dueling,
        architecture,
    }
}

/// Checks that `rows` describe observations of `obs_dim` values with one node per action, as
/// a node-scoring agent needs; `None` (an MLP agent) if the config's network is the MLP.
pub(crate) fn check_rows(
    cfg: &DqnConfig,
    obs_dim: usize,
    n_actions: usize,
    rows: Option<NodeRows>,
) -> Result<Option<NodeRows>, DqnError> {
    if cfg.network == NetworkKind::Mlp {
        return Ok(None);
    }
    let Some(rows) = rows else {
        return Err(DqnError::config(
            "network",
            "node-scoring needs the observation's node rows (an environment whose observation is one row per \
             node and a task row, such as a cluster scenario); use network = \"mlp\" here",
        ));
    };
    if rows.node_width == 0 || rows.task_width == 0 {
        return Err(DqnError::config("network", format!("node rows {rows:?} have an empty row")));
    }
    if rows.n_nodes(obs_dim) != Some(n_actions) {
        return Err(DqnError::config(
            "network",
            format!(
                "an observation of {obs_dim} values is not {n_actions} node rows of {} and a task row of {}",
                rows.node_width, rows.task_width
            ),
        ));
    }
    if rows.present_column.is_some_and(|c| c >= rows.node_width) {
        return Err(DqnError::config("network", format!("node rows {rows:?}: present_column is outside the row")));
    }
    Ok(Some(rows))
}

/// Where the action filter of `cfg` reads "fits now": the node-row width and the column.
///
/// # Errors
/// [`DqnError::InvalidConfig`] (`action_filter`) if the filter is on and the rows (a
/// node-scoring network's; `None` for an MLP) have no such column.
pub(crate) fn filter_of(cfg: &DqnConfig, rows: Option<&NodeRows>) -> Result<Option<(usize, usize)>, DqnError> {
    if cfg.action_filter == ActionFilter::None {
        return Ok(None);
    }
    match rows.and_then(|r| r.fits_now_column.map(|c| (r.node_width, c))) {
        Some((width, column)) if column < width => Ok(Some((width, column))),
        Some((width, column)) => Err(DqnError::config(
            "action_filter",
            format!("the \"fits now\" column {column} is outside a node row of {width} values"),
        )),
        None => Err(DqnError::config(
            "action_filter",
            format!(
                "{} reads the observation's \"fits now\" column, which only a node-scoring network on a cluster \
                 observation with the packing columns has (network = \"node-scoring\", observation = {{ kind = \
                 \"scalable\", packing = true }})",
                cfg.action_filter.name()
            ),
        )),
    }
}

fn optimizer(cfg: &DqnConfig) -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(cfg.adam_epsilon as f32).init()
}

impl Agent {
    /// A fresh agent: networks initialised from `cfg.seed`, empty replay buffer, step 0.
    ///
    /// # Errors
    /// [`DqnError::InvalidConfig`] if `cfg` does not validate or the sizes are zero or too large
    /// ([`DqnConfig::validate_for`]); [`DqnError::Device`] if `cfg.device` is not available.
    pub fn new(cfg: DqnConfig, obs_dim: usize, n_actions: usize) -> Result<Self, DqnError> {
        Self::build(cfg, obs_dim, n_actions, None)
    }

    /// A fresh agent for observations made of node rows and a task row (`rows`), one action
    /// per node: what a node-scoring network needs (an MLP agent ignores `rows`).
    ///
    /// # Errors
    /// As [`Agent::new`], and [`DqnError::InvalidConfig`] (`network`) if `rows` do not
    /// describe `obs_dim` values with `n_actions` nodes.
    pub fn with_node_rows(cfg: DqnConfig, obs_dim: usize, n_actions: usize, rows: NodeRows) -> Result<Self, DqnError> {
        Self::build(cfg, obs_dim, n_actions, Some(rows))
    }

    fn build(cfg: DqnConfig, obs_dim: usize, n_actions: usize, rows: Option<NodeRows>) -> Result<Self, DqnError> {
        // Every size is checked before anything is allocated (the buffers are preallocated).
        cfg.validate_for(obs_dim, n_actions)?;
        let rows = check_rows(&cfg, obs_dim, n_actions, rows)?;
        let filter = filter_of(&cfg, rows.as_ref())?;
        let net_cfg = network_shape(&cfg, obs_dim, n_actions, rows.as_ref());
        let device = make_device(cfg.device)?.autodiff();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let online = QNetwork::init(&net_cfg, &device, &mut rng);
        // ALGO: the target network starts as a copy of the online network.
        let target = online.valid();
        let n_envs = cfg.num_envs;
        let ReplayState { replay, nstep, pending_next_obs, pending_next_masks, pending_next_known } =
            ReplayState::new(&cfg, obs_dim, n_actions);
        Ok(Self {
            optim: optimizer(&cfg),
            replay,
            nstep,
            pending_next_obs,
            pending_next_masks,
            pending_next_known,
            obs_stats: cfg
                .normalize_obs
                .then(|| RunningMeanStd::new(rows.map_or(obs_dim, |r| r.node_width + r.task_width))),
            rows,
            filter,
            reward_scaler: RewardScaler::new(cfg.reward_scale, cfg.normalize_reward, cfg.gamma, n_envs),
            rng,
            global_step: 0,
            update_step: 0,
            episodes: 0,
            learning_resumes_at: 0,
            actions: Vec::with_capacity(n_envs),
            explore: Vec::with_capacity(n_envs),
            norm_obs: Vec::new(),
            present: Vec::new(),
            narrowed: Vec::new(),
            batch: Batch::default(),
            targets: Vec::with_capacity(cfg.batch_size),
            actor: None,
            net_cfg,
            device,
            online,
            target,
            cfg,
        })
    }

    /// A fresh agent sized for `env`'s observation and action spaces.
    ///
    /// # Errors
    /// As [`Agent::new`].
    pub fn for_env<E: Env>(cfg: DqnConfig, env: &E) -> Result<Self, DqnError> {
        Self::new(cfg, env.observation_space().dim(), env.action_space().n)
    }

    /// The configuration the agent was built with.
    pub fn config(&self) -> &DqnConfig {
        &self.cfg
    }

    /// The Q-network's shape.
    pub fn network_config(&self) -> &NetworkShape {
        &self.net_cfg
    }

    /// Environment steps observed so far, summed over envs (CleanRL's `global_step`).
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// The global step after which the training loop learns: `learning_starts`, or later after
    /// [`refill_before_learning`](Self::refill_before_learning).
    pub fn learning_starts_at(&self) -> u64 {
        self.cfg.learning_starts.max(self.learning_resumes_at)
    }

    /// Postpones learning until `learning_starts` more environment steps have been observed,
    /// as at the start of training. For a resume from a checkpoint without its replay buffer
    /// (`training.save_replay = false`): the buffer starts empty, and sampling batches of
    /// `batch_size` from the first few transitions would fit the network to them (and with
    /// `n_step > 1` the first update would find no transition at all). Returns the step at
    /// which learning restarts.
    pub fn refill_before_learning(&mut self) -> u64 {
        self.learning_resumes_at = self.global_step + self.cfg.learning_starts;
        self.learning_resumes_at
    }

    /// Gradient steps taken so far.
    pub fn update_step(&self) -> u64 {
        self.update_step
    }

    /// Episodes that ended (terminated or truncated) in observed transitions.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// ε now, from the schedule at [`global_step`](Self::global_step).
    pub fn epsilon(&self) -> f64 {
        epsilon(&self.cfg, self.global_step)
    }

    /// The learning rate now, from `lr_schedule` at [`global_step`](Self::global_step): what
    /// the next [`update`](Self::update) steps Adam with.
    pub fn learning_rate(&self) -> f64 {
        learning_rate(&self.cfg, self.global_step)
    }

    /// The replay buffer.
    pub fn replay(&self) -> &ReplayBuffer {
        &self.replay
    }

    /// Observation statistics, when normalising.
    pub fn obs_stats(&self) -> Option<&RunningMeanStd> {
        self.obs_stats.as_ref()
    }

    /// The online network (on the autodiff device).
    pub fn online(&self) -> &QNetwork {
        &self.online
    }

    /// The target network.
    pub fn target(&self) -> &QNetwork {
        &self.target
    }

    fn check_batch(&self, context: &'static str, obs: &[f32], masks: &[bool], n_envs: usize) -> Result<(), DqnError> {
        let (d, a) = (self.net_cfg.obs_dim, self.net_cfg.n_actions);
        if n_envs == 0 {
            return Err(DqnError::input(context, "n_envs is 0"));
        }
        if obs.len() != n_envs * d {
            return Err(DqnError::input(
                context,
                format!("obs has {} values, expected {n_envs} envs × {d}", obs.len()),
            ));
        }
        if masks.len() != n_envs * a {
            return Err(DqnError::input(
                context,
                format!("masks has {} values, expected {n_envs} envs × {a} actions", masks.len()),
            ));
        }
        if let Some(env) = masks.chunks_exact(a).position(|m| !m.contains(&true)) {
            return Err(DqnError::NoValidAction { context, env });
        }
        Ok(())
    }

    /// The non-autodiff copy of the online network used for acting and for Double DQN's
    /// action selection.
    fn actor(&mut self) -> &QNetwork {
        self.actor.get_or_insert_with(|| self.online.valid())
    }

    /// Writes the greedy action of each row of `obs` into `self.actions` (only for rows where
    /// `self.explore` is false).
    fn greedy_into_actions(&mut self, obs: &[f32], masks: &[bool], n_envs: usize) -> Result<(), DqnError> {
        let (d, a) = (self.net_cfg.obs_dim, self.net_cfg.n_actions);
        self.norm_obs.clear();
        self.norm_obs.resize(obs.len(), 0.0);
        self.normalize(obs, NormTarget::Scratch);
        let input = TensorData::new(self.norm_obs.clone(), [n_envs, d]);
        let device = self.device.clone().inner();
        let present = self.presence(obs, n_envs, &device);
        // ALGO: one forward pass for all N envs, on the non-autodiff copy.
        let q = self.actor().forward_present(Tensor::from_data(input, &device), present); // [N, n_actions]
        let q = q.into_data();
        let q = host_slice(&q)?;
        for (i, (row, mask)) in q.chunks_exact(a).zip(masks.chunks_exact(a)).enumerate() {
            if !self.explore[i] {
                self.actions[i] = masked_argmax(row, mask).unwrap_or(0);
            }
        }
        Ok(())
    }

    /// ε-greedy actions for `n_envs` envs: each env independently takes a uniformly random
    /// *valid* action with probability ε ([`epsilon`](Self::epsilon)), else the valid action of
    /// highest Q. One forward pass serves all envs. Feeds the observation statistics when
    /// normalising.
    ///
    /// `obs` is `[n_envs, obs_dim]` and `masks` `[n_envs, n_actions]`, row-major.
    ///
    /// # Errors
    /// [`DqnError::BadInput`] on wrong lengths; [`DqnError::NoValidAction`] if a mask is all
    /// false.
    pub fn act_batch(&mut self, obs: &[f32], masks: &[bool], n_envs: usize) -> Result<&[usize], DqnError> {
        self.check_batch("act_batch", obs, masks, n_envs)?;
        // The action filter narrows the candidates of exploring and greedy choices alike.
        let mut narrowed = std::mem::take(&mut self.narrowed);
        let (d, a) = (self.net_cfg.obs_dim, self.net_cfg.n_actions);
        let masks = narrow_rows(self.filter, obs, d, masks, a, &mut narrowed);
        let chosen = self.act_batch_within(obs, masks, n_envs);
        self.narrowed = narrowed;
        chosen?;
        Ok(&self.actions)
    }

    /// [`act_batch`](Self::act_batch) on masks already checked and narrowed.
    fn act_batch_within(&mut self, obs: &[f32], masks: &[bool], n_envs: usize) -> Result<(), DqnError> {
        if let Some(stats) = &mut self.obs_stats {
            match &self.rows {
                None => stats.update(obs),
                Some(rows) => stats.update_node_pairs(obs, self.net_cfg.obs_dim, rows),
            }
        }
        let a = self.net_cfg.n_actions;
        let eps = self.epsilon();
        self.actions.clear();
        self.explore.clear();
        // ALGO: ε-greedy, exploring only among valid actions.
        for mask in masks.chunks_exact(a) {
            let explore = self.rng.random::<f64>() < eps;
            let action = if explore {
                let valid = mask.iter().filter(|&&m| m).count();
                let k = self.rng.random_range(0..valid);
                mask.iter().enumerate().filter(|(_, m)| **m).nth(k).map_or(0, |(i, _)| i)
            } else {
                0
            };
            self.actions.push(action);
            self.explore.push(explore);
        }
        if self.explore.contains(&false) {
            self.greedy_into_actions(obs, masks, n_envs)?;
        }
        Ok(())
    }

    /// Greedy actions (argmax of Q over valid actions, lowest index on ties) for `n_envs` envs,
    /// without exploration and without touching any statistics.
    ///
    /// # Errors
    /// As [`act_batch`](Self::act_batch).
    pub fn greedy_actions(&mut self, obs: &[f32], masks: &[bool], n_envs: usize) -> Result<&[usize], DqnError> {
        self.check_batch("greedy_actions", obs, masks, n_envs)?;
        self.actions.clear();
        self.actions.resize(n_envs, 0);
        self.explore.clear();
        self.explore.resize(n_envs, false);
        let mut narrowed = std::mem::take(&mut self.narrowed);
        let (d, a) = (self.net_cfg.obs_dim, self.net_cfg.n_actions);
        let chosen = self.greedy_into_actions(obs, narrow_rows(self.filter, obs, d, masks, a, &mut narrowed), n_envs);
        self.narrowed = narrowed;
        chosen?;
        Ok(&self.actions)
    }

    /// The greedy action for one observation.
    ///
    /// # Errors
    /// As [`act_batch`](Self::act_batch).
    pub fn greedy_action(&mut self, obs: &[f32], mask: &[bool]) -> Result<usize, DqnError> {
        Ok(self.greedy_actions(obs, mask, 1)?[0])
    }

    /// Q-values (`[n_envs, n_actions]`, scaled reward units) of a batch of raw observations.
    ///
    /// # Errors
    /// [`DqnError::BadInput`] if `obs.len()` is not `n_envs · obs_dim`.
    pub fn q_values(&mut self, obs: &[f32], n_envs: usize) -> Result<Vec<f32>, DqnError> {
        let d = self.net_cfg.obs_dim;
        if n_envs == 0 || obs.len() != n_envs * d {
            return Err(DqnError::input(
                "q_values",
                format!("obs has {} values, expected {n_envs} envs × {d}", obs.len()),
            ));
        }
        self.norm_obs.clear();
        self.norm_obs.resize(obs.len(), 0.0);
        self.normalize(obs, NormTarget::Scratch);
        let input = self.norm_obs.clone();
        let device = self.device.clone().inner();
        let present = self.presence(obs, n_envs, &device);
        let q = self.actor().forward_present(Tensor::from_data(TensorData::new(input, [n_envs, d]), &device), present);
        Ok(host_slice(&q.into_data())?.to_vec())
    }

    /// Stores one step of all `num_envs` envs: feeds the n-step accumulator (which fills the
    /// replay buffer), the reward statistics and the counters.
    ///
    /// # Errors
    /// [`DqnError::BadInput`] if an array's length does not match `num_envs` and the spaces, or
    /// an action is out of range.
    pub fn observe(&mut self, t: &Transitions<'_>) -> Result<(), DqnError> {
        let (n, d, a) = (self.cfg.num_envs, self.net_cfg.obs_dim, self.net_cfg.n_actions);
        let lengths = [
            ("obs", t.obs.len(), n * d),
            ("actions", t.actions.len(), n),
            ("rewards", t.rewards.len(), n),
            ("next_obs", t.next_obs.len(), n * d),
            ("next_masks", t.next_masks.len(), n * a),
            ("terminated", t.terminated.len(), n),
            ("truncated", t.truncated.len(), n),
        ];
        for (name, got, expected) in lengths {
            if got != expected {
                return Err(DqnError::input(
                    "observe",
                    format!("{name} has {got} values, expected {expected} (num_envs = {n})"),
                ));
            }
        }
        if let Some(&bad) = t.actions.iter().find(|&&x| x >= a) {
            return Err(DqnError::input("observe", format!("action {bad} is not in 0..{a}")));
        }
        // ALGO: with an action filter the targets maximise over the actions it would choose
        // among at the next state, so the stored next masks are the narrowed ones.
        let mut narrowed = std::mem::take(&mut self.narrowed);
        let next_masks = narrow_rows(self.filter, t.next_obs, d, t.next_masks, a, &mut narrowed);
        self.store(&Transitions { next_masks, ..*t });
        self.narrowed = narrowed;
        Ok(())
    }

    /// [`observe`](Self::observe) on checked transitions.
    fn store(&mut self, t: &Transitions<'_>) {
        let (n, d, a) = (self.cfg.num_envs, self.net_cfg.obs_dim, self.net_cfg.n_actions);
        for i in 0..n {
            let done = t.terminated[i] || t.truncated[i];
            self.reward_scaler.observe(i, t.rewards[i], done);
            let step = EnvStep {
                obs: &t.obs[i * d..(i + 1) * d],
                action: t.actions[i],
                reward: t.rewards[i],
                next_obs: &t.next_obs[i * d..(i + 1) * d],
                next_mask: &t.next_masks[i * a..(i + 1) * a],
                terminated: t.terminated[i],
                truncated: t.truncated[i],
            };
            self.nstep.push(i, &step, &mut self.replay);
            self.episodes += u64::from(done);
        }
        // Where each env's pending window would bootstrap from if cut off now; rows of envs
        // whose episode just ended are unused (they have nothing pending).
        self.pending_next_obs.copy_from_slice(t.next_obs);
        self.pending_next_masks.copy_from_slice(t.next_masks);
        self.pending_next_known = true;
        self.global_step += n as u64;
    }

    /// Ends every env's current episode as if it had been truncated at its last observed step:
    /// each pending n-step window becomes stored transitions exactly as
    /// [`observe`](Self::observe) stores them for `truncated = true` (the discounted return of
    /// the steps seen so far, bootstrapping from that step's `next_obs` over its `next_masks`,
    /// `terminated = false`), and the running return of reward normalisation restarts. The
    /// accumulator is left empty; `global_step`, `update_step` and `episodes` do not change.
    ///
    /// Call it when the environments restart from outside the agent, e.g. after
    /// [`Agent::load`] when the envs are reset with fresh episodes: otherwise the next
    /// [`observe`](Self::observe) would splice the old episodes' partial windows onto the new
    /// episodes' rewards. Idempotent; with `n_step = 1` nothing is ever pending.
    ///
    /// A checkpoint written before the last `next_obs` was saved (replay file version 1) has
    /// pending windows with nothing to bootstrap from: those are dropped (at most
    /// `n_step − 1` transitions per env) rather than stored with a wrong target.
    pub fn truncate_pending(&mut self) {
        let (d, a) = (self.net_cfg.obs_dim, self.net_cfg.n_actions);
        for i in 0..self.cfg.num_envs {
            if self.pending_next_known {
                self.nstep.flush_truncated(
                    i,
                    &self.pending_next_obs[i * d..(i + 1) * d],
                    &self.pending_next_masks[i * a..(i + 1) * a],
                    &mut self.replay,
                );
            }
            self.reward_scaler.end_episode(i);
        }
        if !self.pending_next_known {
            self.nstep.clear();
            self.pending_next_known = true;
        }
    }

    /// One gradient step on a batch sampled from the replay buffer:
    /// TD targets from the target network (Double DQN: actions chosen by the online network,
    /// masked), Huber or MSE loss, global gradient-norm clipping, Adam at
    /// [`learning_rate`](Self::learning_rate).
    ///
    /// A non-finite loss is returned in the stats, not as an error (the step has then already
    /// made the weights non-finite); [`crate::train_until`] turns it into
    /// [`DqnError::NonFinite`].
    ///
    /// # Errors
    /// [`DqnError::BadInput`] if the replay buffer is empty.
    pub fn update(&mut self) -> Result<UpdateStats, DqnError> {
        if self.replay.is_empty() {
            return Err(DqnError::input("update", "the replay buffer is empty"));
        }
        let (b, d, a) = (self.cfg.batch_size, self.net_cfg.obs_dim, self.net_cfg.n_actions);

        // ALGO: sample a batch (uniformly, or by priority with β annealed towards 1).
        let beta = per_beta(&self.cfg, self.global_step);
        self.replay.sample_indices(&mut self.rng, b, beta, &mut self.batch);
        self.replay.gather(&mut self.batch);

        // PLUMBING: which nodes are real (from the raw observations), then normalise
        // observations and scale rewards with the statistics of now.
        let inner = self.device.clone().inner();
        // (Field by field, so the batch is not copied; the MLP returns at once.)
        let rows = self.rows.as_ref();
        let present_next = presence_tensor(rows, &self.batch.next_obs, &self.net_cfg, b, &mut self.present, &inner);
        let present = presence_tensor(rows, &self.batch.obs, &self.net_cfg, b, &mut self.present, &self.device);
        if self.obs_stats.is_some() {
            self.norm_obs.clone_from(&self.batch.obs);
            self.normalize(&[], NormTarget::BatchObs);
            self.norm_obs.clone_from(&self.batch.next_obs);
            self.normalize(&[], NormTarget::BatchNextObs);
        }
        let factor = self.reward_scaler.factor() as f32;
        if factor != 1.0 {
            self.batch.rewards.iter_mut().for_each(|r| *r *= factor);
        }

        // ALGO: the TD target, without gradients: y = R + γ^k (1 − terminated) Q_target(s', a*).
        let next_obs = Tensor::<2>::from_data(TensorData::new(self.batch.next_obs.clone(), [b, d]), &inner);
        let next_q_target = self.target.forward_present(next_obs.clone(), present_next.clone()).into_data(); // [B, A]
        let next_q_online = if self.cfg.double_dqn {
            Some(self.actor().forward_present(next_obs, present_next).into_data()) // [B, A]
        } else {
            None
        };
        let next_q_target = host_slice(&next_q_target)?;
        let next_q_online = next_q_online.as_ref().map(host_slice).transpose()?;
        self.targets.clear();
        self.targets.resize(b, 0.0);
        td_targets(
            &TdInputs {
                rewards: &self.batch.rewards,
                terminated: &self.batch.terminated,
                discounts: &self.batch.discounts,
                next_q_target,
                next_q_online,
                next_masks: &self.batch.next_masks,
            },
            a,
            &mut self.targets,
        );

        // ALGO: regress Q(s, a) on the target.
        let obs = Tensor::<2>::from_data(TensorData::new(self.batch.obs.clone(), [b, d]), &self.device);
        let actions = Tensor::<2, Int>::from_data(TensorData::new(self.batch.actions.clone(), [b, 1]), &self.device);
        let target = Tensor::<1>::from_data(TensorData::new(self.targets.clone(), [b]), &self.device);
        let q_taken = self.online.forward_present(obs, present).gather(1, actions).reshape([b]); // [B]
        let td_error = q_taken.clone() - target; // [B]
        let per_sample = match self.cfg.loss {
            // Huber with δ = 1: ½x² for |x| ≤ 1, |x| − ½ beyond.
            LossKind::Huber => {
                let abs = td_error.clone().abs();
                let quadratic = abs.clone().clamp_max(1.0);
                let linear = abs - quadratic.clone();
                quadratic.square().mul_scalar(0.5) + linear
            }
            LossKind::Mse => td_error.clone().square(),
        }; // [B]
        let loss = if self.replay.is_prioritized() {
            let weights = Tensor::<1>::from_data(TensorData::new(self.batch.weights.clone(), [b]), &self.device);
            (per_sample * weights).mean()
        } else {
            per_sample.mean()
        };

        let stats = UpdateStats {
            td_loss: loss.clone().inner().into_scalar::<f32>(),
            q_values: q_taken.inner().mean().into_scalar::<f32>(),
        };
        if self.replay.is_prioritized() {
            let td_abs = td_error.inner().abs().into_data();
            self.replay.update_priorities(&self.batch.indices, host_slice(&td_abs)?, self.cfg.per_epsilon);
        }

        // ALGO: optimise: backward, clip the global gradient norm, Adam step.
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.online);
        if self.cfg.max_grad_norm > 0.0 {
            clip_grad_norm(&mut grads, &self.online, self.cfg.max_grad_norm);
        }
        let online = self.online.clone();
        self.online = self.optim.step(self.learning_rate(), online, grads);
        self.actor = None;
        self.update_step += 1;
        Ok(stats)
    }

    /// Normalises with the current statistics (a copy when there are none): `obs` into
    /// `self.norm_obs` ([`NormTarget::Scratch`]), or `self.norm_obs` (a copy of the raw
    /// batch) into the batch's observations or next observations.
    fn normalize(&mut self, obs: &[f32], target: NormTarget) {
        let (d, clip) = (self.net_cfg.obs_dim, self.cfg.obs_clip);
        let (input, out): (&[f32], &mut [f32]) = match target {
            NormTarget::Scratch => (obs, &mut self.norm_obs),
            NormTarget::BatchObs => (&self.norm_obs, &mut self.batch.obs),
            NormTarget::BatchNextObs => (&self.norm_obs, &mut self.batch.next_obs),
        };
        match (&self.obs_stats, &self.rows) {
            (None, _) => out.copy_from_slice(input),
            (Some(stats), None) => stats.normalize_into(input, clip, out),
            (Some(stats), Some(rows)) => stats.normalize_nodes_into(input, d, rows.node_width, clip, out),
        }
    }

    /// `[n, N]` presence of the nodes of the raw observations `obs`, for a node-scoring network
    /// on padded clusters (`None` when every node is real: no padding column).
    fn presence(&mut self, obs: &[f32], n: usize, device: &Device) -> Option<Tensor<2>> {
        presence_tensor(self.rows.as_ref(), obs, &self.net_cfg, n, &mut self.present, device)
    }

    /// How a node-scoring network reads the observation (`None` for the MLP).
    pub fn node_rows(&self) -> Option<&NodeRows> {
        self.rows.as_ref()
    }

    /// Updates the target network: `target ← τ·online + (1−τ)·target` (a hard copy at τ = 1).
    pub fn update_target(&mut self) {
        // ALGO: hard copy or Polyak averaging.
        self.target = if self.cfg.tau >= 1.0 {
            self.online.valid()
        } else {
            let target = self.target.clone();
            target.soft_update(&self.online, self.cfg.tau)
        };
    }

    /// Rebuilds the parts that are derived from the saved state (after a load).
    pub(crate) fn invalidate_caches(&mut self) {
        self.actor = None;
    }

    /// Builds the fresh optimizer (used by load before applying the saved state).
    pub(crate) fn fresh_optimizer(cfg: &DqnConfig) -> ModuleOptimizer {
        optimizer(cfg)
    }
}

/// `[n, N]` presence (1 real, 0 padded) of the nodes of the raw observations `obs`, built in
/// `scratch`, for a node-scoring network on padded clusters; `None` (before touching anything)
/// when every node is real: an MLP, or rows without a padding column.
fn presence_tensor(
    rows: Option<&NodeRows>,
    obs: &[f32],
    net: &NetworkShape,
    n: usize,
    scratch: &mut Vec<f32>,
    device: &Device,
) -> Option<Tensor<2>> {
    let rows = rows.filter(|r| r.present_column.is_some())?;
    rows.presence_into(obs, net.obs_dim, scratch);
    Some(Tensor::from_data(TensorData::new(scratch.clone(), [n, net.n_actions]), device))
}

/// Where [`Agent::normalize`] reads from and writes to.
#[derive(Debug, Clone, Copy)]
enum NormTarget {
    /// The argument into the scratch buffer.
    Scratch,
    /// The scratch buffer into the batch's observations.
    BatchObs,
    /// The scratch buffer into the batch's next observations.
    BatchNextObs,
}

/// The `f32` values of data read back from the device.
fn host_slice(data: &TensorData) -> Result<&[f32], DqnError> {
    data.as_slice::<f32>().map_err(|e| DqnError::Backend(format!("reading back f32 values: {e:?}")))
}

/// Every parameter of `net` as `(id, rank)`, in a fixed order.
fn param_ids(net: &QNetwork) -> Vec<(ParamId, usize)> {
    let mut out = Vec::new();
    for (_, layer) in net.linears() {
        out.push((layer.weight.id, 2));
        if let Some(b) = &layer.bias {
            out.push((b.id, 1));
        }
    }
    out
}

/// Scales all gradients by `min(1, max_norm / (‖g‖ + 1e-6))`, `‖g‖` the L2 norm of all of them
/// together (PyTorch's `clip_grad_norm_`). Stays on the device: no synchronisation.
fn clip_grad_norm(grads: &mut GradientsParams, net: &QNetwork, max_norm: f64) {
    let ids = param_ids(net);
    let mut sum_sq: Option<Tensor<1>> = None;
    for &(id, rank) in &ids {
        let sq = match rank {
            2 => grads.get::<2>(id).map(|g| g.square().sum()),
            _ => grads.get::<1>(id).map(|g| g.square().sum()),
        };
        if let Some(sq) = sq {
            sum_sq = Some(match sum_sq {
                Some(acc) => acc + sq,
                None => sq,
            });
        }
    }
    let Some(sum_sq) = sum_sq else { return };
    // [1]: the factor every gradient is multiplied by.
    let coef = sum_sq.sqrt().add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    for &(id, rank) in &ids {
        match rank {
            2 => {
                if let Some(g) = grads.remove::<2>(id) {
                    grads.register(id, g * coef.clone().reshape([1, 1]));
                }
            }
            _ => {
                if let Some(g) = grads.remove::<1>(id) {
                    grads.register(id, g * coef.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Batch;

    /// Two envs, one-value observations, two actions, 3-step returns with γ = 0.5.
    fn agent(cfg: DqnConfig) -> Agent {
        Agent::new(cfg, 1, 2).unwrap()
    }

    fn cfg() -> DqnConfig {
        DqnConfig { num_envs: 2, n_step: 3, gamma: 0.5, buffer_size: 16, batch_size: 4, ..DqnConfig::default() }
    }

    /// One step of both envs: `(obs, action, reward, next_obs, next_mask, terminated, truncated)`.
    type Row = (f32, usize, f64, f32, [bool; 2], bool, bool);

    fn observe(agent: &mut Agent, rows: [Row; 2]) {
        let masks: Vec<bool> = rows.iter().flat_map(|r| r.4).collect();
        agent
            .observe(&Transitions {
                obs: &rows.map(|r| r.0),
                actions: &rows.map(|r| r.1),
                rewards: &rows.map(|r| r.2),
                next_obs: &rows.map(|r| r.3),
                next_masks: &masks,
                terminated: &rows.map(|r| r.5),
                truncated: &rows.map(|r| r.6),
            })
            .unwrap();
    }

    /// Every stored transition, oldest first (the buffer has not wrapped in these tests).
    fn stored(agent: &Agent) -> Batch {
        let mut batch = Batch { indices: (0..agent.replay.len()).collect(), ..Batch::default() };
        agent.replay.gather(&mut batch);
        batch
    }

    /// Node rows of 3 values whose last says "fits now", four nodes, a task row of 1.
    const FILTER_ROWS: NodeRows =
        NodeRows { node_width: 3, task_width: 1, present_column: None, fits_now_column: Some(2) };

    /// A node-scoring agent for two envs of four nodes choosing under the fits-now filter.
    fn filtered_agent() -> Agent {
        let cfg = DqnConfig {
            network: NetworkKind::NodeScoring,
            hidden_sizes: vec![8, 8],
            action_filter: ActionFilter::FitsNow,
            ..cfg()
        };
        Agent::with_node_rows(cfg, 13, 4, FILTER_ROWS).unwrap()
    }

    /// An observation of four nodes where the nodes in `fitting` fit now.
    fn fits_obs(fitting: &[usize]) -> Vec<f32> {
        let mut obs: Vec<f32> = (0..13).map(|i| 0.1 * i as f32).collect();
        for node in 0..4 {
            obs[node * 3 + 2] = if fitting.contains(&node) { 1.0 } else { 0.0 };
        }
        obs
    }

    #[test]
    fn the_fits_now_filter_narrows_exploring_greedy_and_stored_choices() {
        let mut agent = filtered_agent();
        assert_eq!(agent.epsilon(), 1.0, "step 0: every action explores");
        // Env 0: nodes 1 and 3 fit, node 3 is not valid; env 1: nothing fits, node 0 is not valid.
        let obs: Vec<f32> = [fits_obs(&[1, 3]), fits_obs(&[])].concat();
        let masks = [true, true, true, false, false, true, true, true];
        let mut seen = [[false; 4]; 2];
        for _ in 0..200 {
            let actions = agent.act_batch(&obs, &masks, 2).unwrap().to_vec();
            seen[0][actions[0]] = true;
            seen[1][actions[1]] = true;
        }
        assert_eq!(seen[0], [false, true, false, false], "env 0 explores only the fitting valid node");
        assert_eq!(seen[1], [false, true, true, true], "env 1: nothing fits, every valid node");
        assert_eq!(agent.greedy_actions(&obs, &masks, 2).unwrap()[0], 1);
        // Without the filter the same agent explores every valid node.
        agent.filter = None;
        let mut plain = [false; 4];
        for _ in 0..200 {
            plain[agent.act_batch(&obs, &masks, 2).unwrap()[0]] = true;
        }
        assert_eq!(plain, [true, true, true, false]);

        // Stored transitions keep the narrowed next masks, which the targets maximise over.
        let mut agent = filtered_agent();
        let next_obs: Vec<f32> = [fits_obs(&[0, 2]), fits_obs(&[])].concat();
        agent
            .observe(&Transitions {
                obs: &obs,
                actions: &[1, 2],
                rewards: &[1.0, 1.0],
                next_obs: &next_obs,
                next_masks: &[true; 8],
                terminated: &[true, true],
                truncated: &[false, false],
            })
            .unwrap();
        let b = stored(&agent);
        assert_eq!(b.next_masks, [true, false, true, false, true, true, true, true]);
        assert_eq!(agent.pending_next_masks, b.next_masks);
    }

    #[test]
    fn the_fits_now_filter_needs_a_fits_now_column() {
        let filtered = DqnConfig { action_filter: ActionFilter::FitsNow, ..cfg() };
        let e = Agent::new(filtered.clone(), 1, 2).unwrap_err().to_string();
        assert!(e.contains("action_filter") && e.contains("packing = true"), "{e}");
        let ns = DqnConfig { network: NetworkKind::NodeScoring, hidden_sizes: vec![8, 8], ..filtered };
        let no_column = NodeRows { fits_now_column: None, ..FILTER_ROWS };
        let e = Agent::with_node_rows(ns.clone(), 13, 4, no_column).unwrap_err().to_string();
        assert!(e.contains("action_filter") && e.contains("fits now"), "{e}");
        let outside = NodeRows { fits_now_column: Some(3), ..FILTER_ROWS };
        let e = Agent::with_node_rows(ns, 13, 4, outside).unwrap_err().to_string();
        assert!(e.contains("column 3 is outside a node row of 3 values"), "{e}");
    }

    #[test]
    fn truncate_pending_stores_the_partial_windows_with_hand_computed_returns() {
        let mut agent = agent(cfg());
        // Env 0's episode terminates at once (stored right away), then a new one starts; env 1
        // runs on. Pending afterwards: env 0 one step (obs 30), env 1 two steps (obs 20, 21).
        observe(
            &mut agent,
            [(10.0, 0, 100.0, 11.0, [true; 2], true, false), (20.0, 1, 1.0, 21.0, [true; 2], false, false)],
        );
        observe(
            &mut agent,
            [(30.0, 1, 2.0, 31.0, [true, false], false, false), (21.0, 0, 4.0, 22.0, [false, true], false, false)],
        );
        assert_eq!((agent.nstep.pending(0), agent.nstep.pending(1), agent.replay.len()), (1, 2, 1));

        agent.truncate_pending();
        // Env 0: R = 2, γ¹ = 0.5, bootstrap from 31. Env 1, oldest first: R = 1 + 0.5·4 = 3 with
        // γ² = 0.25, then R = 4 with γ¹ = 0.5, both bootstrapping from 22 over its mask.
        let b = stored(&agent);
        assert_eq!(b.obs, vec![10.0, 30.0, 20.0, 21.0]);
        assert_eq!(b.actions, vec![0, 1, 1, 0]);
        assert_eq!(b.rewards, vec![100.0, 2.0, 3.0, 4.0]);
        assert_eq!(b.discounts, vec![0.5, 0.5, 0.25, 0.5]);
        assert_eq!(b.next_obs, vec![11.0, 31.0, 22.0, 22.0]);
        assert_eq!(b.terminated, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(b.next_masks, [[true; 2], [true, false], [false, true], [false, true]].concat());
        assert_eq!((agent.nstep.pending(0), agent.nstep.pending(1)), (0, 0));
        assert_eq!((agent.global_step, agent.update_step, agent.episodes), (4, 0, 1));

        // Idempotent, and the next episode's steps are not spliced onto the old ones: env 1's
        // next window holds only its own reward.
        agent.truncate_pending();
        assert_eq!(agent.replay.len(), 4);
        observe(
            &mut agent,
            [(40.0, 0, 8.0, 41.0, [true; 2], false, false), (50.0, 1, 16.0, 51.0, [true; 2], false, false)],
        );
        agent.truncate_pending();
        let b = stored(&agent);
        assert_eq!(b.rewards[4..], [8.0, 16.0]);
        assert_eq!(b.discounts[4..], [0.5, 0.5]);
        assert_eq!(b.next_obs[4..], [41.0, 51.0]);
    }

    #[test]
    fn truncate_pending_stores_what_observing_a_truncation_would_have() {
        // Reward normalisation on, so the running returns must restart as for a truncation;
        // PER on, so the stored priorities must match too.
        let cfg = DqnConfig { normalize_reward: true, prioritized_replay: true, ..cfg() };
        let steps: [[Row; 2]; 4] = [
            [(0.0, 0, 1.0, 1.0, [true; 2], false, false), (5.0, 1, -3.0, 6.0, [true; 2], false, false)],
            [(1.0, 1, 2.0, 2.0, [true; 2], false, false), (6.0, 0, 7.0, 7.0, [true, false], false, false)],
            [(2.0, 0, 4.0, 3.0, [false; 2], true, false), (7.0, 0, 0.5, 8.0, [false, true], false, false)],
            // The last step: env 0 (in a new episode) and env 1 are cut off.
            [(9.0, 1, 3.0, 9.5, [true, false], false, false), (8.0, 1, -1.0, 9.0, [true; 2], false, false)],
        ];
        let mut observed = agent(cfg.clone());
        let mut truncated = agent(cfg);
        for (k, rows) in steps.iter().enumerate() {
            let mut last = *rows;
            if k == steps.len() - 1 {
                last[0].6 = true;
                last[1].6 = true;
            }
            observe(&mut observed, last);
            observe(&mut truncated, *rows);
        }
        truncated.truncate_pending();
        // The same transitions with the same priorities; only their order in the ring differs
        // (observe emits env 1's full window before env 0's cut-off one, truncate_pending after).
        let rows = |agent: &Agent| {
            let b = stored(agent);
            let mut rows: Vec<String> = (0..b.indices.len())
                .map(|i| {
                    format!(
                        "obs {} a {} r {} γ^k {} next {} term {} mask {:?} p {:?}",
                        b.obs[i],
                        b.actions[i],
                        b.rewards[i],
                        b.discounts[i],
                        b.next_obs[i],
                        b.terminated[i],
                        &b.next_masks[2 * i..2 * i + 2],
                        agent.replay.priority(i)
                    )
                })
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(rows(&truncated), rows(&observed));
        assert_eq!(truncated.nstep, observed.nstep);
        assert_eq!(truncated.reward_scaler, observed.reward_scaler);
        assert_eq!(truncated.replay.len(), 8);
        // Counters: the cut-off episodes are not counted as ones that ended.
        assert_eq!(truncated.global_step, observed.global_step);
        assert_eq!((truncated.episodes, observed.episodes), (1, 3));
    }

    #[test]
    fn truncate_pending_drops_windows_without_a_known_bootstrap_state() {
        let mut agent = agent(cfg());
        observe(&mut agent, [(1.0, 0, 1.0, 2.0, [true; 2], false, false), (3.0, 1, 1.0, 4.0, [true; 2], false, false)]);
        // As after loading a version 1 replay file.
        agent.pending_next_known = false;
        agent.truncate_pending();
        assert!(agent.replay.is_empty());
        assert_eq!((agent.nstep.pending(0), agent.nstep.pending(1)), (0, 0));
        assert!(agent.pending_next_known);
    }

    #[test]
    fn update_steps_adam_with_the_scheduled_learning_rate() {
        // Linear to 0 over 8 steps: the rate is 0 from global step 8, and a step with rate 0
        // leaves the weights unchanged.
        let cfg = DqnConfig {
            lr_schedule: crate::LrSchedule::Linear,
            learning_rate: 1e-2,
            end_learning_rate: 0.0,
            total_timesteps: 8,
            n_step: 1,
            ..cfg()
        };
        let mut agent = agent(cfg);
        let row: Row = (1.0, 1, 1.0, 2.0, [true; 2], false, false);
        let weights = |a: &Agent| a.online.valid().head.weight.val().into_data().as_slice::<f32>().unwrap().to_vec();
        observe(&mut agent, [row; 2]);
        assert!((agent.learning_rate() - 7.5e-3).abs() < 1e-15, "global step 2 of 8");
        let before = weights(&agent);
        agent.update().unwrap();
        assert_ne!(weights(&agent), before, "rate 7.5e-3 moves the weights");
        for _ in 0..3 {
            observe(&mut agent, [row; 2]);
        }
        assert_eq!(agent.learning_rate(), 0.0);
        let before = weights(&agent);
        agent.update().unwrap();
        assert_eq!(weights(&agent), before, "rate 0 does not");
    }

    #[test]
    fn update_stats_name_the_first_non_finite_value() {
        let stats = |td_loss, q_values| UpdateStats { td_loss, q_values };
        assert_eq!(stats(0.5, -3.0).non_finite(), None);
        assert_eq!(stats(f32::NAN, 1.0).non_finite(), Some("losses/td_loss"));
        assert_eq!(stats(f32::INFINITY, f32::NAN).non_finite(), Some("losses/td_loss"));
        assert_eq!(stats(1.0, f32::NEG_INFINITY).non_finite(), Some("losses/q_values"));
    }
}
