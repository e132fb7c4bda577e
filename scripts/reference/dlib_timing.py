#!/usr/bin/env python3
"""dlib's own timings for scripts/bench.sh dlib (one thread: run under taskset with
OMP_NUM_THREADS=1): median of 50 runs after warm-up of the descriptor of a 150x150 chip and of the
5-point shape predictor in a box; also prints the HOG detector's box for the photo.

    dlib_timing.py SHAPE.dat RESNET.dat CHIP.png PHOTO.png
"""
import statistics
import sys
import time

import dlib


def median_ms(run):
    for _ in range(5):
        run()
    times = []
    for _ in range(50):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv):
    predictor = dlib.shape_predictor(argv[1])
    recogniser = dlib.face_recognition_model_v1(argv[2])
    chip = dlib.load_rgb_image(argv[3])
    photo = dlib.load_rgb_image(argv[4])
    box = max(dlib.get_frontal_face_detector()(photo, 1), key=lambda b: b.area())
    descriptor = median_ms(lambda: recogniser.compute_face_descriptor(chip))
    shape = median_ms(lambda: predictor(photo, box))
    print(f"box={box.left()} {box.top()} {box.right()} {box.bottom()} "
          f"descriptor_ms={descriptor:.3f} shape_ms={shape:.4f} dlib={dlib.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
