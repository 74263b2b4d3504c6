//! DQN solves CartPole-v1 with the shipped hyperparameters (`experiments/cartpole.toml`):
//! greedy mean return ≥ 475 over 100 evaluation episodes after at most 100,000 environment
//! steps. Training on CPU is deterministic, so this fixed seed passes or fails every time.

use dqn::{Agent, DqnConfig, MemoryLogger, evaluate, train};
use gym::{CartPole, VectorEnv};

/// The `[agent]` section of the experiment file, with the seed, the number of envs and the
/// length from `[experiment]` and `[training]` (as the trainer assembles it).
fn shipped_config() -> DqnConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/cartpole.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut file: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = |file: &mut toml::Table, name: &str| match file.remove(name) {
        Some(toml::Value::Table(t)) => t,
        _ => panic!("{path}: no [{name}]"),
    };
    let experiment = section(&mut file, "experiment");
    let training = section(&mut file, "training");
    let mut cfg: DqnConfig = section(&mut file, "agent").try_into().unwrap_or_else(|e| panic!("{path}: {e}"));
    cfg.seed = experiment["seed"].as_integer().unwrap() as u64;
    cfg.num_envs = training["num_envs"].as_integer().unwrap() as usize;
    cfg.total_timesteps = training["total_steps"].as_integer().unwrap() as u64;
    cfg
}

#[test]
fn dqn_solves_cartpole_within_100k_steps() {
    let cfg = shipped_config();
    cfg.validate().unwrap();
    assert!(cfg.total_timesteps <= 100_000);

    let mut envs = VectorEnv::new((0..cfg.num_envs).map(|_| CartPole::new()).collect()).unwrap();
    envs.reset(cfg.seed);
    let mut agent = Agent::for_env(cfg.clone(), &CartPole::new()).unwrap();
    let mut logger = MemoryLogger::default();
    let summary = train(&mut agent, &mut envs, &mut logger).unwrap();
    assert_eq!(summary.global_step, cfg.total_timesteps);
    assert!(!logger.values("charts/episodic_return").is_empty());
    assert!(!logger.values("losses/td_loss").is_empty());

    let report = evaluate(&mut agent, &mut CartPole::new(), 100, 12_345).unwrap();
    let mean = report.mean_return();
    println!(
        "seed {}: greedy mean return {mean:.2} ± {:.2} over 100 episodes after {} steps ({:.1} s)",
        cfg.seed,
        report.std_return(),
        summary.global_step,
        summary.wall_s
    );
    assert!(mean >= 475.0, "mean greedy return {mean} < 475");
}
