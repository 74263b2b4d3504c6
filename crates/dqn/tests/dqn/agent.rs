//! Agent-level tests: masks, determinism, exact resumption after save/load, and checkpoint
//! files that must fail cleanly.

use std::path::{Path, PathBuf};

use dqn::{
    Agent, DqnConfig, DqnError, MemoryLogger, NullLogger, QNetwork, SaveOptions, Transitions, evaluate, train_until,
};
use gym::{BoxSpace, CartPole, Discrete, Env, EnvError, Step, VectorEnv};

/// A walk on `0..=8` with four actions: 0 left, 1 right, 2 stay, 3 jump right by two. Which
/// actions are valid changes with the position (left is masked at 0, jump is masked on odd
/// positions, right is masked at 8), and stepping with a masked action is an error, so any
/// masked choice by the agent fails the test. Reaching 8 terminates with reward 10; every step
/// costs 0.1; 30 steps truncate.
#[derive(Debug, Clone)]
struct MaskedWalk {
    pos: usize,
    t: usize,
    obs: [f32; 2],
    mask: [bool; 4],
    space: BoxSpace,
    done: bool,
}

impl MaskedWalk {
    fn new() -> Self {
        let mut env = Self {
            pos: 0,
            t: 0,
            obs: [0.0; 2],
            mask: [true; 4],
            space: BoxSpace::new(vec![0.0, 0.0], vec![8.0, 30.0]),
            done: true,
        };
        env.refresh();
        env
    }

    fn refresh(&mut self) {
        self.obs = [self.pos as f32, self.t as f32];
        self.mask = [self.pos > 0, self.pos < 8, true, self.pos.is_multiple_of(2) && self.pos + 2 <= 8];
    }
}

impl Env for MaskedWalk {
    type Info = ();

    fn observation_space(&self) -> &BoxSpace {
        &self.space
    }

    fn action_space(&self) -> Discrete {
        Discrete { n: 4 }
    }

