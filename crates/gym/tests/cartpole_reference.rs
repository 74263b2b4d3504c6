//! Replays CartPole-v1 trajectories recorded from Gymnasium itself
//! (`tests/data/gen_cartpole_reference.py` writes `tests/data/cartpole_reference.json`) and
//! checks that [`gym::CartPole`] reproduces every state, observation, reward and flag.

use gym::{CartPole, Env, EnvError};
use serde_json::Value;

/// The agreement the contract asks for. On x86-64 Linux (glibc `sin`/`cos`) the states match
/// bit for bit; serde_json's `float_roundtrip` feature is needed to read them back exactly.
const TOLERANCE: f64 = 1e-6;

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cartpole_reference.json");
    let text = std::fs::read_to_string(path).expect("reading the reference trajectories");
    let data: Value = serde_json::from_str(&text).expect("parsing the reference trajectories");
    assert_eq!(data["env"], "CartPole-v1");
    data["cases"].as_array().expect("cases is an array").clone()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn replays_gymnasium_trajectories() {
    let cases = cases();
    assert!(cases.len() >= 8, "expected the generator's cases, got {}", cases.len());
    let (mut terminated_cases, mut truncated_cases, mut max_error) = (0, 0, 0.0f64);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let initial: [f64; 4] = floats(&case["initial_state"]).try_into().unwrap();
        let steps = case["steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{name}: no steps");

        let mut env = CartPole::new();
        env.reset(Some(0));
        env.set_state(initial);
        for (t, expected) in steps.iter().enumerate() {
            let action = expected["action"].as_u64().unwrap() as usize;
            let step = env.step(action).unwrap_or_else(|e| panic!("{name} step {t}: {e}"));
            let (reward, terminated, truncated) = (step.reward, step.terminated, step.truncated);
            let obs = step.obs.to_vec();
            let state = env.state();

            for (i, (got, want)) in state.iter().zip(floats(&expected["state"])).enumerate() {
                let error = (got - want).abs();
                max_error = max_error.max(error);
                assert!(error <= TOLERANCE, "{name} step {t} state[{i}]: {got} vs gymnasium {want}");
            }
            for (i, (got, want)) in obs.iter().zip(floats(&expected["obs"])).enumerate() {
                let error = (f64::from(*got) - want).abs();
                assert!(error <= TOLERANCE, "{name} step {t} obs[{i}]: {got} vs gymnasium {want}");
            }
            assert_eq!(reward, expected["reward"].as_f64().unwrap(), "{name} step {t} reward");
            assert_eq!(terminated, expected["terminated"], "{name} step {t} terminated");
            assert_eq!(truncated, expected["truncated"], "{name} step {t} truncated");

            let ended = terminated || truncated;
            assert!(!ended || t + 1 == steps.len(), "{name}: ended at step {t}, before the data");
            if ended {
                terminated_cases += usize::from(terminated);
                truncated_cases += usize::from(truncated);
                assert_eq!(env.step(action).unwrap_err(), EnvError::NeedsReset, "{name}");
            }
        }
    }
    assert!(terminated_cases >= 5, "only {terminated_cases} cases terminate");
    assert!(truncated_cases >= 1, "no case reaches the 500-step truncation");
    eprintln!("largest state difference from gymnasium: {max_error:e}");
}

#[test]
fn balanced_case_truncates_exactly_at_step_500() {
    let cases = cases();
    let case = cases
        .iter()
        .find(|c| c["name"] == "balanced_until_truncation")
        .expect("the generator records a balanced episode");
    let steps = case["steps"].as_array().unwrap();
    assert_eq!(steps.len() as u64, CartPole::MAX_EPISODE_STEPS);
    assert!(steps[..499].iter().all(|s| s["truncated"] == false && s["terminated"] == false));
    assert_eq!(steps[499]["truncated"], true);
}
