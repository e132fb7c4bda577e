#!/usr/bin/env python3
"""The reference figures for `kiosk face eval --pack open`: dlib's own pipeline (HOG detector with
one upsampling, largest face, 5-point shape predictor, 150x150 chip with padding 0.25, ResNet
descriptor) on every pair of an LFW-style pair list, scored as minus the Euclidean distance,
and the same metrics our `kiosk face eval` prints (k-fold accuracy with the threshold chosen on
the other folds, TAR at FAR 1e-2 and 1e-3). A pair whose image has no face counts as a failure
and scores lowest. Run from the test-time venv (scripts/reference-venv.sh); never by the kiosk.

    dlib_eval.py SHAPE.dat RESNET.dat PAIRS.txt ROOT > reference.json
    dlib_eval.py --variants SHAPE.dat RESNET.dat PAIRS.txt ROOT > variants.json

--variants scores only the pairs where dlib finds both faces, five ways: Euclidean distance and
cosine of the descriptors, both again with each descriptor averaged with its mirrored chip's,
and Euclidean distance of the averaged unit vectors (what our pack scores is closest to the
cosine of the averages). It shows the recogniser's own ceiling on these photos.
"""
import json
import sys
import time

import dlib
import numpy as np


def parse_pairs(text):
    lines = [l.split() for l in text.strip().splitlines() if l.strip()]
    folds, per_kind = (int(v) for v in lines[0])
    pairs, rows = [], lines[1:]
    for fold in range(folds):
        block = rows[fold * 2 * per_kind:(fold + 1) * 2 * per_kind]
        for row in block:
            if len(row) == 3:
                pairs.append((fold, True, (row[0], int(row[1])), (row[0], int(row[2]))))
            else:
                pairs.append((fold, False, (row[0], int(row[1])), (row[2], int(row[3]))))
    return pairs


def accuracy_at(scored, t):
    return sum((s > t) == g for _, g, s in scored) / len(scored) if scored else 0.0


def best_threshold(scored):
    values = sorted(set(s for _, _, s in scored))
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[0] - 1e-3]
    best = (-1.0, 0.0)
    for t in candidates:
        a = accuracy_at(scored, t)
        if a > best[0]:
            best = (a, t)
    return best[1]


def tar_at_far(scored, far):
    impostor = sorted((s for _, g, s in scored if not g), reverse=True)
    genuine = [s for _, g, s in scored if g]
    t = impostor[int(far * len(impostor))] if int(far * len(impostor)) < len(impostor) else -1e9
    return sum(s > t for s in genuine) / len(genuine)


def kfold(scored):
    folds = max(f for f, _, _ in scored) + 1
    accuracies = []
    for k in range(folds):
        train = [s for s in scored if s[0] != k]
        test = [s for s in scored if s[0] == k]
        accuracies.append(accuracy_at(test, best_threshold(train or test)))
    return sum(accuracies) / len(accuracies)


def variants(argv):
    predictor = dlib.shape_predictor(argv[0])
    recogniser = dlib.face_recognition_model_v1(argv[1])
    detector = dlib.get_frontal_face_detector()
    pairs = parse_pairs(open(argv[2]).read())
    root, cache = argv[3], {}

    def descriptors(ref):
        if ref not in cache:
            name, i = ref
            image = dlib.load_rgb_image(f"{root}/{name}/{name}_{i:04d}.jpg")
            boxes = detector(image, 1)
            if len(boxes) == 0:
                cache[ref] = None
            else:
                shape = predictor(image, max(boxes, key=lambda b: b.area()))
                chip = dlib.get_face_chip(image, shape, 150, 0.25)
                mirrored = np.ascontiguousarray(chip[:, ::-1])
                cache[ref] = (np.array(recogniser.compute_face_descriptor(chip)),
                              np.array(recogniser.compute_face_descriptor(mirrored)))
        return cache[ref]

    def unit(x):
        return x / np.linalg.norm(x)

    scores = {"l2": [], "cosine": [], "l2_mirror_averaged": [], "cosine_mirror_averaged": [],
              "l2_of_averaged_unit_vectors": []}
    failures = 0
    for fold, genuine, a, b in pairs:
        da, db = descriptors(a), descriptors(b)
        if da is None or db is None:
            failures += 1
            continue
        (a0, a1), (b0, b1) = da, db
        am, bm = (a0 + a1) / 2, (b0 + b1) / 2
        for name, value in (("l2", -np.linalg.norm(a0 - b0)),
                            ("cosine", unit(a0) @ unit(b0)),
                            ("l2_mirror_averaged", -np.linalg.norm(am - bm)),
                            ("cosine_mirror_averaged", unit(am) @ unit(bm)),
                            ("l2_of_averaged_unit_vectors",
                             -np.linalg.norm(unit(unit(a0) + unit(a1)) - unit(unit(b0) + unit(b1))))):
            scores[name].append((fold, genuine, float(value)))
    json.dump({
        "pairs_with_both_faces": len(pairs) - failures,
        "left_out": failures,
        **{name: {"accuracy_kfold": kfold(s), "tar_at_far_1e-3": tar_at_far(s, 1e-3)}
           for name, s in scores.items()},
    }, sys.stdout, indent=1)
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "--variants":
        return variants(argv[2:])
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    predictor = dlib.shape_predictor(argv[1])
    recogniser = dlib.face_recognition_model_v1(argv[2])
    detector = dlib.get_frontal_face_detector()
    pairs = parse_pairs(open(argv[3]).read())
    root = argv[4]
    cache, seconds = {}, []

    def descriptor(ref):
        if ref not in cache:
            name, i = ref
            start = time.perf_counter()
            image = dlib.load_rgb_image(f"{root}/{name}/{name}_{i:04d}.jpg")
            boxes = detector(image, 1)
            if len(boxes) == 0:
                cache[ref] = None
            else:
                box = max(boxes, key=lambda b: b.area())
                shape = predictor(image, box)
                cache[ref] = np.array(recogniser.compute_face_descriptor(image, shape))
            seconds.append(time.perf_counter() - start)
        return cache[ref]

    scored, failures = [], 0
    for fold, genuine, a, b in pairs:
        da, db = descriptor(a), descriptor(b)
        if da is None or db is None:
            failures += 1
            scored.append((fold, genuine, -10.0))
        else:
            scored.append((fold, genuine, -float(np.linalg.norm(da - db))))
    json.dump({
        "pipeline": f"dlib {dlib.__version__}: HOG detector (upsample 1), shape_predictor_5, chip 150/0.25, ResNet",
        "pairs": len(scored),
        "failures": failures,
        "accuracy_kfold": kfold(scored),
        "tar_at_far_1e-2": tar_at_far(scored, 1e-2),
        "tar_at_far_1e-3": tar_at_far(scored, 1e-3),
        "images": len(cache),
        "ms_per_image_median": 1000 * float(np.median(seconds)),
    }, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
