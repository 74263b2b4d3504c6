//! The node-scoring model in onnxruntime: one model per network serves every cluster size (the
//! node axis is symbolic), passes the real `onnx` checker (`full_check=True`), and computes the
//! Rust runtime's Q-values (`policy::Runtime`) within 1e-4 with the same greedy node, at 3, 12,
//! 100 and 1000 nodes, with normalisation and dueling each on and off.
//!
//! Needs a Python with `onnxruntime` and `onnx`, found as `onnxruntime.rs` finds it.

use std::process::Command;

use policy_core::{Activation, Dense, Network, NodeScoring, Normalization};
use policy_onnx::{BATCH_DIM, ModelInfo, NODES_DIM, NODES_INPUT_NAME, OUTPUT_NAME, TASK_INPUT_NAME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::onnxruntime::{SCRIPT, python, random_dense};

/// Node and task row widths: the full layout's with 3 resources.
const NODE_WIDTH: usize = 7;
const TASK_WIDTH: usize = 5;

/// Node counts each model is run at, and the rows (decisions) per count.
const NODE_COUNTS: [(usize, usize); 4] = [(3, 40), (12, 40), (100, 20), (1000, 6)];

/// A random node-scoring network, hidden `[32, 24, 16]` (embedding 32 → 24, scoring 16);
/// the bias-free halves have zero bias, as `NodeScoring::validate` requires.
fn random_net(rng: &mut ChaCha8Rng, activation: Activation, dueling: bool) -> NodeScoring {
    let mut zero_bias = |d_in: usize, d_out: usize| Dense { bias: vec![0.0; d_out], ..random_dense(rng, d_in, d_out) };
    let (embed_task, score_pool) = (zero_bias(TASK_WIDTH, 32), zero_bias(48, 16));
    NodeScoring {
        embed_node: random_dense(rng, NODE_WIDTH, 32),
        embed_task,
        embed: vec![random_dense(rng, 32, 24)],
        score_node: random_dense(rng, 24, 16),
        score_pool,
        head: random_dense(rng, 16, 1),
        value: dueling.then(|| random_dense(rng, 48, 1)),
        activation,
    }
}

/// Statistics of one node row and the task row; feature 0 of a node has a tiny variance, so
/// its normalised value is clipped on most nodes.
fn normalization(rng: &mut ChaCha8Rng) -> Normalization {
    let width = NODE_WIDTH + TASK_WIDTH;
    let mean = (0..width).map(|j| if j == 0 { 50.0 } else { rng.random_range(0.0..2.0) }).collect();
    let var = (0..width).map(|j| if j == 0 { 1e-2 } else { rng.random_range(0.5..3.0) }).collect();
    Normalization { mean, var, epsilon: 1e-8, clip: 5.0 }
}

/// `rows` observations of `n` nodes, row-major (`n` node rows, then the task row each).
fn observations(rng: &mut ChaCha8Rng, rows: usize, n: usize, normalised: bool) -> Vec<f32> {
    let dim = n * NODE_WIDTH + TASK_WIDTH;
    (0..rows * dim)
        .map(|k| {
            let j = k % dim;
            // Feature 0 of a node is a load around the statistics' 50 when normalised.
            if normalised && j < n * NODE_WIDTH && j.is_multiple_of(NODE_WIDTH) {
                rng.random_range(0.0..100.0)
            } else {
                rng.random_range(0.0..3.0)
            }
        })
        .collect()
}

fn argmax(q: &[f64]) -> usize {
    (0..q.len()).fold(0, |best, i| if q[i] > q[best] { i } else { best })
}

#[test]
fn onnxruntime_matches_the_node_scoring_runtime_at_any_node_count() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("policy-onnx-ort-ns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1010);

    // (case name, runtime Q-values [rows, n]) per model and node count.
    let mut expected: Vec<(String, usize, Vec<f32>)> = Vec::new();
    let mut manifest = Vec::new();
    let activations = [Activation::Relu, Activation::Gelu, Activation::Tanh, Activation::Silu];
    for (k, (dueling, normalised)) in
        [(false, false), (true, false), (false, true), (true, true)].into_iter().enumerate()
    {
        let activation = activations[k];
        let net = Network::NodeScoring(random_net(&mut rng, activation, dueling));
        let norm = normalised.then(|| normalization(&mut rng));
        let model_name = format!(
            "ns-{activation:?}{}{}",
            if dueling { "-dueling" } else { "" },
            if normalised { "-normalised" } else { "" }
        );
        let model = dir.join(format!("{model_name}.onnx"));
        let info = ModelInfo { producer_version: env!("CARGO_PKG_VERSION").into(), ..ModelInfo::default() };
        policy_onnx::write(&model, &net, norm.as_ref(), &info).unwrap();
        let mut runtime = policy::Runtime::from_network(&net, norm.as_ref()).unwrap();
        for (n, rows) in NODE_COUNTS {
            let name = format!("{model_name}-n{n}");
            let obs = observations(&mut rng, rows, n, normalised);
            let dim = n * NODE_WIDTH + TASK_WIDTH;
            let (mut nodes, mut task, mut q) = (Vec::new(), Vec::new(), Vec::new());
            for row in obs.chunks_exact(dim) {
                nodes.extend_from_slice(&row[..n * NODE_WIDTH]);
                task.extend_from_slice(&row[n * NODE_WIDTH..]);
                q.extend_from_slice(runtime.q_values(row).unwrap());
            }
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            let (nodes_path, task_path) = (dir.join(format!("{name}.nodes")), dir.join(format!("{name}.task")));
            std::fs::write(&nodes_path, bytes(&nodes)).unwrap();
            std::fs::write(&task_path, bytes(&task)).unwrap();
            manifest.push(json!({
                "name": name, "kind": "node-scoring", "model": model, "nodes": nodes_path, "task": task_path,
                "rows": rows, "n_nodes": n, "node_width": NODE_WIDTH, "task_width": TASK_WIDTH,
            }));
            expected.push((name, n, q));
        }
    }
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&json!({ "cases": manifest })).unwrap()).unwrap();
    let out = Command::new(&python).arg(SCRIPT).arg(&manifest_path).output().unwrap();
    assert!(
        out.status.success(),
        "onnxruntime interop: {SCRIPT} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("ort_check.py prints JSON");

    let mut failures = Vec::new();
    let mut max_rel = 0.0f64;
    for (name, n, want) in &expected {
        let got = &report["cases"][name];
        assert_eq!(
            got["input"],
            json!([
                {"name": NODES_INPUT_NAME, "type": "tensor(float)", "shape": [BATCH_DIM, NODES_DIM, NODE_WIDTH]},
                {"name": TASK_INPUT_NAME, "type": "tensor(float)", "shape": [BATCH_DIM, TASK_WIDTH]},
            ]),
            "{name}"
        );
        assert_eq!(
            got["output"],
            json!({"name": OUTPUT_NAME, "type": "tensor(float)", "shape": [BATCH_DIM, NODES_DIM]})
        );
        let batch = got["q_values"].as_array().unwrap();
        let single = got["q_single"].as_array().unwrap();
        for rows in [batch, single] {
            for (r, row) in rows.iter().enumerate() {
                let g: Vec<f64> =
                    row.as_array().unwrap().iter().map(|v| f64::from(v.as_f64().unwrap() as f32)).collect();
                let w: Vec<f64> = want[r * n..(r + 1) * n].iter().map(|&v| f64::from(v)).collect();
                assert_eq!(g.len(), *n, "{name} row {r}: Q-values per node");
                for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                    let rel = (a - b).abs() / b.abs().max(1.0);
                    max_rel = max_rel.max(rel);
                    if rel > 1e-4 {
                        failures.push(format!("{name} row {r} node {i}: onnxruntime {a}, runtime {b}"));
                    }
                }
                if argmax(&g) != argmax(&w) {
                    failures.push(format!(
                        "{name} row {r}: greedy node {} in onnxruntime, {} in the runtime",
                        argmax(&g),
                        argmax(&w)
                    ));
                }
            }
        }
    }
    println!("node-scoring: {} cases, max |dq|/max(1,|q|) = {max_rel:.3e}", expected.len());
    assert!(
        failures.is_empty(),
        "{} mismatches (models in {}):\n{}",
        failures.len(),
        dir.display(),
        failures[..failures.len().min(20)].join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
