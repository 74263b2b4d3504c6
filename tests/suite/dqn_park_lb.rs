//! DQN learns on clusters: trained on `park-lb` with the shipped hyperparameters
//! (`experiments/park-lb.toml`), the greedy policy beats least-loaded on mean JCT over 200
//! held-out evaluation seeds, paired by seed, with a 95% confidence interval of the paired
//! difference that excludes zero.
//!
//! Seeds: training episodes start from `agent.seed + i` and continue with derived seeds (bit 63
//! set); the policy kept is the best of the periodic evaluations on 50 *validation* seeds from
//! 2,000,000; the verdict uses 200 *test* seeds from 1,000,000, never seen before. Training on
//! CPU is deterministic, so this passes or fails every time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cluster_env::{
    BASELINES, ClusterEnv, ClusterError, ClusterView, RewardKind, ScenarioConfig, Scheduler, SchedulerSpec, Simulator,
    evaluate, run_episode, scenarios,
};
use dqn::{Agent, DqnConfig, MemoryLogger, SaveOptions, train_until};
use gym::VectorEnv;
use serde::Deserialize;

/// The parts of the trainer's experiment file this test needs (the trainer itself parses and
/// validates the whole file strictly; here the other sections are ignored).
#[derive(Debug, Deserialize)]
struct Experiment {
    experiment: ExperimentSection,
    env: EnvSection,
    agent: DqnConfig,
    training: TrainingSection,
}

#[derive(Debug, Deserialize)]
struct ExperimentSection {
    seed: u64,
}

#[derive(Debug, Deserialize)]
struct EnvSection {
    scenario: String,
    reward: Option<RewardKind>,
}

#[derive(Debug, Deserialize)]
struct TrainingSection {
    total_steps: u64,
    num_envs: usize,
    /// Environment steps between greedy evaluations on the validation seeds.
    eval_interval: u64,
    /// Validation episodes per evaluation.
    eval_episodes: u64,
}

const VALIDATION_SEED: u64 = 2_000_000;
const TEST_SEED: u64 = 1_000_000;
const TEST_EPISODES: u64 = 200;

fn experiment() -> (Experiment, ScenarioConfig) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/park-lb.toml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut exp: Experiment = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    exp.agent.seed = exp.experiment.seed;
    exp.agent.num_envs = exp.training.num_envs;
    exp.agent.total_timesteps = exp.training.total_steps;
    exp.agent.validate().unwrap();
    let mut cfg = scenarios::preset(&exp.env.scenario).unwrap();
    if let Some(reward) = exp.env.reward {
        cfg.reward = reward;
    }
    (exp, cfg)
}

/// The greedy DQN policy behind the `Scheduler` trait, so evaluation treats it like a baseline.
struct DqnPolicy {
    agent: Agent,
    obs: Vec<f32>,
}

impl DqnPolicy {
    fn load(dir: &Path) -> Self {
        let agent = Agent::load(dir).unwrap();
        let dim = agent.network_config().obs_dim;
        Self { agent, obs: vec![0.0; dim] }
    }
}

impl Scheduler for DqnPolicy {
    fn name(&self) -> &str {
        "dqn"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        view.observation(&mut self.obs);
        Ok(self.agent.greedy_action(&self.obs, view.mask()).unwrap())
    }
}

fn mean_jct(agent: &Agent, dir: &Path, cfg: &ScenarioConfig, seeds: std::ops::Range<u64>) -> f64 {
    agent.save(dir, SaveOptions { replay: false }).unwrap();
    let mut policy = DqnPolicy::load(dir);
    let mut sim = Simulator::new(cfg).unwrap();
    let n = seeds.end - seeds.start;
    seeds.map(|s| run_episode(&mut sim, &mut policy, s).unwrap().mean_jct).sum::<f64>() / n as f64
}

#[test]
fn dqn_beats_least_loaded_on_park_lb() {
    let (exp, cfg) = experiment();
    let work = std::env::temp_dir().join(format!("cluster-rl-park-lb-{}", std::process::id()));
    let (latest, best) = (work.join("latest"), work.join("best"));
    let start = std::time::Instant::now();

    let envs = (0..exp.agent.num_envs).map(|_| ClusterEnv::new(&cfg).unwrap()).collect();
    let mut envs = VectorEnv::new(envs).unwrap();
    envs.reset(exp.agent.seed);
    let mut agent = Agent::new(exp.agent.clone(), envs.obs_dim(), envs.n_actions()).unwrap();
    let mut logger = MemoryLogger::default();
    let validation = VALIDATION_SEED..VALIDATION_SEED + exp.training.eval_episodes;
    let every = exp.training.eval_interval;
    let mut best_jct = f64::INFINITY;
    for k in 1..=exp.training.total_steps / every {
        train_until(&mut agent, &mut envs, every * k, &mut logger).unwrap();
        let jct = mean_jct(&agent, &latest, &cfg, validation.clone());
        println!("step {}: validation mean JCT {jct:.1}", agent.global_step());
        if jct < best_jct {
            best_jct = jct;
            agent.save(&best, SaveOptions { replay: false }).unwrap();
        }
    }
    let train_s = start.elapsed().as_secs_f64();

    let best_dir: Arc<PathBuf> = Arc::new(best);
    let dqn = SchedulerSpec {
        name: "dqn".into(),
        make: Arc::new(move || Box::new(DqnPolicy::load(&best_dir)) as Box<dyn Scheduler>),
    };
    let mut policies = vec![dqn];
    policies.extend(BASELINES.iter().map(|b| SchedulerSpec::baseline(b).unwrap()));
    let seeds: Vec<u64> = (TEST_SEED..TEST_SEED + TEST_EPISODES).collect();
    let report = evaluate(&cfg, &policies, &seeds, Some("least-loaded")).unwrap();
    print!("{}", report.table());
    println!("training: {} steps in {train_s:.0} s", agent.global_step());
    let _ = std::fs::remove_dir_all(&work);

    let diff = report.policy("dqn").unwrap().metric("mean_jct").unwrap().diff_vs_reference.unwrap();
    assert!(
        diff.mean < 0.0 && diff.excludes_zero(),
        "dqn − least-loaded mean JCT: {:.1} ± {:.1}",
        diff.mean,
        diff.ci95
    );
}
