//! GPU smoke tests for the `wgpu` and `cuda` features: every test here is `#[ignore]`d (CI has
//! no GPU) and compiled only with its feature, so a plain `cargo test` neither builds nor runs
//! them. On a machine with a GPU:
//!
//! ```text
//! cargo test -p dqn --features wgpu --test dqn gpu_smoke:: -- --ignored --nocapture --test-threads=1
//! cargo test -p dqn --features cuda --test dqn gpu_smoke:: -- --ignored --nocapture --test-threads=1
//! ```
//!
//! `*_smoke` builds a park-lb-sized agent (11 → 128 → 128 → 10, batch 128) on the device, fills
//! its replay buffer with random transitions, runs gradient steps and batched acting, checks that
//! losses and Q-values are finite, checks that the device's forward pass and one gradient step
//! agree with burn's CPU backend on the same weights and replay state, and prints µs per
//! `update()` and per batched greedy act (with the CPU figures beside them). `*_cartpole` trains
//! CartPole with `experiments/cartpole.toml` on the device (50k steps by default,
//! `GPU_SMOKE_CARTPOLE_STEPS` to change) and prints the greedy mean return, with a CPU run of the
//! same config beside it.
//!
//! The CUDA backend compiles its kernels at run time with NVRTC: besides the driver
//! (`libcuda.so.1`) it needs a CUDA toolkit (`libnvrtc.so.*` and the headers under
//! `$CUDA_PATH/include`, default `/usr/local/cuda`).

#![cfg(any(feature = "wgpu", feature = "cuda"))]

use std::path::PathBuf;
use std::time::Instant;

