//! [`ClusterEnv`]: the simulator behind the gym [`Env`] API, for learning agents.

use std::sync::Arc;

use gym::{BoxSpace, Discrete, Env, EnvError, Snapshot, Step};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use policy_core::ObservationLayout;

use crate::compiled::CompiledScenario;
use crate::config::ScenarioConfig;
use crate::engine::Simulator;
use crate::error::ClusterError;
use crate::metrics::EpisodeMetrics;
use crate::streams::Stream;

/// Episode seeds drawn by `reset(None)` have this bit set; seeds a user passes for evaluation
/// should stay below it, which keeps evaluation episodes disjoint from autoreset training ones.
pub const DERIVED_SEED_BIT: u64 = 1 << 63;

/// Diagnostics of a [`ClusterEnv`] step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterInfo {
    /// Simulated time at the decision (or at the episode's end).
    pub time: f64,
    /// Episode metrics, present on the step that ends the episode (terminated or truncated).
    pub metrics: Option<EpisodeMetrics>,
}

/// A cluster scheduling environment: one step = one placement decision.
///
/// `reset(Some(s))` runs exactly the episode `Simulator::reset(s)` runs, so an evaluation seed
/// means the same workload for learned policies and heuristics.
#[derive(Debug, Clone)]
pub struct ClusterEnv {
    sim: Simulator,
    obs: Vec<f32>,
    space: BoxSpace,
    seeds: ChaCha8Rng,
    needs_reset: bool,
}

impl ClusterEnv {
    /// Builds the environment for a scenario (validated; errors name the bad field).
    ///
    /// # Errors
    /// As [`CompiledScenario::new`].
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        Ok(Self::from_compiled(CompiledScenario::new(cfg)?))
    }

    /// The environment of an already compiled scenario: N training envs share one compilation
    /// (and one read of a trace file).
    pub fn from_compiled(c: Arc<CompiledScenario>) -> Self {
        let (low, high) = c.observation_layout().bounds();
        let space = BoxSpace::new(low, high);
        let obs = vec![0.0; space.dim()];
        Self { sim: Simulator::from_compiled(c), obs, space, seeds: Stream::EpisodeSeeds.rng(0), needs_reset: true }
    }

    /// The simulator (for heuristics' structured view, metrics and invariant checks).
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// The layout and scenario constants of this env's observation, so that code outside the
    /// simulator (an exported policy in production) can encode a cluster state identically.
    pub fn observation_layout(&self) -> &ObservationLayout {
        self.sim.compiled().observation_layout()
    }

    fn encode(&mut self) {
        // Padded: a scenario that draws its cluster per episode has fewer nodes than slots.
        self.sim.compiled().observation_layout().encode_padded(&self.sim.view(), &mut self.obs);
    }

    fn info(&self, end: bool) -> ClusterInfo {
        ClusterInfo { time: self.sim.now(), metrics: end.then(|| self.sim.metrics()) }
    }
}

impl Env for ClusterEnv {
    type Info = ClusterInfo;

    fn observation_space(&self) -> &BoxSpace {
        &self.space
    }

    fn action_space(&self) -> Discrete {
        Discrete { n: self.sim.mask().len() }
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], ClusterInfo) {
        let episode_seed = match seed {
            Some(s) => {
                self.seeds = Stream::EpisodeSeeds.rng(s);
                s
            }
            None => self.seeds.next_u64() | DERIVED_SEED_BIT,
        };
        self.sim.reset(episode_seed);
        self.needs_reset = self.sim.is_done();
        self.encode();
        let info = self.info(false);
        (&self.obs, info)
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, ClusterInfo>, EnvError> {
        if self.needs_reset {
            return Err(EnvError::NeedsReset);
        }
        let reward = self.sim.place(action).map_err(|e| match e {
            ClusterError::Action(a) => a,
            other => EnvError::Internal(other.to_string()),
        })?;
        let terminated = self.sim.is_done();
        let truncated = !terminated && self.sim.scenario().max_decisions.is_some_and(|m| self.sim.decisions() >= m);
        self.needs_reset = terminated || truncated;
        self.encode();
        let info = self.info(self.needs_reset);
        Ok(Step { obs: &self.obs, reward, terminated, truncated, info })
    }

    fn action_mask(&self) -> &[bool] {
        self.sim.mask()
    }
}

