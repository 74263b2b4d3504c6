//! The models this crate writes pass the real `onnx` checker (`full_check=True`) and compute,
//! in onnxruntime, the Q-values of a plain `f64` forward pass written here: for every
//! activation, with and without a dueling head, with and without observation normalisation
//! (clipping active on some features), on two architectures and a few hundred observations
//! each, some as large as the cluster loads of 1e5 that reach the network in practice.
//!
//! Needs a Python with `onnxruntime` and `onnx`: `$CLUSTER_RL_PYTHON`, or the workspace's
//! `.venv` (`python3 -m venv .venv && .venv/bin/pip install onnxruntime onnx`). Without one this
//! test fails, naming what to install. The Python side is `tests/ort_check.py`.

use std::f64::consts::SQRT_2;
use std::path::PathBuf;
use std::process::Command;

use policy_core::{Activation, Dense, Mlp, Normalization};
use policy_onnx::{BATCH_DIM, INPUT_NAME, ModelInfo, OUTPUT_NAME, PRODUCER_NAME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

pub(crate) const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ort_check.py");

/// Observations per model.
const ROWS: usize = 300;

/// `(obs_dim, hidden widths, n_actions)`.
const ARCHITECTURES: [(usize, &[usize], usize); 2] = [(11, &[16, 16], 10), (30, &[64, 64], 7)];

const ACTIVATIONS: [Activation; 5] =
    [Activation::Relu, Activation::Tanh, Activation::LeakyRelu, Activation::Gelu, Activation::Silu];

pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CLUSTER_RL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "onnxruntime interop: no Python with onnxruntime and onnx: set CLUSTER_RL_PYTHON or create {} \
         (python3 -m venv .venv && .venv/bin/pip install onnxruntime onnx)",
        venv.display()
    );
    venv
}

struct Case {
    name: String,
    mlp: Mlp,
    normalization: Option<Normalization>,
    obs_dim: usize,
    /// `[ROWS, obs_dim]`, row-major.
    obs: Vec<f32>,
    /// onnxruntime must reproduce the reference bit for bit (only float-exact networks).
    exact: bool,
}

/// PyTorch/burn's default initialisation range, so activations see realistic magnitudes.
pub(crate) fn random_dense(rng: &mut ChaCha8Rng, d_in: usize, d_out: usize) -> Dense {
    let bound = 1.0 / (d_in as f32).sqrt();
    // Row-major, weights then bias.
    let weight = (0..d_in * d_out).map(|_| rng.random_range(-bound..bound)).collect();
    let bias = (0..d_out).map(|_| rng.random_range(-bound..bound)).collect();
    Dense { d_in, d_out, weight, bias }
}

fn random_mlp(
    rng: &mut ChaCha8Rng,
    obs_dim: usize,
    hidden: &[usize],
    n_actions: usize,
    activation: Activation,
    dueling: bool,
) -> Mlp {
    let mut width = obs_dim;
    let hidden = hidden
        .iter()
        .map(|&w| {
            let layer = random_dense(rng, width, w);
            width = w;
            layer
        })
        .collect();
    Mlp {
        hidden,
        head: random_dense(rng, width, n_actions),
        value: dueling.then(|| random_dense(rng, width, 1)),
        activation,
    }
}

/// Feature `j` is a cluster load in `[0, 1e5]` when `j % 3 == 0`, a small signed value when
/// `j % 3 == 1`, and a count in `0..=100` otherwise.
fn observations(rng: &mut ChaCha8Rng, obs_dim: usize, normalised: bool) -> Vec<f32> {
    let mut obs = Vec::with_capacity(ROWS * obs_dim);
    for _ in 0..ROWS {
        for j in 0..obs_dim {
            obs.push(match j % 3 {
                // Unnormalised, a raw 1e5 load makes the f32 forward pass ill-conditioned
                // (hidden units near 1e5 cancel in the head), so 1e5 loads go through the
                // normalisation only; without it, loads stay in [0, 10].
                0 if normalised => rng.random_range(0.0..=1e5),
                0 => rng.random_range(0.0..=10.0),
                1 => rng.random_range(-3.0..3.0),
                _ => rng.random_range(0..=100) as f32,
            });
        }
    }
    obs
}

/// Statistics that fit [`observations`], except that every fourth load feature has a tiny
/// variance, so its normalised value (about ±1e6) is clipped.
fn normalization(rng: &mut ChaCha8Rng, obs_dim: usize) -> Normalization {
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    for j in 0..obs_dim {
        let (m, v) = match j % 3 {
            0 if j % 4 == 0 => (rng.random_range(4e4..6e4), 1e-2),
            0 => (rng.random_range(4e4..6e4), rng.random_range(2e4f64..3e4).powi(2)),
            1 => (rng.random_range(-0.5..0.5), rng.random_range(1.0..4.0)),
            _ => (50.0, 850.0),
        };
        mean.push(m);
        var.push(v);
    }
    Normalization { mean, var, epsilon: 1e-8, clip: 5.0 }
}

