#!/usr/bin/env python3
"""Writes the seeds of the `policy_export` fuzz target into corpus/policy_export/: the shipped
exports' policy.json with a tiny network (so that inputs stay a few KiB), and matching
policy.safetensors files. Input layout: u32 little-endian length of policy.json, policy.json,
policy.safetensors."""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


def safetensors(tensors):
    header, data = {"__metadata__": {"format": "cluster-rl-policy"}}, b""
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        values = b"".join(struct.pack("<f", ((i * 7919) % 17 - 8) / 16) for i in range(n))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(values)]}
        data += values
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tiny(name, hidden, activation, dueling):
    meta = json.loads((HERE / f"../checkpoints/shipped-{name}-export/policy.json").read_text())
    net = meta["network"]
    net.update(hidden_sizes=hidden, activation=activation, dueling=dueling)
    tensors, width = [], net["obs_dim"]
    for i, h in enumerate(hidden):
        tensors += [(f"hidden.{i}.weight", [width, h]), (f"hidden.{i}.bias", [h])]
        width = h
    tensors += [("head.weight", [width, net["n_actions"]]), ("head.bias", [net["n_actions"]])]
    if dueling:
        tensors += [("value.weight", [width, 1]), ("value.bias", [1])]
    j = json.dumps(meta, indent=1).encode()
    out = HERE / "corpus/policy_export" / f"tiny-{name}"
    out.write_bytes(struct.pack("<I", len(j)) + j + safetensors(tensors))


tiny("park-lb", [4], "relu", False)
tiny("seed-case", [3, 2], "tanh", True)
