//! A node-scoring policy through the real binary (issue 10): trained on clusters drawn per
//! episode (8–32 nodes, padded), exported as format v2, evaluated without retraining on a
//! cluster of another size, and served by `infer` with states of several sizes in one session.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cluster-rl");

/// A tiny node-scoring run on `multi-resource-var` (the multi-resource family, 8–32 nodes per
/// episode, scalable observation), with short episodes.
const EXPERIMENT: &str = r#"
[experiment]
name = "ns"
seed = 1
[env]
scenario = "multi-resource-var"
reward = "attributed-jct"
workload.n_tasks = 60
[agent]
network = "node-scoring"
learning_rate = 1e-3
buffer_size = 5000
batch_size = 32
learning_starts = 300
hidden_sizes = [16, 16]
normalize_obs = true
dueling = true
reward_scale = 0.001
[training]
total_steps = 2000
num_envs = 2
eval_interval = 1000
eval_episodes = 3
checkpoint_interval = 1000
keep_checkpoints = 1
[evaluation]
episodes = 4
baselines = ["least-loaded"]
[logging]
runs_dir = "runs"
checkpoint_dir = "checkpoints"
"#;

/// [`EXPERIMENT`] with the packing signals in every node row.
fn with_packing() -> String {
    EXPERIMENT.replace(
        "reward = \"attributed-jct\"",
        "reward = \"attributed-jct\"\nobservation = { kind = \"scalable\", packing = true }",
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-rl-ns-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Serves `requests` (one JSON line each) with `cluster-rl infer --policy export` in one
/// session; asserts it exits 0 and returns the replies, one per line.
fn infer(export: &Path, requests: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let (o, replies) = crate::common::infer_session(export, requests);
    assert!(o.status.success(), "{}", stderr(&o));
    replies
}

/// Trains the tiny experiment in `dir` and exports its best policy to `dir/export`.
fn train_and_export(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("ns.toml"), EXPERIMENT).unwrap();
    let o = run(dir, &["train", "--config", "ns.toml"]);
    assert!(o.status.success(), "train: {}", stderr(&o));
    let o = run(dir, &["export", "--checkpoint", "checkpoints/ns/best", "--out", "export"]);
    assert!(o.status.success(), "export: {}", stderr(&o));
    assert!(stderr(&o).contains("node-scoring 13+5"), "{}", stderr(&o));
    dir.join("export")
}

/// A multi-resource cluster state of `n` nodes (3 resources), the task demanding 2 of each.
fn state(n: usize) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = (0..n)
        .map(|id| {
            let cap = [8.0, 16.0, 32.0][id % 3];
            serde_json::json!({"id": id, "capacity": [cap, cap, cap], "usage": [id as f64 % 4.0, 1.0, 0.0],
                "speed": 1.0, "up": true, "queued_tasks": 0, "queued_work": 0.0,
                "running_tasks": id % 3, "running_work": 10.0 * (id % 3) as f64})
        })
        .collect();
    serde_json::json!({"nodes": nodes, "task": {"id": 1, "priority": 1.0, "demands": [2.0, 2.0, 2.0], "size": 20.0}})
}