fn activate(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::LeakyRelu => {
            if x >= 0.0 {
                x
            } else {
                0.01 * x
            }
        }
        // libm's erf is musl's, accurate to about 1 ulp.
        Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / SQRT_2)),
        Activation::Silu => x / (1.0 + (-x).exp()),
    }
}

fn dense(layer: &Dense, x: &[f64]) -> Vec<f64> {
    (0..layer.d_out)
        .map(|o| {
            f64::from(layer.bias[o])
                + x.iter().enumerate().map(|(i, &xi)| xi * f64::from(layer.weight[i * layer.d_out + o])).sum::<f64>()
        })
        .collect()
}

/// Feature `j` of an observation before clipping: `(x − mean) / sqrt(var + epsilon)` in `f64`.
fn standardise(n: &Normalization, j: usize, x: f32) -> f64 {
    (f64::from(x) - n.mean[j]) / (n.var[j] + n.epsilon).sqrt()
}

/// The network as specified, accumulated in `f64`: normalisation in `f64` rounded to `f32`,
/// then every layer in `f64` from the `f32` parameters.
fn reference(mlp: &Mlp, normalization: Option<&Normalization>, row: &[f32]) -> Vec<f64> {
    let z: Vec<f32> = match normalization {
        Some(n) => row.iter().enumerate().map(|(j, &x)| standardise(n, j, x).clamp(-n.clip, n.clip) as f32).collect(),
        None => row.to_vec(),
    };
    let mut h: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
    for layer in &mlp.hidden {
        h = dense(layer, &h).into_iter().map(|v| activate(mlp.activation, v)).collect();
    }
    let advantage = dense(&mlp.head, &h);
    match &mlp.value {
        None => advantage,
        Some(value) => {
            let v = dense(value, &h)[0];
            let mean = advantage.iter().sum::<f64>() / advantage.len() as f64;
            advantage.iter().map(|a| a - mean + v).collect()
        }
    }
}

/// Index of the first largest value.
fn argmax(q: &[f64]) -> usize {
    (0..q.len()).fold(0, |best, i| if q[i] > q[best] { i } else { best })
}

fn cases() -> Vec<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(20240917);
    let mut cases = Vec::new();
    for (a, &(obs_dim, hidden, n_actions)) in ARCHITECTURES.iter().enumerate() {
        for activation in ACTIVATIONS {
            for dueling in [false, true] {
                for normalised in [false, true] {
                    let mlp = random_mlp(&mut rng, obs_dim, hidden, n_actions, activation, dueling);
                    let normalization = normalised.then(|| normalization(&mut rng, obs_dim));
                    let obs = observations(&mut rng, obs_dim, normalised);
                    let name = format!(
                        "arch{a}-{activation:?}{}{}",
                        if dueling { "-dueling" } else { "" },
                        if normalised { "-normalised" } else { "" }
                    );
                    cases.push(Case { name, mlp, normalization, obs_dim, obs, exact: false });
                }
            }
        }
    }
    // No hidden layer and an identity head: the Q-values are the normalised observations
    // themselves, which the double-precision normalisation must reproduce exactly.
    let obs_dim = 12;
    let eye = (0..obs_dim * obs_dim).map(|k| if k / obs_dim == k % obs_dim { 1.0 } else { 0.0 }).collect();
    let identity = Dense { d_in: obs_dim, d_out: obs_dim, weight: eye, bias: vec![0.0; obs_dim] };
    cases.push(Case {
        name: "identity-normalised".into(),
        mlp: Mlp { hidden: Vec::new(), head: identity, value: None, activation: Activation::Relu },
        normalization: Some(normalization(&mut rng, obs_dim)),
        obs_dim,
        obs: observations(&mut rng, obs_dim, true),
        exact: true,
    });
    cases
}

/// How many normalised features hit the clip bound and how many do not.
fn clip_counts(n: &Normalization, obs: &[f32]) -> (usize, usize) {
    let dim = n.mean.len();
    let clipped = obs.iter().enumerate().filter(|&(i, &x)| standardise(n, i % dim, x).abs() > n.clip).count();
    (clipped, obs.len() - clipped)
}