/// [`ClusterEnv`]'s state as [`Snapshot`] saves it: the simulator's, and the stream of the
/// derived episode seeds.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClusterEnvState {
    sim: Vec<u8>,
    seeds: ChaCha8Rng,
    needs_reset: bool,
}

impl Snapshot for ClusterEnv {
    fn save_state(&self) -> Vec<u8> {
        let state =
            ClusterEnvState { sim: self.sim.save_state(), seeds: self.seeds.clone(), needs_reset: self.needs_reset };
        // Encoding plain data into a Vec cannot fail.
        postcard::to_stdvec(&state).unwrap_or_default()
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        let state: ClusterEnvState = postcard::from_bytes(bytes)
            .map_err(|e| EnvError::BadState(format!("cluster env: the state does not decode: {e}")))?;
        self.sim.load_state(&state.sim).map_err(|e| EnvError::BadState(e.to_string()))?;
        self.seeds = state.seeds;
        self.needs_reset = state.needs_reset;
        // The observation is a function of the simulator's state: encode it again.
        self.encode();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Seeding, truncation, the reset contract and snapshots of [`ClusterEnv`].

    use rand::SeedableRng;

    use super::*;
    use crate::scenarios;

    fn first_valid(mask: &[bool]) -> usize {
        mask.iter().position(|&ok| ok).unwrap()
    }

    /// Rewards of one episode with the first-valid policy, through the env.
    fn env_episode(env: &mut ClusterEnv, seed: Option<u64>) -> Vec<f64> {
        env.reset(seed);
        let mut rewards = Vec::new();
        loop {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            rewards.push(s.reward);
            if s.terminated || s.truncated {
                return rewards;
            }
        }
    }

    /// The same, on a bare simulator.
    fn sim_episode(sim: &mut Simulator, seed: u64) -> Vec<f64> {
        sim.reset(seed);
        let mut rewards = Vec::new();
        while !sim.is_done() {
            rewards.push(sim.place(first_valid(sim.mask())).unwrap());
        }
        rewards
    }

    #[test]
    fn seeded_and_derived_episodes_match_the_simulator() {
        let cfg = scenarios::seed_case();
        let mut env = ClusterEnv::new(&cfg).unwrap();
        let mut sim = Simulator::new(&cfg).unwrap();
        assert!(matches!(env.step(0), Err(EnvError::NeedsReset)), "step before reset");
        assert_eq!(env_episode(&mut env, Some(7)), sim_episode(&mut sim, 7));
        // reset(None) continues a ChaCha stream seeded by the last explicit seed.
        let mut seeds = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2 {
            let derived = seeds.next_u64() | DERIVED_SEED_BIT;
            assert_eq!(env_episode(&mut env, None), sim_episode(&mut sim, derived));
        }
        // Reseeding restarts the stream.
        env_episode(&mut env, Some(7));
        let derived = ChaCha8Rng::seed_from_u64(7).next_u64() | DERIVED_SEED_BIT;
        assert_eq!(env_episode(&mut env, None), sim_episode(&mut sim, derived));
    }

    #[test]
    fn max_decisions_truncates() {
        let mut cfg = scenarios::seed_case();
        cfg.max_decisions = Some(10);
        let mut env = ClusterEnv::new(&cfg).unwrap();
        let (_, info) = env.reset(Some(1));
        assert_eq!(info.metrics, None);
        for k in 0..10 {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            assert!(!s.terminated);
            assert_eq!(s.truncated, k == 9);
            assert_eq!(s.info.metrics.is_some(), k == 9);
            if k == 9 {
                let m = s.info.metrics.clone().unwrap();
                assert_eq!(m.decisions, 10);
                assert!(m.completed < 100);
            }
        }
        assert!(matches!(env.step(first_valid(env.action_mask())), Err(EnvError::NeedsReset)));
        assert_eq!(env.action_space().n, 10);
        assert_eq!(env.simulator().decisions(), 10);
    }

    /// A truncated episode's metrics count the tasks still in the system. One single-slot node;
    /// J0 (t = 0, work 4) runs 0..4, J1 (t = 1, work 2) queues and runs 4..6. After those two
    /// decisions the simulator stops at J2's arrival (t = 5), where `max_decisions = 2`
    /// truncates: J0 completed (JCT 4), J1 has been in the system 4 and J2 0; J3 (t = 10) has
    /// not arrived and counts nowhere.
    #[test]
    fn truncated_episode_metrics_count_unfinished_tasks() {
        let mut cfg = crate::engine::tests::trace_scenario(
            "truncated.csv",
            &["slot"],
            &[(&[1.0], 1.0)],
            "arrival,work,slot,priority\n0,4,1,0\n1,2,1,0\n5,1,1,0\n10,1,1,0\n",
        );
        cfg.max_decisions = Some(2);
        let mut env = ClusterEnv::new(&cfg).unwrap();
        env.reset(Some(0));
        assert!(!env.step(0).unwrap().truncated);
        let s = env.step(0).unwrap();
        assert!(s.truncated && !s.terminated);
        assert_eq!(s.info.time, 5.0);
        let m = s.info.metrics.clone().unwrap();
        assert_eq!((m.tasks, m.completed, m.unfinished), (4, 1, 2));
        assert_eq!(m.mean_jct, 4.0, "completed tasks only: reads low");
        assert_eq!(m.mean_jct_with_unfinished, (4.0 + 4.0 + 0.0) / 3.0);
        assert_eq!(m.scalar("unfinished"), Some(2.0));
        assert_eq!(m.scalar("mean_jct_with_unfinished"), Some(8.0 / 3.0));
        // Run to the end: nothing is unfinished, and both means agree exactly.
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        while !sim.is_done() {
            sim.place(0).unwrap();
        }
        let m = sim.metrics();
        assert_eq!((m.completed, m.unfinished), (4, 0));
        // J0 0..4, J1 4..6, J2 6..7, J3 10..11: JCTs 4, 5, 2, 1.
        assert_eq!(m.mean_jct, 3.0);
        assert_eq!(m.mean_jct_with_unfinished, m.mean_jct);
    }

    /// Metrics written before `unfinished` and `mean_jct_with_unfinished` existed (a
    /// `report.json` of an older build) still read, with both at 0.
    #[test]
    fn metrics_without_the_unfinished_fields_still_deserialize() {
        let mut sim = Simulator::new(&scenarios::seed_case()).unwrap();
        sim.reset(3);
        let mut json = serde_json::to_value(sim.metrics()).unwrap();
        let obj = json.as_object_mut().unwrap();
        assert!(obj.remove("unfinished").is_some() && obj.remove("mean_jct_with_unfinished").is_some());
        let m: EpisodeMetrics = serde_json::from_value(json).unwrap();
        assert_eq!((m.unfinished, m.mean_jct_with_unfinished), (0, 0.0));
    }

    #[test]
    fn episode_end_reports_the_simulator_metrics() {
        let cfg = scenarios::seed_case();
        let mut env = ClusterEnv::new(&cfg).unwrap();
        env.reset(Some(2));
        loop {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            if s.terminated {
                let m = s.info.metrics.clone().unwrap();
                assert_eq!(s.info.time, env.simulator().now());
                assert_eq!(m, env.simulator().metrics());
                assert_eq!(m.completed, 100);
                assert!(env.action_mask().iter().all(|&ok| !ok), "no valid action once done");
                break;
            }
            assert_eq!(s.info.metrics, None);
        }
    }

    /// Steps `envs` `steps` times with a rule that depends on the observations (so a wrong
    /// restored observation changes the actions), returning everything they reported.
    fn drive(envs: &mut gym::VectorEnv<ClusterEnv>, steps: usize) -> Vec<(Vec<f32>, Vec<f64>, Vec<bool>)> {
        let (n, a) = (envs.num_envs(), envs.n_actions());
        let mut out = Vec::new();
        for _ in 0..steps {
            let obs = envs.obs();
            let actions: Vec<usize> = (0..n)
                .map(|i| {
                    let mask = &envs.masks()[i * a..(i + 1) * a];
                    let start = (obs[i * envs.obs_dim()].to_bits() as usize) % a;
                    (0..a).map(|k| (start + k) % a).find(|&k| mask[k]).unwrap()
                })
                .collect();
            envs.step(&actions).unwrap();
            out.push((envs.obs().to_vec(), envs.rewards().to_vec(), envs.truncated().to_vec()));
        }
        out
    }

    #[test]
    fn a_restored_vector_env_continues_exactly_across_episode_ends() {
        let mut cfg = scenarios::seed_case();
        cfg.max_decisions = Some(40); // episodes end (by truncation) within the test
        let make = || gym::VectorEnv::new((0..3).map(|_| ClusterEnv::new(&cfg).unwrap()).collect()).unwrap();
        let mut a = make();
        a.reset(5);
        drive(&mut a, 57);
        let state = a.save_state();
        let mut b = make();
        b.reset(77);
        drive(&mut b, 3);
        b.load_state(&state).unwrap();
        assert_eq!(b.obs(), a.obs());
        assert_eq!(b.masks(), a.masks());
        let (ra, rb) = (drive(&mut a, 100), drive(&mut b, 100));
        assert!(ra.iter().any(|(_, _, t)| t.iter().any(|&t| t)), "an episode ended after the restore");
        assert_eq!(ra, rb);

        // A state of another size is refused and changes nothing.
        let mut c = gym::VectorEnv::new((0..2).map(|_| ClusterEnv::new(&cfg).unwrap()).collect()).unwrap();
        c.reset(1);
        let before = c.save_state();
        let e = c.load_state(&state).unwrap_err().to_string();
        assert!(e.contains("3 envs"), "{e}");
        assert_eq!(c.save_state(), before);
        assert!(c.load_state(b"not a state").is_err());
    }
}

#[cfg(test)]
mod observation_tests {
    //! Hand-computed observations in both layouts, through the env.

