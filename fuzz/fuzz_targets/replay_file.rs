//! A checkpoint's `replay.bin` (`dqn::save::check_replay`, the parser `Agent::load` uses). The
//! first byte picks the agent the file is read for (even: a uniform buffer, odd: a prioritized
//! one with 3-step returns and two envs); the rest is the file. A file that reads is then
//! sampled from, as training does. Any bytes are a typed error or a usable buffer; never a
//! panic, and no size in the file is allocated.
//!
//! `CLUSTER_RL_FUZZ_REPLAY_SEEDS=<dir>` makes the target write a real `replay.bin` of each
//! agent into `<dir>` (prefixed with its selector byte) before fuzzing: the seed corpus.
#![no_main]

use dqn::{Agent, Batch, DqnConfig, SaveOptions, Transitions};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const OBS_DIM: usize = 3;
const N_ACTIONS: usize = 2;

fn config(selector: u8) -> DqnConfig {
    let base =
        DqnConfig { buffer_size: 8, batch_size: 4, learning_starts: 0, hidden_sizes: vec![4], ..DqnConfig::default() };
    if selector % 2 == 0 { base } else { DqnConfig { prioritized_replay: true, n_step: 3, num_envs: 2, ..base } }
}

/// A real `replay.bin` of the agent `selector` picks, after a few steps.
fn seed(selector: u8) -> Vec<u8> {
    let cfg = config(selector);
    let n = cfg.num_envs;
    let mut agent = Agent::new(cfg, OBS_DIM, N_ACTIONS).unwrap();
    for step in 0..7 {
        let x = step as f32;
        let obs = vec![x; n * OBS_DIM];
        let next_obs = vec![x + 0.5; n * OBS_DIM];
        let t = Transitions {
            obs: &obs,
            actions: &vec![step % N_ACTIONS; n],
            rewards: &vec![f64::from(x); n],
            next_obs: &next_obs,
            next_masks: &vec![true; n * N_ACTIONS],
            terminated: &vec![step == 4; n],
            truncated: &vec![false; n],
        };
        agent.observe(&t).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("cluster-rl-fuzz-replay-{}-{selector}", std::process::id()));
    agent.save(&dir, SaveOptions { replay: true }).unwrap();
    let bytes = std::fs::read(dir.join("replay.bin")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    [&[selector][..], &bytes].concat()
}

fuzz_target!(
    init: {
        if let Some(dir) = std::env::var_os("CLUSTER_RL_FUZZ_REPLAY_SEEDS") {
            std::fs::create_dir_all(&dir).unwrap();
            for selector in [0, 1] {
                std::fs::write(std::path::Path::new(&dir).join(format!("agent-{selector}")), seed(selector)).unwrap();
            }
        }
    },
    |data: &[u8]| {
        let Some((&selector, file)) = data.split_first() else { return };
        let cfg = config(selector);
        let Ok(mut replay) = dqn::save::check_replay(file, &cfg, OBS_DIM, N_ACTIONS) else { return };
        if replay.is_empty() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut batch = Batch::default();
        replay.sample_indices(&mut rng, cfg.batch_size, 0.4, &mut batch);
        replay.gather(&mut batch);
        let indices = batch.indices.clone();
        replay.update_priorities(&indices, &vec![0.5; indices.len()], cfg.per_epsilon);
    }
);