fn check_io(name: &str, report: &Value, obs_dim: usize, n_actions: usize) {
    let expect = json!({
        "ir_version": policy_onnx::IR_VERSION,
        "opset": [["", policy_onnx::OPSET_VERSION]],
        "producer": PRODUCER_NAME,
        "metadata": {"experiment": "onnxruntime-interop", "case": name},
        "input": {"name": INPUT_NAME, "type": "tensor(float)", "shape": [BATCH_DIM, obs_dim]},
        "output": {"name": OUTPUT_NAME, "type": "tensor(float)", "shape": [BATCH_DIM, n_actions]},
    });
    for (key, want) in expect.as_object().unwrap() {
        assert_eq!(&report[key], want, "{name}: {key}");
    }
}

/// Compares onnxruntime's rows with the reference; returns the largest |Δq| and the largest
/// |Δq| / max(1, |q|).
fn compare(case: &Case, rows: &[Value], failures: &mut Vec<String>) -> (f64, f64) {
    let (name, obs_dim) = (&case.name, case.obs_dim);
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for (r, got) in rows.iter().enumerate() {
        // onnxruntime's outputs are f32; rounding back to f32 also undoes serde_json's
        // last-bit parsing error (it does not parse floats exactly by default).
        let got: Vec<f64> = got.as_array().unwrap().iter().map(|v| f64::from(v.as_f64().unwrap() as f32)).collect();
        let want = reference(&case.mlp, case.normalization.as_ref(), &case.obs[r * obs_dim..(r + 1) * obs_dim]);
        assert_eq!(got.len(), want.len(), "{name} row {r}: number of Q-values");
        for (a, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let err = (g - w).abs();
            max_abs = max_abs.max(err);
            max_rel = max_rel.max(err / w.abs().max(1.0));
            if err > 1e-4 * w.abs().max(1.0) || (case.exact && g != w) {
                failures.push(format!("{name} row {r} action {a}: onnxruntime {g}, reference {w}"));
            }
        }
        if argmax(&got) != argmax(&want) {
            failures.push(format!(
                "{name} row {r}: greedy action {} in onnxruntime, {} in the reference",
                argmax(&got),
                argmax(&want)
            ));
        }
    }
    (max_abs, max_rel)
}

#[test]
fn onnxruntime_matches_the_reference_forward_pass() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("policy-onnx-ort-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let cases = cases();
    let mut manifest = Vec::new();
    for case in &cases {
        let model = dir.join(format!("{}.onnx", case.name));
        let obs = dir.join(format!("{}.obs", case.name));
        let info = ModelInfo {
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: format!("interop test case {}", case.name),
            metadata: vec![("experiment".into(), "onnxruntime-interop".into()), ("case".into(), case.name.clone())],
        };
        policy_onnx::write(&model, &policy_core::Network::Mlp(case.mlp.clone()), case.normalization.as_ref(), &info)
            .unwrap();
        std::fs::write(&obs, case.obs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        manifest.push(json!({
            "name": case.name,
            "model": model,
            "obs": obs,
            "rows": ROWS,
            "obs_dim": case.obs_dim,
        }));
    }
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&json!({ "cases": manifest })).unwrap()).unwrap();

    let out = Command::new(&python).arg(SCRIPT).arg(&manifest_path).output().unwrap_or_else(|e| {
        panic!("onnxruntime interop: cannot run {}: {e}", python.display());
    });
    assert!(
        out.status.success(),
        "onnxruntime interop: {SCRIPT} failed ({}); does {} have onnxruntime and onnx \
         (.venv/bin/pip install onnxruntime onnx)?\nstderr:\n{}",
        out.status,
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("ort_check.py prints JSON");

    let mut failures = Vec::new();
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for case in &cases {
        let got = &report["cases"][&case.name];
        check_io(&case.name, got, case.obs_dim, case.mlp.head.d_out);
        if let Some(n) = &case.normalization {
            let (clipped, unclipped) = clip_counts(n, &case.obs);
            assert!(clipped > 0 && unclipped > 0, "{}: {clipped} clipped, {unclipped} unclipped features", case.name);
        }
        let batch = got["q_values"].as_array().unwrap();
        assert_eq!(batch.len(), ROWS, "{}: rows", case.name);
        let single = got["q_single"].as_array().unwrap();
        for rows in [batch, single] {
            let (a, r) = compare(case, rows, &mut failures);
            max_abs = max_abs.max(a);
            max_rel = max_rel.max(r);
        }
    }
    println!(
        "onnx {} / onnxruntime {}: {} models x {ROWS} observations, max |dq| = {max_abs:.3e}, \
         max |dq|/max(1,|q|) = {max_rel:.3e}",
        report["onnx"].as_str().unwrap_or("?"),
        report["onnxruntime"].as_str().unwrap_or("?"),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches (models in {}), first ones:\n{}",
        failures.len(),
        dir.display(),
        failures[..failures.len().min(20)].join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