#[test]
fn a_node_scoring_policy_trains_on_drawn_sizes_transfers_and_serves_any_size() {
    let dir = scratch("e2e");
    let export = train_and_export(&dir);

    // Format v2, recording the architecture.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("policy.json")).unwrap()).unwrap();
    assert_eq!(meta["format_version"], 2);
    assert_eq!(meta["network"]["architecture"]["kind"], "node-scoring");
    assert_eq!(meta["network"]["n_actions"], 32, "trained on slots for the largest drawn cluster");

    // The same export on 48 and 120 nodes, without retraining.
    for (scenario, nodes) in [("multi-resource-x4", 48), ("multi-resource-x10", 120)] {
        let out = format!("report-{scenario}");
        let o =
            run(&dir, &["eval", "--checkpoint", "export", "--scenario", scenario, "--episodes", "2", "--out", &out]);
        assert!(o.status.success(), "eval on {scenario}: {}", stderr(&o));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&out).join("report.json")).unwrap()).unwrap();
        let text = report.to_string();
        assert!(text.contains(scenario) && text.contains("\"dqn\""), "{nodes} nodes: {text:.400}");
    }
    // The checkpoint itself, too.
    let o = run(
        &dir,
        &["eval", "--checkpoint", "checkpoints/ns/best", "--scenario", "multi-resource-x4", "--episodes", "2"],
    );
    assert!(o.status.success(), "eval of the checkpoint on 48 nodes: {}", stderr(&o));
    // A scenario whose rows mean something else is refused, naming both.
    let o = run(&dir, &["eval", "--checkpoint", "export", "--scenario", "park-lb", "--episodes", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("node-scoring policy reads scalable node rows"), "{}", stderr(&o));

    // `infer`: states of 3, 12 and 40 nodes and raw observations of 2 and 5 nodes in one
    // session; no nodes and half a node row are error replies, and the session goes on.
    let lines = [
        serde_json::json!({"id": 1, "state": state(3)}),
        serde_json::json!({"id": 2, "state": state(12)}),
        serde_json::json!({"id": 3, "state": state(40)}),
        serde_json::json!({"id": 4, "state": {"nodes": [], "task": state(1)["task"]}}),
        serde_json::json!({"id": 5, "observation": vec![0.5; 2 * 13 + 5]}),
        serde_json::json!({"id": 6, "observation": vec![0.5; 5 * 13 + 5], "mask": [false, false, true, false, false]}),
        serde_json::json!({"id": 7, "observation": vec![0.5; 13 + 7]}),
        serde_json::json!({"id": 8, "state": state(3)}),
    ];
    let replies = infer(&export, &lines);
    assert_eq!(replies.len(), 8, "{replies:?}");
    for (k, n) in [(0, 3), (1, 12), (2, 40), (4, 2), (5, 5), (7, 3)] {
        let q = replies[k]["q_values"].as_array().unwrap_or_else(|| panic!("reply {k}: {}", replies[k]));
        assert_eq!(q.len(), n, "reply {k}");
        assert!(replies[k]["node"].as_u64().unwrap() < n as u64);
    }
    assert_eq!(replies[5]["node"], 2, "the mask is obeyed");
    assert_eq!(
        replies[7],
        replies[0]
            .clone()
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("id".into(), 8.into());
                serde_json::Value::Object(o)
            })
            .unwrap(),
        "the same state, the same answer after larger ones"
    );
    let error =
        |k: usize| replies[k]["error"].as_str().unwrap_or_else(|| panic!("reply {k}: {}", replies[k])).to_owned();
    assert!(error(3).contains("no nodes"), "{}", error(3));
    assert!(error(6).contains("observation"), "{}", error(6));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With the packing signals (`packing = true`) the rows are 2 wider, the export records the
