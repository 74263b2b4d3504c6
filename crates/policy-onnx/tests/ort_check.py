"""Runs the ONNX models that `onnxruntime.rs` wrote through the real onnx checker and onnxruntime.

Usage: ort_check.py MANIFEST

MANIFEST is a JSON file {"cases": [{"name", "model", "obs", "rows", "obs_dim"}, ...]}: "model" is
an .onnx path, "obs" a file of rows * obs_dim little-endian float32 observations (row-major).
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
    obs = np.fromfile(case["obs"], dtype="<f4").reshape(case["rows"], case["obs_dim"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    q = session.run([out.name], {inp.name: obs})[0]
    single = [session.run([out.name], {inp.name: obs[i : i + 1]})[0][0] for i in range(min(SINGLE_ROWS, len(obs)))]
    meta = session.get_modelmeta()
    return {
        "ir_version": model.ir_version,
        "opset": [[o.domain, o.version] for o in model.opset_import],
        "producer": meta.producer_name,
        "metadata": meta.custom_metadata_map,
        "input": describe(inp),
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
