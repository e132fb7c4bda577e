#!/usr/bin/env python3
"""onnxruntime side of `scripts/bench.sh face`.

Reads the tensors and manifest that `examples/bench_face.rs` wrote to DIR and runs each model in
onnxruntime, single-threaded, on exactly those inputs: median of N runs after two warm-ups, at
the graph optimisation levels ENABLE_EXTENDED and ENABLE_ALL (ENABLE_ALL makes fr_feature about 3x
slower); the faster level is the reference. Prints JSON.

usage: scripts/bench_face_ort.py DIR [ITERATIONS]
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def median_ms(n, f):
    f()
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return times[len(times) // 2]


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(f"{directory}/manifest.json") as f:
        manifest = json.load(f)
    levels = {
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    result = {"onnxruntime": ort.__version__, "iterations": n, "models": {}}
    for entry in manifest:
        x = np.fromfile(f"{directory}/{entry['role']}.f32", dtype="<f4").reshape(entry["shape"])
        per_level = {}
        for name, level in levels.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = level
            session = ort.InferenceSession(
                entry["model"], options, providers=["CPUExecutionProvider"]
            )
            feed = {session.get_inputs()[0].name: x}
            per_level[name] = median_ms(n, lambda: session.run(None, feed))
        best = min(per_level, key=per_level.get)
        result["models"][entry["role"]] = {
            "ms": per_level[best],
            "level": best,
            "per_level_ms": per_level,
        }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
