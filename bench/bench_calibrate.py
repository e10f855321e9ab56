"""Time of a distortion calibration: OpenCV's 14 chessboard shots, and 20 full-resolution 1-inch shots.

Goals (issue 6): the 640 x 480 set "in seconds"; 20 shots of 8192 x 6144
"well under a minute on 2 cores" (the board is searched on a downscaled copy
and its corners refined at full resolution).

    python bench/bench_calibrate.py [--workers 2] [--shots 20] [--keep DIR]

1. OpenCV's samples (tests/data/opencv_chessboard, 13 files: OpenCV has no
   left10): read, detect, fit ptlens.
2. Synthetic 8192 x 6144 shots of a 12 x 9 board through a ptlens profile on
   the 1-inch body (crop 2.64), rendered first (not timed) and stored as
   16-bit grey .npy files, then read, detected and fitted (timed), and the
   fitted correction compared with the truth over the whole frame.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import mountkit
from mountkit import Calibration, Corrector, Lens, LensProfile
from mountkit import geometry as geo
from mountkit.calibrate import calibrate_distortion, synthetic
from mountkit.calibrate.detection import Shot, detect_boards

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "data" / "opencv_chessboard"


def bench_samples(kit, workers: int) -> None:
    images = sorted(SAMPLES.glob("left*.jpg"))
    t0 = time.perf_counter()
    dets = mountkit.calibrate.detect(images, pattern="9x6", workers=workers, kit=kit)
    t1 = time.perf_counter()
    fit = calibrate_distortion(focal=3.6, crop_factor=7.0, model="ptlens", kit=kit, detections=dets)
    t2 = time.perf_counter()
    print(f"OpenCV samples: {len(images)} shots of 640 x 480, {len(fit.shots)} used, {fit.count} corners, "
          f"RMS {fit.rms_px:.3f} px")
    print(f"  detect {t1 - t0:.2f} s + fit {t2 - t1:.2f} s = {t2 - t0:.2f} s")


def render_full(kit, directory: Path, n: int) -> tuple[Lens, list[Path]]:
    w, h = 8192, 6144
    truth = Lens("Acme", "Truth 28mm", focal_min=28, profile=LensProfile(crop_factor=2.64, aspect_ratio=4 / 3,
                 calibrations=(Calibration("distortion", "ptlens", 28, {"a": 0.01, "b": -0.05, "c": 0.02}),)))
    fwd = Corrector(kit, truth, crop_factor=2.64, size=(w, h))
    g = fwd.geometry
    mapper = synthetic.radial_lut_mapper(g, geo.ModelTerms(kit.model("distortion", "ptlens"),
                                                           {"a": 0.01, "b": -0.05, "c": 0.02}))
    poses = synthetic.board_homographies(w, h, (12, 9), n, rng=np.random.default_rng(1), mapper=mapper,
                                         inside=synthetic.inside_check(fwd))
    paths = []
    for k, hom in enumerate(poses):
        img = synthetic.render_board(w, h, hom, (12, 9), mapper, blur_px=2.0, noise=0.005,
                                     rng=np.random.default_rng(k))
        p = directory / f"shot{k:02d}.npy"
        np.save(p, (img * 1023).astype(np.uint16))  # 10-bit data, as the sensor's
        paths.append(p)
        print(f"  rendered {p.name}", flush=True)
    return truth, paths


def bench_full(kit, workers: int, n: int, directory: Path) -> None:
    print(f"rendering {n} synthetic 8192 x 6144 shots (not timed)...", flush=True)
    truth, paths = render_full(kit, directory, n)
    t0 = time.perf_counter()
    shots = [Shot(p.name, lambda p=p: np.load(p)) for p in paths]
    dets = detect_boards(shots, (12, 9), workers=workers)
    t1 = time.perf_counter()
    fit = calibrate_distortion(focal=28, crop_factor=2.64, model="ptlens", kit=kit, detections=dets)
    t2 = time.perf_counter()
    fitted = Lens("Acme", "Fit", focal_min=28, profile=LensProfile(crop_factor=2.64, aspect_ratio=fit.aspect_ratio,
                                                                   calibrations=(fit.calibration(),)))
    # compare the corrections over the whole frame on a grid every 16 px (and the corners)
    xs = np.unique(np.r_[np.arange(0, 8192, 16), 8191])[None, :]
    ys = np.unique(np.r_[np.arange(0, 6144, 16), 6143])[:, None]
    a = Corrector(kit, truth, crop_factor=2.64, size=(8192, 6144)).channel_points(xs, ys, 1)
    b = Corrector(kit, fitted, crop_factor=2.64, size=(8192, 6144)).channel_points(xs, ys, 1)
    err = np.hypot(a[0] - b[0], a[1] - b[1]).max()
    print(f"full resolution: {n} shots of 8192 x 6144, {len(fit.shots)} used, {fit.count} corners, "
          f"RMS {fit.rms_px:.3f} px, largest error against the truth over the frame {err:.3f} px")
    print(f"  read + detect + refine {t1 - t0:.2f} s ({(t1 - t0) / n:.2f} s per shot, {workers} workers) "
          f"+ fit {t2 - t1:.2f} s = {t2 - t0:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shots", type=int, default=20)
    ap.add_argument("--keep", type=Path, default=None, help="Directory for the rendered shots (kept).")
    ap.add_argument("--skip-full", action="store_true", help="Only the 640 x 480 samples.")
    args = ap.parse_args()
    kit = mountkit.Kit(entry_points=False)
    bench_samples(kit, args.workers)
    if args.skip_full:
        return
    directory = args.keep or Path(tempfile.mkdtemp(prefix="mountkit-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        bench_full(kit, args.workers, args.shots, directory)
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
