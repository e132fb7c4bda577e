#!/usr/bin/env python3
"""Converts one MediaPipe TFLite model to ONNX for the open pack, reproducibly.

    convert_tflite.py SOURCE.tflite OUT.onnx

Runs `tflite2onnx` 0.4.1 (pinned in scripts/reference/requirements.txt), then writes the graph's
initializers and value-info entries sorted by name: tflite2onnx emits them in an order that changes
from run to run (it iterates a set), and sorting is all it takes for the same input to give the
same bytes, so scripts/setup.sh can pin the result's SHA-256 (assets/models/packs/open/SHA256SUMS).
Nothing else in the graph is touched. Run by scripts/setup.sh; the kiosk never runs Python.
"""
import os
import sys
import tempfile

import onnx
import tflite2onnx


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, out = argv[1], argv[2]
    with tempfile.TemporaryDirectory() as scratch:
        raw = os.path.join(scratch, "raw.onnx")
        tflite2onnx.convert(source, raw)
        model = onnx.load(raw)
    for field in (model.graph.initializer, model.graph.value_info):
        entries = sorted(field, key=lambda entry: entry.name)
        del field[:]
        field.extend(entries)
    onnx.checker.check_model(model)
    onnx.save(model, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