/// option, and a transfer evaluation encodes the other preset the way the policy was trained
/// (the presets themselves say `packing = false`).
#[test]
fn a_policy_with_the_packing_signals_exports_them_and_transfers_with_them() {
    let dir = scratch("packing");
    std::fs::write(dir.join("ns.toml"), with_packing()).unwrap();
    let o = run(&dir, &["train", "--config", "ns.toml", "--set", "training.total_steps=1000"]);
    assert!(o.status.success(), "train: {}", stderr(&o));
    let o = run(&dir, &["export", "--checkpoint", "checkpoints/ns/best", "--out", "export"]);
    assert!(stderr(&o).contains("node-scoring 15+5, scalable (packing) observation"), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export/policy.json")).unwrap()).unwrap();
    assert_eq!(meta["observation"]["packing"], true);
    for checkpoint in ["export", "checkpoints/ns/best"] {
        let o = run(&dir, &["eval", "--checkpoint", checkpoint, "--scenario", "multi-resource-x4", "--episodes", "2"]);
        assert!(o.status.success(), "{checkpoint} on 48 nodes: {}", stderr(&o));
    }
    // `--set` changes the preset (here its episode length: the report counts the tasks); it
    // needs `--scenario`, and a bad key is named.
    let o = run(
        &dir,
        &["eval", "--checkpoint", "export", "--scenario", "multi-resource-x4", "--set", "workload.n_tasks=30"]
            .into_iter()
            .chain(["--episodes", "2", "--out", "short"])
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("short/report.json")).unwrap()).unwrap();
    assert_eq!(report["policies"][0]["episodes"][0]["tasks"], 30);
    // The report names the preset only: source.json says what was changed in it.
    let source: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("short/source.json")).unwrap()).unwrap();
    assert_eq!(source["scenario"], "multi-resource-x4");
    assert_eq!(source["scenario_sets"], serde_json::json!(["workload.n_tasks=30"]));
    let o = run(&dir, &["eval", "--checkpoint", "export", "--set", "workload.n_tasks=30"]);
    assert!(!o.status.success() && stderr(&o).contains("--scenario"), "{}", stderr(&o));
    let o =
        run(&dir, &["eval", "--checkpoint", "export", "--scenario", "multi-resource-x4", "--set", "workload.nope=1"]);
    assert!(!o.status.success() && stderr(&o).contains("nope"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The shipped openb policy (trained on 32-node samples of Alibaba's node list) answers an
/// `infer` request about four real nodes of the node list, one of them CPU-only (0 GPUs), for
/// a real GPU pod of the pod list: it places the pod on a GPU node with a free GPU, never on the
/// CPU-only one.
#[test]
fn the_shipped_openb_policy_places_a_real_pod_on_real_nodes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let traces = root.join("experiments/traces/openb");
    let nodes = std::fs::read_to_string(traces.join("openb_node_list_all_node.csv")).unwrap();
    let row = |sn: &str| -> Vec<f64> {
        let line = nodes.lines().find(|l| l.starts_with(&format!("{sn},"))).unwrap();
        let f: Vec<&str> = line.split(',').collect();
        vec![f[1].parse::<f64>().unwrap() / 1000.0, f[2].parse::<f64>().unwrap() / 1024.0, f[3].parse().unwrap()]
    };
    // CPU-only 32 cores (half used); 8-GPU G2 (half used); 2-GPU T4 (90% used, 2 queued); idle
    // 2-GPU P100.
    let picks = [
        ("openb-node-0000", 0.5, 0),
        ("openb-node-0500", 0.5, 0),
        ("openb-node-1000", 0.9, 2),
        ("openb-node-0123", 0.0, 0),
    ];
    let state_nodes: Vec<serde_json::Value> = picks
        .iter()
        .enumerate()
        .map(|(id, &(sn, used, queued))| {
            let cap = row(sn);
            serde_json::json!({"id": id, "capacity": cap, "usage": cap.iter().map(|c| c * used).collect::<Vec<_>>(),
                "speed": 1.0, "up": true, "queued_tasks": queued, "queued_work": 3600.0 * queued as f64,
                "running_tasks": usize::from(used > 0.0), "running_work": if used > 0.0 { 3600.0 } else { 0.0 }})
        })
        .collect();
    assert_eq!(state_nodes[0]["capacity"], serde_json::json!([32.0, 256.0, 0.0]), "a CPU-only node");
    // openb-pod-0034: 16 cores, 32 GiB, one whole GPU, LS, ran 1,153 s.
    let request = serde_json::json!({"id": "openb-pod-0034", "state": {"nodes": state_nodes,
        "task": {"id": 34, "priority": 3.0, "demands": [16.0, 32.0, 1.0], "size": 1153.0}}});
    let reply = infer(&root.join("checkpoints/shipped-openb-export"), &[request]).remove(0);
    assert_eq!(reply["id"], "openb-pod-0034");
    assert_eq!(reply["q_values"].as_array().map(Vec::len), Some(4), "{reply}");
    // Node 0 lacks GPUs (masked) and node 2's free 0.2 GPU cannot start the pod now; the policy
    // takes one of the two nodes it fits on at once (the shipped one: the idle P100 node).
    let node = reply["node"].as_u64().unwrap();
    assert!(node == 1 || node == 3, "a GPU node with a free GPU: {reply}");
}

/// `completion = true` on park-lb (whose preset observation is Park's own): the experiment
/// switches the observation kind, the export records the option, and `infer` encodes a
/// `state` with the completion column exactly as the documented formula does: the Q-values of
/// the `state` equal those of the observation written here by hand.
#[test]
fn a_policy_with_the_completion_column_serves_states_as_encoded_by_hand() {
    let dir = scratch("completion");
    let text = EXPERIMENT.replace("scenario = \"multi-resource-var\"", "scenario = \"park-lb\"").replace(
        "reward = \"attributed-jct\"",
        "reward = \"attributed-jct\"\nobservation = { kind = \"scalable\", completion = true }",
    );
    std::fs::write(dir.join("ns.toml"), text).unwrap();
    let o = run(&dir, &["train", "--config", "ns.toml", "--set", "training.total_steps=1000"]);
    assert!(o.status.success(), "train: {}", stderr(&o));
    let o = run(&dir, &["export", "--checkpoint", "checkpoints/ns/best", "--out", "export"]);
    // Node row 3·1 + 4 + 1 = 8, task row 1 + 2 = 3.
    assert!(stderr(&o).contains("node-scoring 8+3, scalable (completion) observation"), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export/policy.json")).unwrap()).unwrap();
    let layout = &meta["observation"];
    assert_eq!((layout["kind"].as_str(), layout["completion"].as_bool()), (Some("scalable"), Some(true)), "{layout}");
    let (time_scale, mean_work, max_speed) = (
        layout["time_scale"].as_f64().unwrap(),
        layout["mean_work"].as_f64().unwrap(),
        layout["max_speed"].as_f64().unwrap(),
    );
    // Three servers: busy with a queue, idle, busy; a job of 200 work units.
    let servers = [(0.5, 300.0, 100.0), (1.05, 0.0, 0.0), (0.25, 0.0, 50.0)];
    let nodes: Vec<serde_json::Value> = servers
        .iter()
        .enumerate()
        .map(|(id, &(speed, queued, running))| {
            let busy = running > 0.0;
            serde_json::json!({"id": id, "capacity": [1.0], "usage": [if busy { 1.0 } else { 0.0 }], "speed": speed,
                "up": true, "queued_tasks": usize::from(queued > 0.0), "queued_work": queued,
                "running_tasks": usize::from(busy), "running_work": running})
        })
        .collect();
    let work = 200.0;
    let mut observation = Vec::new();
    for &(speed, queued, running) in &servers {
        let (outstanding, tasks) = (queued + running, f64::from(u8::from(queued > 0.0) + u8::from(running > 0.0)));
        let free = if running > 0.0 { 0.0 } else { 1.0 };
        // free, capacity, fit, outstanding time, tasks, speed, up, completion
        observation.extend([
            free,
            1.0,
            1.0,
            outstanding / speed / time_scale,
            tasks / 10.0,
            speed / max_speed,
            1.0,
            (outstanding + work) / speed / time_scale,
        ]);
    }
    observation.extend([1.0, work / mean_work, 1.0]);
    let observation: Vec<f32> = observation.iter().map(|&v| v as f32).collect();
    let requests = [
        serde_json::json!({"id": "state", "state": {"nodes": nodes, "task": {"id": 1, "priority": 1.0, "demands": [1.0], "size": work}}}),
        serde_json::json!({"id": "by-hand", "observation": observation}),
    ];
    let replies = infer(&dir.join("export"), &requests);
    let q = |k: usize| -> Vec<f64> {
        let q = replies[k]["q_values"].as_array().unwrap_or_else(|| panic!("reply {k}: {}", replies[k]));
        q.iter().map(|v| v.as_f64().unwrap()).collect()
    };
    assert_eq!(q(0).len(), 3);
    // The same f32 observation in both, so the same Q-values bit for bit.
    assert_eq!(q(0), q(1), "{replies:?}");
    assert_eq!(replies[0]["node"], replies[1]["node"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fits-now action filter on the shipped node-scoring checkpoint: `eval --action-filter` and
/// an export that records it (`export --action-filter`, as the shipped export does) choose alike
/// and differently from the plain policy, `source.json` and `summary` say so, `infer` with the filtered export places every task
/// on a node where it fits now whenever one exists (the best such node by the same Q-values), and
/// a policy whose observation has no packing columns is refused.
#[test]
fn the_fits_now_filter_through_eval_export_and_infer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = scratch("fits-now");
    let ckpt = root.join("checkpoints/shipped-node-scoring");
    let ckpt = ckpt.to_str().unwrap();
    let eval = |extra: &[&str], out: &str| {
        let mut args = vec!["eval", "--checkpoint", ckpt, "--scenario", "multi-resource-x1", "--episodes", "3"];
        args.extend(["--baselines", "tetris", "--out", out]);
        args.extend(extra);
        let o = run(&dir, &args);
        assert!(o.status.success(), "eval {extra:?}: {}", stderr(&o));
        (o, std::fs::read_to_string(dir.join(out).join("report.json")).unwrap())
    };
    let dqn_episodes = |report: &str| {
        let r: serde_json::Value = serde_json::from_str(report).unwrap();
        r["policies"].as_array().unwrap().iter().find(|p| p["name"] == "dqn").unwrap()["episodes"].clone()
    };
    let (_, plain) = eval(&[], "plain");
    let (o, filtered) = eval(&["--action-filter", "fits-now"], "filtered");
    assert!(stderr(&o).contains("action filter fits-now"), "{}", stderr(&o));
    assert_ne!(dqn_episodes(&plain), dqn_episodes(&filtered), "the filter changes the choices");
    let source: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("filtered/source.json")).unwrap()).unwrap();
    assert_eq!(source["action_filter"], "fits-now");
    assert!(!std::fs::read_to_string(dir.join("plain/source.json")).unwrap().contains("action_filter"));
    let o = run(&dir, &["summary", "plain", "filtered"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("[1] filtered: the learned policy with action filter `fits-now`"), "{text}");

    // An export that records the filter acts as `eval --action-filter` does; `none` undoes it.
    let o = run(&dir, &["export", "--checkpoint", ckpt, "--action-filter", "fits-now", "--out", "export"]);
    assert!(o.status.success() && stderr(&o).contains("action filter fits-now"), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export/policy.json")).unwrap()).unwrap();
    assert_eq!(meta["action_filter"], "fits-now");
    // policy.onnx computes the same Q-values; its description tells an ONNX client the filter
    // (3 resources: node rows of 15 values, "fits now" at 13).
    let onnx = std::fs::read(dir.join("export/policy.onnx")).unwrap();
    let says = |text: &str| onnx.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(says(
        "Action filter fits-now: before the argmax, keep only the valid nodes whose observation row has 1 at column 13 (of 15 per node"
    ));
    assert!(says("action_filter"));
    let export = dir.join("export");
    let export_str = export.to_str().unwrap();
    for (extra, out, want) in
        [(&[][..], "from-export", &filtered), (&["--action-filter", "none"][..], "undone", &plain)]
    {
        let mut args = vec!["eval", "--checkpoint", export_str, "--scenario", "multi-resource-x1", "--episodes", "3"];
        args.extend(["--baselines", "tetris", "--out", out]);
        args.extend(extra);
        let o = run(&dir, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let got = std::fs::read_to_string(dir.join(out).join("report.json")).unwrap();
        assert_eq!(dqn_episodes(&got), dqn_episodes(want), "{out}");
    }

    // infer: states of 12 nodes where the speed-1 and speed-2 nodes each have a short queue and
    // the slow big ones (speed 0.75) are free or partly used: the plain policy sends tasks to a
    // queue (the filter's reason to exist), the filtered export picks the best free node.
    let mut states: Vec<serde_json::Value> = Vec::new();
    for queued_work in [0.5, 2.0, 5.0, 10.0] {
        for size in [5.0, 20.0, 60.0] {
            for slow_used in [0.0, 16.0, 28.0] {
                let nodes: Vec<serde_json::Value> = (0..12)
                    .map(|id| {
                        let (cap, speed) = [(8.0, 1.0), (16.0, 1.0), (8.0, 2.0), (32.0, 0.75)][id % 4];
                        let (queued, used) = if speed == 0.75 { (0, slow_used) } else { (1, 0.0) };
                        serde_json::json!({"id": id, "capacity": [cap, cap, cap], "usage": [used, used, used],
                            "speed": speed, "up": true, "queued_tasks": queued, "queued_work": queued_work * queued as f64,
                            "running_tasks": 1, "running_work": 5.0})
                    })
                    .collect();
                let k = states.len();
                states.push(serde_json::json!({"id": k, "state": {"nodes": nodes,
                    "task": {"id": k, "priority": 1.0, "demands": [2.0, 2.0, 2.0], "size": size}}}));
            }
        }
    }
    let o = run(&dir, &["export", "--checkpoint", ckpt, "--out", "plain-export"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain_replies = infer(&dir.join("plain-export"), &states);
    let replies = infer(&export, &states);
    let mut differed = 0;
    for (k, (state, (r, p))) in states.iter().zip(replies.iter().zip(&plain_replies)).enumerate() {
        let nodes = state["state"]["nodes"].as_array().unwrap();
        let d = state["state"]["task"]["demands"][0].as_f64().unwrap();
        let fits: Vec<bool> = nodes
            .iter()
            .map(|n| {
                n["queued_tasks"] == 0 && n["usage"][0].as_f64().unwrap() + d <= n["capacity"][0].as_f64().unwrap()
            })
            .collect();
        assert!(fits.contains(&true) && fits.contains(&false), "state {k} has both kinds of node");
        assert_eq!(r["q_values"], p["q_values"], "state {k}: one network");
        let q: Vec<f64> = r["q_values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let best_fitting = (0..12).filter(|&i| fits[i]).max_by(|&a, &b| q[a].total_cmp(&q[b]).then(b.cmp(&a))).unwrap();
        assert_eq!(r["node"], best_fitting, "state {k}: {r}");
        differed += usize::from(r["node"] != p["node"]);
    }
    assert!(differed > 0, "the plain policy chose a node where the task would queue in none of the states");

    // A policy without the packing columns cannot filter: the error says what would.
    let o = run(
        &dir,
        &["eval", "--checkpoint", root.join("checkpoints/shipped-seed-case").to_str().unwrap()]
            .into_iter()
            .chain(["--episodes", "2", "--action-filter", "fits-now", "--out", "no"])
            .collect::<Vec<_>>(),
    );
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--action-filter") && stderr(&o).contains("packing = true"), "{}", stderr(&o));
    let o = run(&dir, &["eval", "--checkpoint", ckpt, "--action-filter", "fits"]);
    assert!(stderr(&o).contains("expected one of none, fits-now"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An agent trained under the fits-now filter (`agent.action_filter`) validates, evaluates and
/// exports with it; the filter on an observation without the packing columns is refused before
/// training, naming the key.
#[test]
fn an_agent_trained_under_the_fits_now_filter_keeps_it() {
    let dir = scratch("filter-train");
    std::fs::write(dir.join("ns.toml"), with_packing()).unwrap();
    let filter = ["--set", "agent.action_filter=\"fits-now\"", "--set", "training.total_steps=1000"];
    let o = run(&dir, &["train", "--config", "ns.toml"].into_iter().chain(filter).collect::<Vec<_>>());
    assert!(o.status.success(), "train: {}", stderr(&o));
    let o = run(&dir, &["export", "--checkpoint", "checkpoints/ns/best", "--out", "export"]);
    assert!(stderr(&o).contains("action filter fits-now"), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("export/policy.json")).unwrap()).unwrap();
    assert_eq!(meta["action_filter"], "fits-now");
    let o = run(&dir, &["eval", "--checkpoint", "checkpoints/ns/best", "--episodes", "2", "--out", "eval"]);
    assert!(o.status.success() && stderr(&o).contains("action filter fits-now"), "{}", stderr(&o));
    let source: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval/source.json")).unwrap()).unwrap();
    assert_eq!(source["action_filter"], "fits-now");

    std::fs::write(dir.join("plain.toml"), EXPERIMENT.replace("name = \"ns\"", "name = \"plain\"")).unwrap();
    let o = run(&dir, &["train", "--config", "plain.toml"].into_iter().chain(filter).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("agent.action_filter") && stderr(&o).contains("packing = true"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}
