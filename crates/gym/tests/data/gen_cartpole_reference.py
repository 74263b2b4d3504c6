"""Records CartPole-v1 reference trajectories from Gymnasium for tests/cartpole_reference.rs.

Each case sets an exact initial state (``env.unwrapped.state``) right after ``reset`` and applies
an action sequence until the episode terminates, is truncated, or the sequence runs out. After
every step it records the action, the float64 state, the float32 observation, the reward and both
flags. The Rust test replays the actions from the same state and compares.

Regenerate (from the repository root, with a virtual environment outside the repo):

    python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install gymnasium numpy
    /tmp/gymvenv/bin/python crates/gym/tests/data/gen_cartpole_reference.py
"""

import json
import pathlib

import gymnasium as gym
import numpy as np

OUT = pathlib.Path(__file__).with_name("cartpole_reference.json")


def balance(obs):
    """A bang-bang controller that keeps the pole up (and the cart near the centre)."""
    x, x_dot, theta, theta_dot = (float(v) for v in obs)
    return int(0.1 * x + 0.3 * x_dot + 4.0 * theta + theta_dot > 0.0)


def record(name, state, policy, max_steps=600):
    """Runs one case; ``policy(t, obs)`` returns the action for step ``t``, or None to stop."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array(state, dtype=np.float64)
    obs = np.array(state, dtype=np.float32)
    steps = []
    for t in range(max_steps):
        action = policy(t, obs)
        if action is None:
            break
        obs, reward, terminated, truncated, _ = env.step(action)
        steps.append(
            {
                "action": action,
                "state": [float(v) for v in env.unwrapped.state],
                "obs": [float(v) for v in obs],
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
            }
        )
        if terminated or truncated:
            break
    env.close()
    return {"name": name, "initial_state": [float(v) for v in state], "steps": steps}


def fixed(actions):
    return lambda t, _obs: actions[t] if t < len(actions) else None


def constant(action):
    return lambda _t, _obs: action


def main():
    rng = np.random.default_rng(12345)
    random_actions = [int(a) for a in rng.integers(0, 2, size=200)]
    cases = [
        record("rest_alternating", [0.0, 0.0, 0.0, 0.0], fixed([1, 0] * 15)),
        record("small_always_right", [0.01, -0.02, 0.03, -0.04], constant(1)),
        record("small_always_left", [-0.04, 0.03, -0.02, 0.01], constant(0)),
        record("cart_leaves_right", [2.3, 0.5, 0.0, 0.0], constant(1)),
        record("cart_leaves_left", [-2.35, -1.0, 0.01, 0.1], constant(0)),
        record("pole_falls_right", [0.0, 0.0, 0.19, 0.5], constant(0)),
        record("pole_falls_left", [0.0, 0.0, -0.19, -0.5], constant(1)),
        record("random_actions", [0.02, 0.1, -0.03, -0.2], fixed(random_actions)),
        record("fast_mixed", [0.5, 2.0, -0.1, 3.0], fixed([0, 0, 1, 0, 1, 1, 0, 1] * 10)),
        record("balanced_until_truncation", [0.01, 0.0, -0.01, 0.0], lambda _t, obs: balance(obs)),
    ]
    # One step per line: compact, yet a regeneration diffs readably.
    lines = ["{", f' "gymnasium_version": {json.dumps(gym.__version__)},', ' "env": "CartPole-v1",', ' "cases": [']
    for i, case in enumerate(cases):
        lines.append(f'  {{"name": {json.dumps(case["name"])}, "initial_state": {json.dumps(case["initial_state"])}, "steps": [')
        lines.append(",\n".join("   " + json.dumps(step) for step in case["steps"]))
        lines.append("  ]}" + ("," if i + 1 < len(cases) else ""))
    lines += [" ]", "}"]
    OUT.write_text("\n".join(lines) + "\n")
    for case in cases:
        last = case["steps"][-1]
        print(f"{case['name']}: {len(case['steps'])} steps, terminated={last['terminated']} truncated={last['truncated']}")


if __name__ == "__main__":
    main()
