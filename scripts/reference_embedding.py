#!/usr/bin/env python3
"""Independent reference embedding for the test fixture.

Runs fr_feature.onnx in onnxruntime (not tract) on an already aligned 112x112 RGB PNG with the
same normalisation the engine uses ((x - 127) / 128, RGB, NCHW), L2-normalises the 512-d output
and writes it as JSON next to the PNG. Requires: pip install onnxruntime numpy pillow

usage: scripts/reference_embedding.py MODEL.onnx ALIGNED.png OUT.json
"""
import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, png_path, out_path = sys.argv[1:]
    with open(model_path, "rb") as f:
        model_sha256 = hashlib.sha256(f.read()).hexdigest()
    img = Image.open(png_path).convert("RGB")
    if img.size != (112, 112):
        print(f"expected a 112x112 aligned face, got {img.size}", file=sys.stderr)
        return 1
    x = (np.asarray(img).astype(np.float32) - 127.0) / 128.0
    x = x.transpose(2, 0, 1)[None].copy()
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    v = out.reshape(-1).astype(np.float64)
    v = v / np.linalg.norm(v)
    with open(out_path, "w") as f:
        json.dump(
            {
                "source_png": png_path.split("/")[-1],
                "model_sha256": model_sha256,
                "runtime": f"onnxruntime {ort.__version__}",
                "normalisation": "(x-127)/128, RGB, NCHW, L2-normalised output",
                "embedding": [round(float(a), 7) for a in v],
            },
            f,
            indent=1,
        )
    print(f"wrote {out_path} ({v.size} values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
