#!/usr/bin/env python3
"""dlib's own face pipeline on photos, for the golden tests (tests/kiosk/dlib_reference.rs):
its HOG detector's box, the 5-point shape predictor's points in that box, the 150x150 chip
(`get_face_chip(img, shape, 150, 0.25)`, written as PNG) and the descriptor from image + shape.

    dlib_pipeline.py SHAPE.dat RESNET.dat OUT_DIR PHOTO... > pipeline.json

Prints {"dlib_version", "faces": [{"photo", "box": [l, t, r, b], "parts": [[x, y] * 5],
"chip": PATH, "descriptor": [128]}]}; the largest face of each photo. Never run by the kiosk.
"""
import json
import os
import sys

import dlib


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    predictor = dlib.shape_predictor(argv[1])
    recogniser = dlib.face_recognition_model_v1(argv[2])
    out_dir = argv[3]
    detector = dlib.get_frontal_face_detector()
    faces = []
    for index, photo in enumerate(argv[4:]):
        image = dlib.load_rgb_image(photo)
        boxes = detector(image, 1)
        if len(boxes) == 0:
            print(f"{photo}: dlib finds no face", file=sys.stderr)
            return 1
        box = max(boxes, key=lambda b: b.area())
        shape = predictor(image, box)
        chip = dlib.get_face_chip(image, shape, 150, 0.25)
        chip_path = os.path.join(out_dir, f"dlib-chip-{index}.png")
        dlib.save_image(chip, chip_path)
        faces.append({
            "photo": photo,
            "box": [box.left(), box.top(), box.right(), box.bottom()],
            "parts": [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
            "chip": chip_path,
            "descriptor": [float(v) for v in recogniser.compute_face_descriptor(image, shape)],
        })
    json.dump({"dlib_version": dlib.__version__, "faces": faces}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