    fn reset(&mut self, _seed: Option<u64>) -> (&[f32], ()) {
        self.pos = 0;
        self.t = 0;
        self.done = false;
        self.refresh();
        (&self.obs, ())
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, ()>, EnvError> {
        if self.done {
            return Err(EnvError::NeedsReset);
        }
        EnvError::check_action(action, &self.mask)?;
        match action {
            0 => self.pos -= 1,
            1 => self.pos += 1,
            3 => self.pos += 2,
            _ => {}
        }
        self.t += 1;
        let terminated = self.pos == 8;
        let truncated = !terminated && self.t >= 30;
        self.done = terminated || truncated;
        self.refresh();
        let reward = if terminated { 10.0 } else { -0.1 };
        Ok(Step { obs: &self.obs, reward, terminated, truncated, info: () })
    }

    fn action_mask(&self) -> &[bool] {
        &self.mask
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every parameter of a network, bit for bit.
fn weights(net: &QNetwork) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let layers = net.hidden.iter().chain(std::iter::once(&net.head)).chain(net.value.as_ref());
    for layer in layers {
        let mut tensors = vec![layer.weight.val().into_data()];
        if let Some(b) = &layer.bias {
            tensors.push(b.val().into_data());
        }
        for t in tensors {
            out.push(t.as_slice::<f32>().unwrap().iter().map(|x| x.to_bits()).collect());
        }
    }
    out
}

fn small_cfg() -> DqnConfig {
    DqnConfig {
        seed: 3,
        num_envs: 2,
        total_timesteps: 4000,
        learning_rate: 1e-3,
        buffer_size: 2000,
        batch_size: 32,
        learning_starts: 200,
        train_frequency: 4,
        gradient_steps: 2,
        target_network_frequency: 100,
        hidden_sizes: vec![32, 32],
        n_step: 3,
        ..DqnConfig::default()
    }
}

/// The same config with every optional piece of state switched on.
fn full_cfg() -> DqnConfig {
    DqnConfig {
        prioritized_replay: true,
        dueling: true,
        tau: 0.05,
        target_network_frequency: 4,
        normalize_obs: true,
        normalize_reward: true,
        reward_scale: 0.5,
        loss: dqn::LossKind::Mse,
        ..small_cfg()
    }
}

fn cartpoles(cfg: &DqnConfig) -> VectorEnv<CartPole> {
    let mut envs = VectorEnv::new((0..cfg.num_envs).map(|_| CartPole::new()).collect()).unwrap();
    envs.reset(cfg.seed);
    envs
}

#[test]
fn training_respects_action_masks() {
    let cfg = DqnConfig { num_envs: 3, total_timesteps: 3000, learning_starts: 100, ..small_cfg() };
    let mut envs = VectorEnv::new((0..3).map(|_| MaskedWalk::new()).collect()).unwrap();
    envs.reset(0);
    let mut agent = Agent::for_env(cfg, &MaskedWalk::new()).unwrap();
    // Any masked action would make the env return ActionMasked and training fail.
    let summary = train_until(&mut agent, &mut envs, 3000, &mut NullLogger).unwrap();
    assert!(agent.update_step() > 0);
    assert!(!summary.episode_returns.is_empty());
    evaluate(&mut agent, &mut MaskedWalk::new(), 5, 0).unwrap();

    // Greedy and fully random acting both pick only valid actions.
    let masks = [false, true, false, false, true, false, true, false];
    let obs = [0.0, 0.0, 5.0, 1.0];
    for _ in 0..50 {
        let actions = agent.act_batch(&obs, &masks, 2).unwrap().to_vec();
        assert_eq!(actions[0], 1);
        assert!(actions[1] == 0 || actions[1] == 2);
        let greedy = agent.greedy_actions(&obs, &masks, 2).unwrap();
        assert_eq!(greedy[0], 1);
        assert!(greedy[1] == 0 || greedy[1] == 2);
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let mut agent = Agent::new(small_cfg(), 2, 4).unwrap();
    assert!(matches!(agent.act_batch(&[0.0; 3], &[true; 4], 1), Err(DqnError::BadInput { .. })));
    assert!(matches!(agent.act_batch(&[0.0; 2], &[true; 3], 1), Err(DqnError::BadInput { .. })));
    assert!(matches!(
        agent.act_batch(&[0.0; 4], &[true, true, true, true, false, false, false, false], 2),
        Err(DqnError::NoValidAction { env: 1, .. })
    ));
    assert!(matches!(agent.update(), Err(DqnError::BadInput { .. })));
    let bad = Transitions {
        obs: &[0.0; 4],
        actions: &[0, 9],
        rewards: &[0.0; 2],
        next_obs: &[0.0; 4],
        next_masks: &[true; 8],
        terminated: &[false; 2],
        truncated: &[false; 2],
    };
    assert!(matches!(agent.observe(&bad), Err(DqnError::BadInput { .. })));
    assert!(matches!(
        Agent::new(DqnConfig { gamma: 2.0, ..small_cfg() }, 2, 4),
        Err(DqnError::InvalidConfig { field: "gamma", .. })
    ));
    assert!(Agent::new(small_cfg(), 0, 4).is_err());
}

#[test]
fn training_is_bit_for_bit_reproducible() {
    for cfg in [small_cfg(), full_cfg()] {
        let run = || {
            let mut envs = cartpoles(&cfg);
            let mut agent = Agent::new(cfg.clone(), 4, 2).unwrap();
            let mut log = MemoryLogger::default();
            train_until(&mut agent, &mut envs, 1500, &mut log).unwrap();
            (weights(agent.online()), weights(agent.target()), log.values("losses/td_loss"))
        };
        assert_eq!(run(), run());
    }
}

#[test]
fn resuming_from_a_save_is_the_same_as_never_stopping() {
    for (name, cfg) in [("plain", small_cfg()), ("full", full_cfg())] {
        let n = 2000;
        // Straight through.
        let mut envs = cartpoles(&cfg);
        let mut straight = Agent::new(cfg.clone(), 4, 2).unwrap();
        train_until(&mut straight, &mut envs, n, &mut NullLogger).unwrap();

        // Half, save, drop, load, the other half (the envs keep running).
        let dir = tmp_dir(name);
        let mut envs = cartpoles(&cfg);
        let mut first = Agent::new(cfg.clone(), 4, 2).unwrap();
        train_until(&mut first, &mut envs, n / 2, &mut NullLogger).unwrap();
        first.save(&dir, SaveOptions { replay: true }).unwrap();
        drop(first);
        let mut resumed = Agent::load(&dir).unwrap();
        assert_eq!(resumed.global_step(), n / 2);
        train_until(&mut resumed, &mut envs, n, &mut NullLogger).unwrap();

        assert!(straight.update_step() > 100, "{name}: the test must train");
        assert_eq!(weights(straight.online()), weights(resumed.online()), "{name}: online");
        assert_eq!(weights(straight.target()), weights(resumed.target()), "{name}: target");
        assert_eq!(straight.replay(), resumed.replay(), "{name}: replay");
        assert_eq!(straight.obs_stats(), resumed.obs_stats(), "{name}: obs stats");
        assert_eq!(straight.update_step(), resumed.update_step());
        assert_eq!(straight.episodes(), resumed.episodes());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_save_without_replay_loads_with_an_empty_buffer() {
    let cfg = small_cfg();
    let mut envs = cartpoles(&cfg);
    let mut agent = Agent::new(cfg.clone(), 4, 2).unwrap();
    train_until(&mut agent, &mut envs, 600, &mut NullLogger).unwrap();
    let dir = tmp_dir("noreplay");
    agent.save(&dir, SaveOptions::default()).unwrap();
    let mut loaded = Agent::load(&dir).unwrap();
    assert!(loaded.replay().is_empty());
    assert_eq!(weights(loaded.online()), weights(agent.online()));
    let obs = [0.01, -0.02, 0.03, 0.0];
    assert_eq!(loaded.q_values(&obs, 1).unwrap(), agent.q_values(&obs, 1).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Resuming from a save without its replay buffer (n-step windows pending, so the first steps
/// store nothing): the loop refills `learning_starts` steps before it learns again, instead of
/// failing on an empty buffer or fitting batches to a handful of transitions.
#[test]
fn without_a_saved_buffer_learning_waits_for_learning_starts_new_steps() {
    let cfg =
        DqnConfig { num_envs: 8, train_frequency: 8, learning_starts: 64, gradient_steps: 1, n_step: 3, ..small_cfg() };
    let mut envs = cartpoles(&cfg);
    let mut agent = Agent::new(cfg, 4, 2).unwrap();
    train_until(&mut agent, &mut envs, 400, &mut NullLogger).unwrap();
    let dir = tmp_dir("refill");
    agent.save(&dir, SaveOptions::default()).unwrap();
    let mut loaded = Agent::load(&dir).unwrap();
    assert_eq!((loaded.global_step(), loaded.learning_starts_at()), (400, 64));
    assert_eq!(loaded.refill_before_learning(), 464);
    assert_eq!(loaded.learning_starts_at(), 464);
    let updates_before = loaded.update_step();
    let mut lp = dqn::Loop::new(&mut loaded, &mut envs).unwrap();
    let per_step: Vec<u64> = (0..10).map(|_| lp.step(&mut NullLogger).unwrap().updates).collect();
    // Steps 408..=464 refill; 472 and 480 each cross one multiple of 8 after 464.
    assert_eq!(per_step, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    assert_eq!(lp.agent().update_step(), updates_before + 2);
    assert!(lp.agent().replay().len() >= 64 - 3 * 8, "{}", lp.agent().replay().len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Saves a small trained agent into a fresh directory and returns it.
fn saved(name: &str, cfg: DqnConfig, obs_dim: usize) -> PathBuf {
    let dir = tmp_dir(name);
    let mut agent = Agent::new(cfg, obs_dim, 2).unwrap();
    for _ in 0..40 {
        agent
            .observe(&Transitions {
                obs: &vec![0.5; 2 * obs_dim],
                actions: &[0, 1],
                rewards: &[1.0, 0.0],
                next_obs: &vec![0.25; 2 * obs_dim],
                next_masks: &[true; 4],
                terminated: &[false, true],
                truncated: &[false; 2],
            })
            .unwrap();
    }
    agent.update().unwrap();
    agent.save(&dir, SaveOptions { replay: true }).unwrap();
    dir
}

/// A copy of burnpack `bytes` with metadata `key` set to `value`.
fn restamp(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    use burn::store::burn_pack::{Reader, Writer};
    let reader = Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec())).unwrap();
    let mut metadata = reader.metadata().clone();
    metadata.insert(key.to_owned(), value.to_owned());
    let mut writer = Writer::new(reader.into_tensors().unwrap());
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    writer.into_bytes().unwrap().to_vec()
}

fn load_err(dir: &Path) -> DqnError {
    match Agent::load(dir) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn broken_checkpoints_are_typed_errors_naming_the_file() {
    let cfg = DqnConfig { prioritized_replay: true, ..small_cfg() };
    let dir = saved("broken", cfg.clone(), 4);
    Agent::load(&dir).unwrap();
    let restore = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();

    // Missing directory.
    assert!(matches!(load_err(&dir.join("nope")), DqnError::Io { .. }));

    // agent.json: truncated, garbage, another version.
    let json = std::fs::read(dir.join("agent.json")).unwrap();
    restore("agent.json", &json[..json.len() / 2]);
    assert!(matches!(load_err(&dir), DqnError::Corrupt { .. }));
    restore("agent.json", b"\x00\xffgarbage");
    assert!(matches!(load_err(&dir), DqnError::Corrupt { .. }));
    let text = String::from_utf8(json.clone()).unwrap();
    restore("agent.json", text.replace("\"format_version\": 1", "\"format_version\": 7").as_bytes());
    match load_err(&dir) {
        DqnError::FormatVersion { path, found: 7, expected: 1 } => {
            assert!(path.ends_with("agent.json"))
        }
        e => panic!("expected a version error, got {e}"),
    }
    restore("agent.json", &json);

    // Weights: every truncation, garbage, a flipped byte.
    for name in ["online.bpk", "target.bpk", "optimizer.bpk", "replay.bin"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let step = (bytes.len() / 61).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            restore(name, &bytes[..cut]);
            let e = load_err(&dir);
            assert!(e.to_string().contains(name), "{name} cut at {cut}: {e}");
        }
        restore(name, b"BURN this is not a burnpack file at all");
        assert!(matches!(load_err(&dir), DqnError::Corrupt { .. } | DqnError::Io { .. }));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        restore(name, &flipped);
        let e = load_err(&dir);
        assert!(e.to_string().contains(name), "{name} flipped: {e}");
        restore(name, &bytes);
        Agent::load(&dir).unwrap();
    }

    // Replay file of another layout version (this build writes 2 and still reads 1).
    let replay = std::fs::read(dir.join("replay.bin")).unwrap();
    let mut other = replay.clone();
    other[8..12].copy_from_slice(&3u32.to_le_bytes());
    restore("replay.bin", &other);
    assert!(matches!(load_err(&dir), DqnError::FormatVersion { found: 3, expected: 2, .. }));
    restore("replay.bin", &replay);

    // A weights file stamped with another format version.
    let online = std::fs::read(dir.join("online.bpk")).unwrap();
    restore("online.bpk", &restamp(&online, "dqn.format_version", "2"));
    match load_err(&dir) {
        DqnError::FormatVersion { path, found: 2, expected: 1 } => {
            assert!(path.ends_with("online.bpk"))
        }
        e => panic!("expected a version error, got {e}"),
    }
    restore("online.bpk", &online);
    Agent::load(&dir).unwrap();

    // Weights of a network of another shape.
    let wide = saved("wide", DqnConfig { hidden_sizes: vec![8], ..cfg.clone() }, 4);
    std::fs::copy(wide.join("online.bpk"), dir.join("online.bpk")).unwrap();
    match load_err(&dir) {
        DqnError::ShapeMismatch { path, expected, found } => {
            assert!(path.ends_with("online.bpk"));
            assert!(expected.contains("4-32-32-2") && found.contains("4-8-2"), "{expected} / {found}");
        }
        e => panic!("expected a shape mismatch, got {e}"),
    }
    // An optimizer file of another agent of the same shape: its parameter ids are foreign.
    let twin = saved("twin", cfg, 4);
    std::fs::copy(twin.join("online.bpk"), dir.join("online.bpk")).unwrap();
    assert!(load_err(&dir).to_string().contains("online.bpk"), "checksum catches the swap");
    for d in [dir, wide, twin] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn an_unknown_device_or_missing_backend_is_an_error() {
    let cfg: Result<DqnConfig, _> = serde_json::from_str(r#"{"device": "tpu:0"}"#);
    assert!(cfg.is_err());
    #[cfg(not(feature = "cuda"))]
    assert!(matches!(
        Agent::new(DqnConfig { device: dqn::DeviceSetting::Cuda(0), ..small_cfg() }, 4, 2),
        Err(DqnError::Device { .. })
    ));
}

#[test]
fn the_shipped_park_lb_checkpoint_still_loads() {
    // Written with format version 1, before lr_schedule and end_learning_rate existed, and
    // without a replay file.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/shipped-park-lb");
    let mut agent = Agent::load(&dir).unwrap();
    let cfg = agent.config().clone();
    assert_eq!((cfg.lr_schedule, cfg.end_learning_rate), (dqn::LrSchedule::Constant, 0.0));
    assert_eq!(agent.learning_rate(), 1e-4);
    assert_eq!(agent.global_step(), 1_800_000);
    assert!(agent.replay().is_empty());
    // Nothing pending without a replay file: truncating is a no-op.
    agent.truncate_pending();
    assert!(agent.replay().is_empty());
    let mut obs = vec![0.0f32; 11];
    obs[10] = 250.0;
    let action = agent.greedy_action(&obs, &[true; 10]).unwrap();
    assert!(action < 10);
    assert!(agent.q_values(&obs, 1).unwrap().iter().all(|q| q.is_finite()));
}

#[test]
fn pending_windows_survive_a_save_and_truncate_the_same_after_loading() {
    let cfg = small_cfg();
    let mut envs = cartpoles(&cfg);
    let mut agent = Agent::new(cfg, 4, 2).unwrap();
    // 301 vector steps: episodes are under way in both envs, so windows are pending.
    train_until(&mut agent, &mut envs, 602, &mut NullLogger).unwrap();
    let dir = tmp_dir("pending");
    agent.save(&dir, SaveOptions { replay: true }).unwrap();
    let mut loaded = Agent::load(&dir).unwrap();
    let before = agent.replay().len();
    agent.truncate_pending();
    loaded.truncate_pending();
    assert!(agent.replay().len() > before, "the test needs pending windows");
    assert_eq!(loaded.replay(), agent.replay());
    assert_eq!(loaded.global_step(), agent.global_step());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `train_frequency` counts environment steps summed over envs: with 8 envs a frequency of 4 is
/// two rounds of updates per vector step, 8 one, 16 one every other step; updates start after
/// `learning_starts`; the target network is updated once per multiple of its frequency.
#[test]
fn train_frequency_counts_every_multiple_crossed() {
    for (train_frequency, learning_starts, expected) in
        [(4, 0, [2, 2, 2, 2]), (8, 0, [1; 4]), (16, 0, [0, 1, 0, 1]), (4, 16, [0, 0, 2, 2])]
    {
        let cfg =
            DqnConfig { num_envs: 8, train_frequency, learning_starts, gradient_steps: 1, n_step: 1, ..small_cfg() };
        let mut envs = cartpoles(&cfg);
        let mut agent = Agent::new(cfg, 4, 2).unwrap();
        let mut lp = dqn::Loop::new(&mut agent, &mut envs).unwrap();
        let per_step: Vec<u64> = (0..4).map(|_| lp.step(&mut NullLogger).unwrap().updates).collect();
        assert_eq!(per_step, expected, "train_frequency {train_frequency}, learning_starts {learning_starts}");
        assert_eq!(lp.agent().global_step(), 32);
    }
    // Twice the gradient steps per round, twice the updates.
    let cfg =
        DqnConfig { num_envs: 8, train_frequency: 4, learning_starts: 0, gradient_steps: 2, n_step: 1, ..small_cfg() };
    let mut envs = cartpoles(&cfg);
    let mut agent = Agent::new(cfg, 4, 2).unwrap();
    let report = dqn::Loop::new(&mut agent, &mut envs).unwrap().step(&mut NullLogger).unwrap();
    assert_eq!((report.prev_step, report.global_step, report.updates), (0, 8, 4));
}

#[test]
fn training_reports_the_actions_taken_and_the_scheduled_learning_rate() {
    let cfg = DqnConfig { lr_schedule: dqn::LrSchedule::Cosine, end_learning_rate: 1e-4, ..small_cfg() };
    let mut envs = cartpoles(&cfg);
    let mut agent = Agent::new(cfg.clone(), 4, 2).unwrap();
    let mut log = MemoryLogger::default();
    train_until(&mut agent, &mut envs, 1500, &mut log).unwrap();
    // Every action of every env at every vector step, both CartPole actions among them.
    assert_eq!(log.action_counts.iter().sum::<u64>(), 1500);
    assert_eq!(log.action_counts.len(), 2);
    assert!(log.action_counts.iter().all(|&c| c > 100), "{:?}", log.action_counts);

    // The schedules are logged together, by `Loop::log_schedules` alone: every 1000 steps and
    // at the end, each value the schedule's at the step it is logged at.
    let steps = |tag: &str| -> Vec<u64> { log.records.iter().filter(|s| s.tag == tag).map(|s| s.step).collect() };
    assert_eq!(steps("charts/learning_rate"), [1000, 1500]);
    assert_eq!(steps("charts/epsilon"), [1000, 1500]);
    assert_eq!(steps("charts/SPS"), [1000, 1500]);
    assert!(log.values("charts/SPS").iter().all(|&sps| sps > 0.0));
    assert!(!log.values("losses/td_loss").is_empty(), "the test must train");
    for s in log.records.iter().filter(|s| s.tag == "charts/learning_rate") {
        assert_eq!(s.value, dqn::learning_rate(&cfg, s.step), "step {}", s.step);
        assert!(s.value <= 1e-3 && s.value > 1e-4);
    }
    for s in log.records.iter().filter(|s| s.tag == "charts/epsilon") {
        assert_eq!(s.value, dqn::epsilon(&cfg, s.step), "step {}", s.step);
    }
    assert_eq!(agent.learning_rate(), dqn::learning_rate(&cfg, 1500));
}

/// CartPole whose rewards turn NaN from its `from`-th step on (counted over all episodes).
#[derive(Debug, Clone)]
struct NanRewardsFrom {
    inner: CartPole,
    steps: usize,
    from: usize,
}

impl Env for NanRewardsFrom {
    type Info = ();

    fn observation_space(&self) -> &BoxSpace {
        self.inner.observation_space()
    }

    fn action_space(&self) -> Discrete {
        self.inner.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], ()) {
        self.inner.reset(seed)
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, ()>, EnvError> {
        self.steps += 1;
        let nan = self.steps >= self.from;
        let step = self.inner.step(action)?;
        Ok(Step { reward: if nan { f64::NAN } else { step.reward }, ..step })
    }

    fn action_mask(&self) -> &[bool] {
        self.inner.action_mask()
    }
}

#[test]
fn a_non_finite_loss_stops_training_at_the_gradient_step_that_produced_it() {
    // One env, one gradient step per environment step from step 51: update k happens at
    // global step 50 + k. Rewards are NaN from step 120 (update 70) on.
    let cfg =
        DqnConfig { num_envs: 1, learning_starts: 50, train_frequency: 1, gradient_steps: 1, n_step: 1, ..small_cfg() };
    let mut envs = VectorEnv::new(vec![NanRewardsFrom { inner: CartPole::new(), steps: 0, from: 120 }]).unwrap();
    envs.reset(1);
    let mut agent = Agent::new(cfg, 4, 2).unwrap();
    let mut log = MemoryLogger::default();
    let err = train_until(&mut agent, &mut envs, 1000, &mut log).unwrap_err();
    let message = err.to_string();
    match err {
        DqnError::NonFinite { what, global_step, update_step } => {
            assert_eq!(what, "losses/td_loss");
            assert_eq!(global_step, 50 + update_step);
            // Caught as soon as a NaN transition is sampled, long before the 100th update at
            // which the loss would first have been logged.
            assert!((70..100).contains(&update_step), "update step {update_step}");
            assert_eq!(agent.update_step(), update_step);
            assert_eq!(agent.global_step(), global_step);
            assert_eq!(
                message,
                format!("non-finite losses/td_loss at global step {global_step} (update step {update_step})")
            );
        }
        e => panic!("expected a non-finite error, got {e}"),
    }
    assert!(log.values("losses/td_loss").is_empty());
}
