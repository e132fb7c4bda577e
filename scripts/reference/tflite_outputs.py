#!/usr/bin/env python3
"""Reference outputs of a TFLite model from Google's own runtime (`ai-edge-litert`, in the
test-time venv made by scripts/reference-venv.sh): for each input PNG, every output tensor.

    tflite_outputs.py MODEL.tflite MEAN SCALE INPUT.png... > outputs.json

Each PNG must have the model's input size; pixels become (value - MEAN) * SCALE, RGB, NHWC.
Prints {"runtime": ..., "outputs": {"INPUT.png": {"OUTPUT NAME": [floats...], ...}, ...}}.
Used by the golden-vector tests (tests/kiosk/mediapipe_reference.rs); never at run time.
"""
import json
import sys

import dlib  # only to read the PNGs, as the dlib golden tests do
import numpy as np
from ai_edge_litert import interpreter as litert


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    model, mean, scale, paths = argv[1], float(argv[2]), float(argv[3]), argv[4:]
    runner = litert.Interpreter(model_path=model, num_threads=1)
    runner.allocate_tensors()
    (given,) = runner.get_input_details()
    _, height, width, _ = given["shape"]
    out = {}
    for path in paths:
        pixels = np.asarray(dlib.load_rgb_image(path), dtype=np.float32)
        if pixels.shape[:2] != (height, width):
            print(f"{path}: the model takes {width}x{height}, this is {pixels.shape[1]}x{pixels.shape[0]}", file=sys.stderr)
            return 1
        runner.set_tensor(given["index"], ((pixels - mean) * scale)[np.newaxis, ...])
        runner.invoke()
        out[path] = {
            detail["name"]: [float(v) for v in runner.get_tensor(detail["index"]).ravel()]
            for detail in runner.get_output_details()
        }
    json.dump({"runtime": "ai-edge-litert", "outputs": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
