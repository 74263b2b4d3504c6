"""The Python side of tests/rliable.rs: evaluates rliable on the cases the Rust test sends.

Reads one JSON object on stdin, writes one on stdout. Exits with status 3 and a message on
stderr when rliable (or numpy/scipy/arch) cannot be imported.

Lower-is-better statistics are rliable's on negated scores (and negated thresholds):
`sign` is -1 for those.

Bootstrap cases either
- carry `indices`: the resampling indices the Rust `Resampler` drew, fed to rliable by replacing
  `np.random.choice` (which `StratifiedBootstrap.update_indices` calls once per replicate and
  input array), so both sides see the same resamples; or
- carry `seed`: rliable draws its own resamples after `np.random.seed(seed)` (rliable ignores
  its `random_state` argument and uses numpy's global stream).
"""
import json
import sys
from importlib import metadata

try:
    import numpy as np
    import scipy.stats  # noqa: F401
    import arch  # noqa: F401
    from rliable import library as rly
    from rliable import metrics
except Exception as exc:  # noqa: BLE001 - any import failure means "not installed properly"
    print(f"IMPORT FAILED: {exc!r}", file=sys.stderr)
    sys.exit(3)

_real_choice = np.random.choice
_queue = []
_next = 0


def _shared_choice(a, size=None, replace=True, p=None):
    global _next
    if _next >= len(_queue):
        raise AssertionError("rliable drew more resamples than the Rust side")
    arr = _queue[_next]
    _next += 1
    if not replace or p is not None or arr.shape != tuple(size) or int(np.max(arr)) >= a:
        raise AssertionError(f"unexpected np.random.choice({a}, {size}, {replace}, {p}) for {arr.shape}")
    return arr


def _setup_stream(case):
    global _queue, _next
    if "indices" in case:
        _queue = [np.array(a, dtype=np.int64) for a in case["indices"]]
        _next = 0
        np.random.choice = _shared_choice
    else:
        _queue, _next = [], 0
        np.random.choice = _real_choice
        np.random.seed(case["seed"])


def _check_stream_consumed(case):
    if "indices" in case and _next != len(_queue):
        raise AssertionError(f"rliable drew {_next} resamples, the Rust side {len(_queue)}")


def _aggregate_func(stats, gap_sign, gamma):
    def func(s):
        out = []
        for name in stats:
            if name == "mean":
                out.append(metrics.aggregate_mean(s))
            elif name == "median":
                out.append(metrics.aggregate_median(s))
            elif name == "iqm":
                out.append(metrics.aggregate_iqm(s))
            elif name == "gap":
                out.append(metrics.aggregate_optimality_gap(gap_sign * s, gap_sign * gamma))
        return np.array(out)

    return func


def _interval(point, ci):
    ci = np.asarray(ci).reshape(2, -1)
    return {"point": np.atleast_1d(point).astype(float).tolist(), "low": ci[0].tolist(), "high": ci[1].tolist()}


def bootstrap_case(case):
    _setup_stream(case)
    kind, reps, method = case["kind"], case["reps"], case["method"]
    if kind == "aggregate":
        s = np.array(case["scores"], dtype=float)
        func = _aggregate_func(case["stats"], case["gap_sign"], case["gamma"])
        p, ci = rly.get_interval_estimates({"k": s}, func, method=method, reps=reps)
    elif kind == "poi":
        sign = case["sign"]
        x, y = sign * np.array(case["x"], dtype=float), sign * np.array(case["y"], dtype=float)
        p, ci = rly.get_interval_estimates({"k": [x, y]}, metrics.probability_of_improvement, method=method, reps=reps)
    elif kind == "profile":
        sign = case["sign"]
        s, taus = sign * np.array(case["scores"], dtype=float), sign * np.array(case["taus"], dtype=float)
        p, ci = rly.create_performance_profile(
            {"k": s}, taus, use_score_distribution=case["run_scores"], method=method, reps=reps
        )
    else:
        raise ValueError(kind)
    _check_stream_consumed(case)
    np.random.choice = _real_choice
    return _interval(p["k"], ci["k"])


def point_case(d):
    x, y = np.array(d["x"], dtype=float), np.array(d["y"], dtype=float)
    gamma, taus = d["gamma"], np.array(d["taus"], dtype=float)
    return {
        "mean": float(metrics.aggregate_mean(x)),
        "median": float(metrics.aggregate_median(x)),
        "iqm": float(metrics.aggregate_iqm(x)),
        "gap_higher": float(metrics.aggregate_optimality_gap(x, gamma)),
        "gap_lower": float(metrics.aggregate_optimality_gap(-x, -gamma)),
        "poi_higher": float(metrics.probability_of_improvement(x, y)),
        "poi_lower": float(metrics.probability_of_improvement(-x, -y)),
        "profile_runs_higher": rly.score_distributions(x, taus).tolist(),
        "profile_runs_lower": rly.score_distributions(-x, -taus).tolist(),
        "profile_means_higher": rly.average_score_distributions(x, taus).tolist(),
        "profile_means_lower": rly.average_score_distributions(-x, -taus).tolist(),
    }


def main():
    inp = json.load(sys.stdin)
    out = {
        "versions": {"python": sys.version.split()[0]}
        | {name: metadata.version(name) for name in ("rliable", "numpy", "scipy", "arch", "pandas")},
        "points": [point_case(d) for d in inp["points"]],
        "bootstrap": [bootstrap_case(c) for c in inp["bootstrap"]],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