use dqn::{Agent, DeviceSetting, DqnConfig, NullLogger, SaveOptions, Transitions, evaluate, train};
use gym::{CartPole, VectorEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OBS_DIM: usize = 11;
const N_ACTIONS: usize = 10;
const N_ENVS: usize = 16;
/// Relative tolerance between the device and the CPU, as max |device − cpu| / max |cpu|.
const REL_TOL: f32 = 1e-3;

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dqn-gpu-smoke-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn smoke_cfg(device: DeviceSetting) -> DqnConfig {
    DqnConfig {
        seed: 7,
        device,
        num_envs: N_ENVS,
        total_timesteps: 100_000,
        learning_rate: 1e-3,
        buffer_size: 8192,
        batch_size: 128,
        learning_starts: 0,
        hidden_sizes: vec![128, 128],
        n_step: 3,
        ..DqnConfig::default()
    }
}

/// Random observations, `[n, OBS_DIM]`.
fn random_obs(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n * OBS_DIM).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

/// Random masks, `[n, N_ACTIONS]`, each row with at least one valid action.
fn random_masks(rng: &mut ChaCha8Rng, n: usize) -> Vec<bool> {
    let mut masks: Vec<bool> = (0..n * N_ACTIONS).map(|_| rng.random_bool(0.7)).collect();
    for row in masks.chunks_exact_mut(N_ACTIONS) {
        let k = rng.random_range(0..N_ACTIONS);
        row[k] = true;
    }
    masks
}

/// Observes `steps` random steps of all `N_ENVS` envs.
fn fill_replay(agent: &mut Agent, rng: &mut ChaCha8Rng, steps: usize) {
    for _ in 0..steps {
        let obs = random_obs(rng, N_ENVS);
        let next_obs = random_obs(rng, N_ENVS);
        let next_masks = random_masks(rng, N_ENVS);
        let actions: Vec<usize> = (0..N_ENVS).map(|_| rng.random_range(0..N_ACTIONS)).collect();
        let rewards: Vec<f64> = (0..N_ENVS).map(|_| rng.random_range(-1.0..1.0)).collect();
        let terminated: Vec<bool> = (0..N_ENVS).map(|_| rng.random_bool(0.02)).collect();
        let truncated: Vec<bool> = terminated.iter().map(|&t| !t && rng.random_bool(0.01)).collect();
        agent
            .observe(&Transitions {
                obs: &obs,
                actions: &actions,
                rewards: &rewards,
                next_obs: &next_obs,
                next_masks: &next_masks,
                terminated: &terminated,
                truncated: &truncated,
            })
            .unwrap();
    }
}

/// max |a − b| / max |b| (b is the reference), and the largest |b|.
fn rel_err(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let diff = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    (diff / scale.max(f32::MIN_POSITIVE), scale)
}

fn all_finite(xs: &[f32]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// Runs `n` gradient steps, asserting each one's statistics are finite; µs per step.
fn timed_updates(agent: &mut Agent, n: usize) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        let stats = agent.update().unwrap();
        assert!(stats.non_finite().is_none(), "update {i}: non-finite statistics {stats:?}");
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Runs `n` greedy acts of `batch` envs, asserting each action is valid; µs per call.
fn timed_greedy(agent: &mut Agent, obs: &[f32], masks: &[bool], batch: usize, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let actions = agent.greedy_actions(obs, masks, batch).unwrap();
        for (row, &a) in actions.iter().enumerate() {
            assert!(masks[row * N_ACTIONS + a], "env {row}: greedy action {a} is masked");
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn smoke(device: DeviceSetting) {
    println!("== {device} smoke: {OBS_DIM}-128-128-{N_ACTIONS} MLP, batch 128, n_step 3, Double DQN, Huber");
    let mut rng = ChaCha8Rng::seed_from_u64(11);

    // Setting up the device and initialising the networks.
    let t = Instant::now();
    let mut agent = Agent::new(smoke_cfg(device), OBS_DIM, N_ACTIONS)
        .unwrap_or_else(|e| panic!("{device}: Agent::new failed: {e}"));
    let probe = random_obs(&mut rng, 1);
    let q0 = agent.q_values(&probe, 1).unwrap_or_else(|e| panic!("{device}: first forward pass failed: {e}"));
    assert!(all_finite(&q0), "{device}: fresh network gives non-finite Q {q0:?}");
    println!("{device}: agent + first forward pass in {:.2} s", t.elapsed().as_secs_f64());

    // The same seed initialises the same weights on CPU: the fresh networks must agree.
    let obs_cmp = random_obs(&mut rng, 256);
    let mut cpu_fresh = Agent::new(smoke_cfg(DeviceSetting::Cpu), OBS_DIM, N_ACTIONS).unwrap();
    let (fresh_err, fresh_scale) =
        rel_err(&agent.q_values(&obs_cmp, 256).unwrap(), &cpu_fresh.q_values(&obs_cmp, 256).unwrap());
    println!("{device}: fresh network vs CPU, 256 obs: max rel err {fresh_err:.2e} (max |Q| {fresh_scale:.3})");

    fill_replay(&mut agent, &mut rng, 256);
    println!("{device}: replay holds {} transitions", agent.replay().len());

    // Warm-up: the first steps compile the kernels.
    let t = Instant::now();
    let first = agent.update().unwrap();
    println!("{device}: first update (kernel compilation) {:.2} s, {first:?}", t.elapsed().as_secs_f64());
    let warm_us = timed_updates(&mut agent, 20);
    println!("{device}: warm-up 20 updates at {warm_us:.0} µs each");

    let update_us = timed_updates(&mut agent, 200);
    let last = agent.update().unwrap();
    println!("{device}: 200 updates, batch 128: {update_us:.0} µs per update(); last {last:?}");

    // Acting: ε-greedy over 16 envs (with ε = 1 at step 0 most rows explore, so mostly greedy
    // rows matter only once ε has decayed — time greedy acting directly too).
    let obs16 = random_obs(&mut rng, N_ENVS);
    let masks16 = random_masks(&mut rng, N_ENVS);
    for _ in 0..50 {
        let actions = agent.act_batch(&obs16, &masks16, N_ENVS).unwrap();
        for (row, &a) in actions.iter().enumerate() {
            assert!(masks16[row * N_ACTIONS + a], "act_batch env {row}: action {a} is masked");
        }
    }
    let obs256 = random_obs(&mut rng, 256);
    let masks256 = random_masks(&mut rng, 256);
    let _ = timed_greedy(&mut agent, &obs256, &masks256, 256, 5);
    let greedy256_us = timed_greedy(&mut agent, &obs256, &masks256, 256, 100);
    let greedy16_us = timed_greedy(&mut agent, &obs16, &masks16, N_ENVS, 100);
    let greedy1_us = timed_greedy(&mut agent, &obs16[..OBS_DIM], &masks16[..N_ACTIONS], 1, 100);
    println!(
        "{device}: greedy_actions: {greedy256_us:.0} µs per batch of 256, {greedy16_us:.0} µs per batch of 16, \
         {greedy1_us:.0} µs per single obs"
    );

    let q_dev = agent.q_values(&obs_cmp, 256).unwrap();
    assert!(all_finite(&q_dev), "{device}: trained network gives non-finite Q-values");

    // The trained agent, saved with its replay, Adam state and random generator, loaded on CPU.
    let dir = tmp_dir(&format!("{device}").replace(':', "-"));
    agent.save(&dir, SaveOptions { replay: true }).unwrap();
    let mut cpu = Agent::load_on(&dir, Some(DeviceSetting::Cpu)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let q_cpu = cpu.q_values(&obs_cmp, 256).unwrap();
    let (q_err, q_scale) = rel_err(&q_dev, &q_cpu);
    let same_greedy = {
        let d: Vec<usize> = agent.greedy_actions(&obs256, &masks256, 256).unwrap().to_vec();
        let c = cpu.greedy_actions(&obs256, &masks256, 256).unwrap();
        d.iter().zip(c).filter(|(x, y)| x == y).count()
    };
    println!(
        "{device}: trained network vs same weights on CPU, 256 obs: max rel err {q_err:.2e} (max |Q| {q_scale:.3}); \
         greedy actions agree on {same_greedy}/256"
    );

    // One more gradient step from the identical state on both: same minibatch, same loss.
    let dev_step = agent.update().unwrap();
    let cpu_step = cpu.update().unwrap();
    let loss_err = (dev_step.td_loss - cpu_step.td_loss).abs() / cpu_step.td_loss.abs().max(1e-6);
    let qmean_err = (dev_step.q_values - cpu_step.q_values).abs() / cpu_step.q_values.abs().max(1e-3);
    println!(
        "{device}: next update from the same state: device {dev_step:?}, cpu {cpu_step:?}; \
         rel err loss {loss_err:.2e}, mean Q {qmean_err:.2e}"
    );
    let (step_err, _) = rel_err(&agent.q_values(&obs_cmp, 256).unwrap(), &cpu.q_values(&obs_cmp, 256).unwrap());
    println!("{device}: networks after that step: max rel err {step_err:.2e}");

    // CPU reference timings on this machine (burn flex, single-threaded).
    let cpu_update_us = timed_updates(&mut cpu, 200);
    let cpu_greedy256_us = timed_greedy(&mut cpu, &obs256, &masks256, 256, 100);
    let cpu_greedy1_us = timed_greedy(&mut cpu, &obs16[..OBS_DIM], &masks16[..N_ACTIONS], 1, 100);
    println!(
        "{device}: SUMMARY µs per update() at batch 128: {device} {update_us:.0}, cpu {cpu_update_us:.0}; \
         µs per greedy batch of 256: {device} {greedy256_us:.0}, cpu {cpu_greedy256_us:.0}; \
         µs per single greedy act: {device} {greedy1_us:.0}, cpu {cpu_greedy1_us:.0}"
    );

    assert!(fresh_err <= REL_TOL, "{device}: fresh network differs from CPU by {fresh_err:.2e} (relative)");
    assert!(q_err <= REL_TOL, "{device}: trained network differs from CPU by {q_err:.2e} (relative)");
    assert!(loss_err <= 1e-2, "{device}: td_loss of the same step differs from CPU by {loss_err:.2e} (relative)");
}

/// The `[agent]` section of `experiments/cartpole.toml` with the seed from `[experiment]` and the
/// number of envs from `[training]` (as the trainer assembles it; a flat `DqnConfig` file is read
/// as it is), embedded so the test binary runs from anywhere.
fn cartpole_cfg(device: DeviceSetting, steps: u64) -> DqnConfig {
    const PATH: &str = "experiments/cartpole.toml";
    let text = include_str!("../../../../experiments/cartpole.toml");
    let mut file: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    let cfg = match file.remove("agent") {
        Some(toml::Value::Table(agent)) => {
            let mut cfg: DqnConfig = agent.try_into().unwrap_or_else(|e| panic!("{PATH} [agent]: {e}"));
            if let Some(seed) = file.get("experiment").and_then(|e| e.get("seed")).and_then(toml::Value::as_integer) {
                cfg.seed = seed as u64;
            }
            if let Some(n) = file.get("training").and_then(|t| t.get("num_envs")).and_then(toml::Value::as_integer) {
                cfg.num_envs = n as usize;
            }
            cfg
        }
        _ => file.try_into().unwrap_or_else(|e| panic!("{PATH}: {e}")),
    };
    DqnConfig { device, total_timesteps: steps, ..cfg }
}

fn cartpole_run(device: DeviceSetting, steps: u64) -> (f64, f64, f64) {
    let cfg = cartpole_cfg(device, steps);
    let mut envs = VectorEnv::new((0..cfg.num_envs).map(|_| CartPole::new()).collect()).unwrap();
    envs.reset(cfg.seed);
    let mut agent = Agent::for_env(cfg, &CartPole::new()).unwrap_or_else(|e| panic!("{device}: {e}"));
    let summary = train(&mut agent, &mut envs, &mut NullLogger).unwrap_or_else(|e| panic!("{device}: {e}"));
    assert_eq!(summary.global_step, steps);
    let t = Instant::now();
    let report = evaluate(&mut agent, &mut CartPole::new(), 20, 12_345).unwrap();
    let eval_s = t.elapsed().as_secs_f64();
    let mean = report.mean_return();
    println!(
        "{device}: CartPole {steps} steps, {} updates in {:.1} s ({:.0} steps/s); greedy mean return {mean:.1} ± {:.1} \
         over 20 episodes ({eval_s:.1} s)",
        summary.update_step,
        summary.wall_s,
        steps as f64 / summary.wall_s,
        report.std_return()
    );
    assert!(mean.is_finite());
    (mean, summary.wall_s, eval_s)
}

fn cartpole(device: DeviceSetting) {
    let steps = std::env::var("GPU_SMOKE_CARTPOLE_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000u64);
    println!("== {device} CartPole: experiments/cartpole.toml, {steps} steps");
    let (dev_mean, dev_s, _) = cartpole_run(device, steps);
    let (cpu_mean, cpu_s, _) = cartpole_run(DeviceSetting::Cpu, steps);
    println!(
        "{device}: SUMMARY CartPole {steps} steps: greedy mean return {device} {dev_mean:.1} ({dev_s:.1} s), \
         cpu {cpu_mean:.1} ({cpu_s:.1} s)"
    );
}

#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a GPU adapter (run with --ignored)"]
fn wgpu_smoke() {
    smoke(DeviceSetting::Wgpu);
}

#[cfg(feature = "wgpu")]
#[test]
#[ignore = "needs a GPU adapter (run with --ignored)"]
fn wgpu_cartpole() {
    cartpole(DeviceSetting::Wgpu);
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU and a CUDA toolkit (run with --ignored)"]
fn cuda_smoke() {
    smoke(DeviceSetting::Cuda(0));
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU and a CUDA toolkit (run with --ignored)"]
fn cuda_cartpole() {
    cartpole(DeviceSetting::Cuda(0));
}
