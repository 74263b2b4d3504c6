"""Runs the ONNX models that `onnxruntime.rs` wrote through the real onnx checker and onnxruntime.

Usage: ort_check.py MANIFEST

MANIFEST is a JSON file {"cases": [{"name", "model", "obs", "rows", "obs_dim"}, ...]}: "model" is
an .onnx path, "obs" a file of rows * obs_dim little-endian float32 observations (row-major).
A node-scoring case has "kind": "node-scoring" and, instead of "obs" and "obs_dim", "nodes" (a
file of rows * n_nodes * node_width float32 node rows), "task" (rows * task_width task rows),
"n_nodes", "node_width" and "task_width"; its "input" is reported as a list of both inputs.
For each case the model must pass `onnx.checker.check_model(full_check=True)` (which includes
strict shape inference) and load in onnxruntime's CPU provider; the script then runs the whole
batch at once, and the first rows one at a time (batch size 1, to exercise the symbolic batch
dimension). It prints one JSON object on stdout; the Rust test compares the Q-values with its
own forward pass. Any failure exits non-zero with the case name on stderr.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

# Rows also run one at a time.
SINGLE_ROWS = 5


def describe(arg):
    # onnxruntime reports a symbolic dimension as its name and a fixed one as an int.
    return {"name": arg.name, "type": arg.type, "shape": list(arg.shape)}


def run_case(case):
    model = onnx.load(case["model"])
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(case["model"], providers=["CPUExecutionProvider"])
    (out,) = session.get_outputs()
    if case.get("kind") == "node-scoring":
        # Two inputs: node rows [rows, n_nodes, node_width] and the task row [rows, task_width].
        nodes_in, task_in = session.get_inputs()
        rows, n, w, t = case["rows"], case["n_nodes"], case["node_width"], case["task_width"]
        nodes = np.fromfile(case["nodes"], dtype="<f4").reshape(rows, n, w)
        task = np.fromfile(case["task"], dtype="<f4").reshape(rows, t)
        feed = lambda sl: {nodes_in.name: nodes[sl], task_in.name: task[sl]}
        inputs = [describe(nodes_in), describe(task_in)]
    else:
        (inp,) = session.get_inputs()
        obs = np.fromfile(case["obs"], dtype="<f4").reshape(case["rows"], case["obs_dim"])
        feed = lambda sl: {inp.name: obs[sl]}
        inputs = describe(inp)
    rows = case["rows"]
    q = session.run([out.name], feed(slice(0, rows)))[0]
    single = [session.run([out.name], feed(slice(i, i + 1)))[0][0] for i in range(min(SINGLE_ROWS, rows))]
    meta = session.get_modelmeta()
    return {
        "ir_version": model.ir_version,
        "opset": [[o.domain, o.version] for o in model.opset_import],
        "producer": meta.producer_name,
        "metadata": meta.custom_metadata_map,
        "input": inputs,
        "output": describe(out),
        # float32 -> float64 is exact, and json writes float64 round-trip exactly.
        "q_values": q.astype(np.float64).tolist(),
        "q_single": [row.astype(np.float64).tolist() for row in single],
    }


def main():
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    result = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "cases": {}}
    for case in manifest["cases"]:
        try:
            result["cases"][case["name"]] = run_case(case)
        except Exception as e:  # name the case: the traceback alone does not say which model failed
            sys.exit(f"ort_check: {case['name']} ({case['model']}): {type(e).__name__}: {e}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
