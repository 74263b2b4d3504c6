//! Trains DQN on CartPole with a TOML config and reports greedy evaluations along the way.
//!
//! `cargo run --release -p dqn --example cartpole -- experiments/cartpole.toml [seed] [eval_every]`

use dqn::{Agent, DqnConfig, NullLogger, evaluate, train_until};
use gym::{CartPole, VectorEnv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("experiments/cartpole.toml", String::as_str);
    let mut cfg: DqnConfig = toml::from_str(&std::fs::read_to_string(path)?)?;
    if let Some(seed) = args.get(2) {
        cfg.seed = seed.parse()?;
    }
    let every: u64 = args.get(3).map_or(Ok(10_000), |s| s.parse())?;
    let start = std::time::Instant::now();
    let mut envs = VectorEnv::new((0..cfg.num_envs).map(|_| CartPole::new()).collect())?;
    envs.reset(cfg.seed);
    let mut agent = Agent::for_env(cfg.clone(), &CartPole::new())?;
    let mut step = 0;
    while step < cfg.total_timesteps {
        step = (step + every).min(cfg.total_timesteps);
        let summary = train_until(&mut agent, &mut envs, step, &mut NullLogger)?;
        let eval = evaluate(&mut agent, &mut CartPole::new(), 20, 10_000 + cfg.seed)?;
        let recent = &summary.episode_returns[summary.episode_returns.len().saturating_sub(10)..];
        println!(
            "seed {} step {step:>6} updates {:>6} train_recent {:>6.1} eval20 {:>6.1} ({:.1}s)",
            cfg.seed,
            agent.update_step(),
            recent.iter().sum::<f64>() / recent.len().max(1) as f64,
            eval.mean_return(),
            start.elapsed().as_secs_f64()
        );
    }
    let eval = evaluate(&mut agent, &mut CartPole::new(), 100, 12_345)?;
    println!(
        "seed {} FINAL eval100 mean {:.2} std {:.2} min {:.0} after {} steps in {:.1}s",
        cfg.seed,
        eval.mean_return(),
        eval.std_return(),
        eval.returns.iter().copied().fold(f64::INFINITY, f64::min),
        agent.global_step(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
