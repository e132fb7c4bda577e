#!/usr/bin/env python3
"""Reference descriptors from dlib itself (the `dlib-bin` wheel in the test-time venv made by
scripts/reference-venv.sh): for each 150x150 chip PNG given, dlib's face recogniser's 128 numbers.

    dlib_descriptors.py MODEL.dat CHIP.png... > descriptors.json

Prints {"dlib_version": ..., "descriptors": {"CHIP.png": [128 floats], ...}}. Used by the golden
vector tests (tests/kiosk/dlib_reference.rs); never at run time.
"""
import json
import sys

import dlib


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    recogniser = dlib.face_recognition_model_v1(argv[1])
    out = {}
    for path in argv[2:]:
        chip = dlib.load_rgb_image(path)
        if chip.shape[:2] != (150, 150):
            print(f"{path}: a chip is 150x150, this is {chip.shape[1]}x{chip.shape[0]}", file=sys.stderr)
            return 1
        out[path] = [float(v) for v in recogniser.compute_face_descriptor(chip)]
    json.dump({"dlib_version": dlib.__version__, "descriptors": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
