"""Batch throughput: 2 worker processes against 1, on 20 frames of 4096 x 3072 (goal: >= 1.7x).

Usage::

    python bench/bench_batch.py [--frames 20] [--width 4096] [--height 3072] [--kind dng|tiff16|jpeg]
                                [--interpolation bicubic]

Writes the frames (10-bit DNG mosaics by default, as the phone's 1-inch
sensor delivers) into a temporary folder and corrects them with a made-up lens
profile (ptlens distortion, poly3 TCA, pa vignetting) through
``mountkit.batch.run`` four ways: ``-j 1`` (this process, every core), one
worker process with ``worker_threads(1)`` threads, one worker process with one
thread (one core), and ``-j 2``.  It prints wall and CPU times, the load
average and the ratios; results are in ``bench/README.md``.  Numbers depend
on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def make_lens():
    from mountkit import Calibration, Lens, LensProfile, Provenance

    return Lens("Mountkit", "Bench 35mm f/1.4", focal_min=35, aperture_max=1.4, profile=LensProfile(
        crop_factor=1.0, provenance=Provenance(source="made up for the benchmark"), calibrations=(
            Calibration("distortion", "ptlens", 35, {"a": 0.01, "b": -0.03, "c": 0.02}),
            Calibration("tca", "poly3", 35, {"vr": 1.0003, "vb": 0.9997}),
            Calibration("vignetting", "pa", 35, {"k1": -0.5, "k2": 0.1, "k3": -0.05}, aperture=2.0, distance=1000),
        )))


def write_frames(folder: Path, n: int, width: int, height: int, kind: str) -> list[Path]:
    from mountkit.io import Frame
    from mountkit.io.dng_writer import write_dng
    from mountkit.io.images import write_jpeg
    from mountkit.io.tiff import write_tiff

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        if kind == "dng":
            p = folder / f"f{i:02d}.dng"
            write_dng(p, rng.integers(64, 1024, (height, width), dtype=np.uint16), black_level=64, white_level=1023,
                      exif={"FocalLength": 35.0, "FNumber": 2.0})
        elif kind == "tiff16":
            p = folder / f"f{i:02d}.tif"
            write_tiff(p, Frame(data=rng.integers(0, 65535, (height, width, 3), dtype=np.uint16)))
        else:
            p = folder / f"f{i:02d}.jpg"
            write_jpeg(p, Frame(data=rng.integers(0, 255, (height, width, 3), dtype=np.uint8)))
        paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--height", type=int, default=3072)
    ap.add_argument("--kind", choices=["dng", "tiff16", "jpeg"], default="dng")
    ap.add_argument("--interpolation", default="bicubic", choices=["nearest", "bilinear", "bicubic", "lanczos3"])
    args = ap.parse_args(argv)

    import concurrent.futures as cf
    import multiprocessing

    from mountkit import batch
    from mountkit.batch import FileSettings, plan, run
    from mountkit.formats.toml_profile import dumps

    with tempfile.TemporaryDirectory(prefix="mountkit-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "profiles").mkdir()
        (tmp / "profiles" / "bench.toml").write_text(dumps(make_lens()))
        os.environ["MOUNTKIT_PROFILE_PATH"] = str(tmp / "profiles")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mountkit

            kit = mountkit.Kit()
        (tmp / "in").mkdir()
        t = time.perf_counter()
        files = write_frames(tmp / "in", args.frames, args.width, args.height, args.kind)
        print(f"wrote {len(files)} {args.kind} frames of {args.width} x {args.height} "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        settings = FileSettings(lens=kit.lens("Mountkit Bench 35mm f/1.4"), crop_factor=2.64, focal=35.0,
                                aperture=2.0, distance=1000.0, overwrite=True,
                                interpolation=args.interpolation)
        from mountkit.memory import keep_freed_memory

        keep_freed_memory()  # as mountkit correct does in its own process (and in its workers)
        times = {}
        def pool(workers: int, threads: int):
            return lambda: cf.ProcessPoolExecutor(workers, initializer=batch._init_worker, initargs=(threads,),
                                                  mp_context=multiprocessing.get_context("spawn"))

        configs = {  # name: (workers, executor factory or None, description)
            "j1": (1, None, "-j 1: this process, every core"),
            "p1": (1, pool(1, batch.worker_threads(1)),
                   f"1 worker process, {batch.worker_threads(1)} threads"),
            "c1": (1, pool(1, 1), "1 worker process, 1 thread (one core)"),
            "p2": (2, None, f"-j 2: 2 worker processes, {batch.worker_threads(2)} threads each"),
        }
        for name, (workers, make_pool, what) in configs.items():
            jobs = plan(files, tmp / f"out-{name}", kit=kit)
            load0, cpu0 = os.getloadavg()[0], os.times()
            t = time.perf_counter()
            pool = make_pool() if make_pool else None
            try:
                report = run([(j, settings, None) for j in jobs], workers=workers, executor=pool)
            finally:
                if pool is not None:
                    pool.shutdown()
            times[name] = time.perf_counter() - t
            cpu1 = os.times()
            cpu = sum(getattr(cpu1, a) - getattr(cpu0, a) for a in ("user", "system", "children_user",
                                                                       "children_system"))
            bad = report.failed
            if bad:
                print(f"{len(bad)} failed: {bad[0].message}", file=sys.stderr)
                return 1
            per = times[name] / len(files)
            print(f"{what}: {times[name]:.1f} s ({per:.2f} s per frame, "
                  f"{len(files) / times[name]:.2f} frames/s); CPU time {cpu:.1f} s; "
                  f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        print(f"2 workers vs 1 worker (same threads each): {times['p1'] / times['p2']:.2f}x; "
              f"-j 2 vs -j 1: {times['j1'] / times['p2']:.2f}x; -j 2 (two cores) vs one core: "
              f"{times['c1'] / times['p2']:.2f}x (goal >= 1.7x); machine has {len(os.sched_getaffinity(0))} CPUs; "
              "a load average above the CPU count means other processes share them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