    use gym::Env;

    use crate::ClusterEnv;
    use crate::config::{ObservationKind, PriorityClass};
    use crate::engine::tests::trace_scenario;
    use policy_core::ObservationLayout;

    /// Park's layout: load = queued work + (finish − now) of the running job, clipped at
    /// 500000; the job size last; service time int(size / rate).
    #[test]
    fn park_observation_by_hand() {
        let mut cfg = trace_scenario(
            "park_obs.csv",
            &["slot"],
            &[(&[1.0], 0.5), (&[1.0], 2.0)],
            "arrival,work,slot,priority\n0,100,1,0\n0,7,1,0\n0,50,1,0\n1,1000000,1,0\n2,30,1,0\n4,1,1,0\n",
        );
        cfg.integer_time = true;
        cfg.observation = ObservationKind::Park { high: 500_000.0 };
        let mut env = ClusterEnv::new(&cfg).unwrap();
        assert_eq!(
            *env.observation_layout(),
            ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 }
        );
        assert_eq!(env.observation_space().low, [0.0; 3]);
        assert_eq!(env.observation_space().high, [500_000.0; 3]);
        let (obs, _) = env.reset(Some(0));
        assert_eq!(obs, [0.0, 0.0, 100.0]);
        // J0 on node 0: int(100 / 0.5) = 200, finishes at 200; remaining time 200.
        assert_eq!(env.step(0).unwrap().obs, [200.0, 0.0, 7.0]);
        // J1 on node 1: int(7 / 2) = 3, finishes at 3; remaining time 3 (its size is 7).
        assert_eq!(env.step(1).unwrap().obs, [200.0, 3.0, 50.0]);
        // J2 queues on node 0. At t = 1: 50 + (200 − 1) and (3 − 1); J3's size clipped.
        let s = env.step(0).unwrap();
        assert_eq!((s.obs, s.info.time), (&[249.0, 2.0, 500_000.0][..], 1.0));
        // J3 queues on node 1 at t = 2: 1000000 queued + (3 − 2) is clipped.
        assert_eq!(env.step(1).unwrap().obs, [248.0, 500_000.0, 30.0]);
        // J4 queues on node 0. At t = 4, J1 finished at 3 and J3 runs until 3 + 500000:
        // 500003 − 4 = 499999 (under the clip); node 0: 50 + 30 + (200 − 4).
        let s = env.step(0).unwrap();
        assert_eq!(s.obs, [276.0, 499_999.0, 1.0]);
        assert_eq!(env.simulator().tasks_completed(), 1);
        let s = env.step(0).unwrap();
        assert!(s.terminated && !s.truncated);
        assert_eq!(s.obs, [0.0, 0.0, 0.0]);
        assert_eq!(s.info.time, 500_003.0);
        let m = s.info.metrics.clone().unwrap();
        // JCTs: J0 200, J1 3, J2 300, J3 500002, J4 358 (300 + int(30 / 0.5) − 2), J5 358.
        assert_eq!(m.mean_jct, (200.0 + 3.0 + 300.0 + 500_002.0 + 358.0 + 358.0) / 6.0);
        assert_eq!(m.makespan, 500_003.0);
        assert!(matches!(env.step(0), Err(gym::EnvError::NeedsReset)));
    }

    /// The full layout, `N·(R+4) + R + 2` values, for a hand-built state.
    #[test]
    fn full_observation_by_hand() {
        let mut cfg = trace_scenario(
            "full_obs.csv",
            &["cpu", "mem"],
            &[(&[4.0, 8.0], 1.0), (&[2.0, 16.0], 2.0)],
            "arrival,work,cpu,mem,priority\n0,10,2,3,0\n0,6,1,4,1\n0,2,2,8,1\n",
        );
        cfg.workload.priorities = vec![
            PriorityClass { name: "low".into(), weight: 1.0, prob: 0.5 },
            PriorityClass { name: "high".into(), weight: 4.0, prob: 0.5 },
        ];
        let mut env = ClusterEnv::new(&cfg).unwrap();
        assert_eq!(env.observation_space().dim(), 2 * (2 + 4) + 2 + 2);
        // The constants the expected values below divide by.
        assert_eq!(
            *env.observation_layout(),
            ObservationLayout::Full {
                n_nodes: 2,
                resources: vec!["cpu".into(), "mem".into()],
                time_scale: 4.0,
                max_speed: 2.0,
                max_capacity: vec![4.0, 16.0],
                mean_work: 6.0,
                max_weight: 4.0,
                tasks_scale: 10.0,
            }
        );
        let inf = f32::INFINITY;
        assert_eq!(
            env.observation_space().high,
            [1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, 1.0]
        );
        env.reset(Some(0));
        env.step(0).unwrap();
        let obs = env.step(1).unwrap().obs.to_vec();
        // mean work 6, mean speed 1.5 → time scale 4; fastest speed 2; largest capacities
        // [4, 16]; largest weight 4.
        #[rustfmt::skip]
        let expected: [f32; 16] = [
            // node 0: free (4−2)/4, (8−3)/8; outstanding 10 / 1 / 4; 1 task; speed 1/2; up
            0.5, 0.625, 2.5, 0.1, 0.5, 1.0,
            // node 1: free (2−1)/2, (16−4)/16; outstanding 6 / 2 / 4; 1 task; speed 2/2; up
            0.5, 0.75, 0.75, 0.1, 1.0, 1.0,
            // task: demand 2/4, 8/16; size 2/6; weight 4/4
            0.5, 0.5, (2.0f64 / 6.0) as f32, 1.0,
        ];
        assert_eq!(obs, expected);
        // The view writes the same vector.
        let view = env.simulator().view();
        let mut out = vec![0.0; view.obs_dim()];
        view.observation(&mut out);
        assert_eq!(out, expected);
        let s = env.step(0).unwrap();
        assert!(s.terminated);
        assert_eq!(s.obs[12..], [0.0; 4], "no task at the end");
    }

    /// A down node shows up = 0, zero usage and no outstanding work.
    #[test]
    fn full_observation_marks_down_nodes() {
        let mut cfg = trace_scenario(
            "down_obs.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority\n0,4,1,0\n3,1,1,0\n",
        );
        cfg.failures.scheduled = vec![crate::ScheduledFailure { node: 1, at: 1.0, duration: 10.0 }];
        let mut env = ClusterEnv::new(&cfg).unwrap();
        env.reset(Some(0));
        // J0 on node 1 fails at t = 1 and is re-offered with node 1 masked.
        let s = env.step(1).unwrap();
        // Blocks [free, outstanding, tasks, speed, up]; the down node holds nothing. Task: demand
        // 1, size 4 / mean work 2.5, weight 1.
        assert_eq!(s.obs, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.6, 1.0]);
        assert_eq!(s.info.time, 1.0);
        assert_eq!(env.action_mask(), &[true, false]);
        let err = env.step(1).unwrap_err();
        assert_eq!(err, gym::EnvError::ActionMasked { action: 1, valid: vec![0] });
        assert!(matches!(env.step(2), Err(gym::EnvError::ActionOutOfRange { action: 2, n: 2 })));
    }
}
