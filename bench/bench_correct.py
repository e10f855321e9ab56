"""Corrections against the Python route people use today (issue 4): lensfunpy maps + ``cv2.remap``.

One command::

    python bench/bench_correct.py                 # workloads A and B, >= 5 runs each, table + ratios
    python bench/bench_correct.py --profile       # and a cProfile of mountkit's warm and cold frames
    python bench/bench_correct.py --runs 7 --workloads A --json out.json

Workloads (the issue's):

* **A**: one 8192 x 6144 RGB uint16 frame with 10-bit data; lensfun's "Canon EF 16-35mm f/2.8L II USM"
  (distortion ptlens, TCA poly3, vignetting pa) at 24 mm, f/4, 3 m, on the 1-inch sensor (crop factor 2.64),
  bilinear, scale 1.
* **B**: 3840 x 2160 RGB uint16 video frames, same lens and settings; frames per second warm.

Contenders, each in its own process (so that its peak RSS is its own):

* ``mountkit``: ``Kit().corrector(...)`` with the default backend (OpenCV; the compiled kernels of
  ``mountkit.kernels`` when built, as the label says) and ``apply(frame,
  white_level=1023)``.  *Cold*: a new corrector with an empty map cache and a new output array (the first
  frame, maps included).  *Warm*: the same corrector, maps cached, into a preallocated output (a video loop).
* ``mountkit-numpy``: the same with ``resampler="numpy"`` and ``MOUNTKIT_KERNELS=0``: the resampling
  and the element-wise passes in numpy (OpenCV only upsamples the maps' node rows, as it does in any
  installation that has it; the tests also run everything with OpenCV hidden).
* ``peer``: lensfunpy 1.18's ``Modifier`` (``scale=1.0``), ``apply_subpixel_geometry_distortion()`` for the
  maps (split once into contiguous per-channel planes, the fastest way to feed ``cv2.remap``), then per frame
  ``apply_color_modification`` on a float32 copy (lensfunpy 1.18 refuses uint16 there), ``cv2.remap``
  (``INTER_LINEAR``) per channel, rounding and clipping to 10 bits into a preallocated uint16 output.  *Cold*
  includes the Modifier and its maps.
* ``floor``: one ``np.copyto`` of the frame into a preallocated array.

Every contender's time is the median of ``--runs`` runs (at least 5); the best run and the median CPU time
(all threads) are printed beside it, and the load average before and after, because the machine is shared:
the ratios of one run are what count.  Peak RSS is the child process's ``ru_maxrss`` over all its runs, as a
multiple of the frame's bytes (and, in brackets, what the process held before the frame was made: the
interpreter, numpy, OpenCV, the lens database).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

LENS = "Canon EF 16-35mm f/2.8L II USM"
SETTINGS = {"focal": 24.0, "aperture": 4.0, "distance": 3.0, "crop": 2.64}
WHITE = 1023
WORKLOADS = {"A": (8192, 6144), "B": (3840, 2160)}
CONTENDERS = ("floor", "mountkit", "mountkit-numpy", "peer")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_frame(width: int, height: int) -> np.ndarray:
    """10-bit data in uint16: smooth shading with noise (the content does not change the timings).

    Made in blocks of rows, so that making it does not raise the process's peak RSS above the frame's bytes.
    """
    rng = np.random.default_rng(0)
    frame = np.empty((height, width, 3), dtype=np.uint16)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    tint = np.array([0.0, 60.0, 120.0], np.float32)
    for a in range(0, height, 256):
        b = min(a + 256, height)
        y = np.linspace(a / height, b / height, b - a, endpoint=False, dtype=np.float32)[:, None, None]
        block = 300.0 + 400.0 * x * (1.0 - y) + tint + rng.integers(0, 200, (b - a, width, 3)).astype(np.float32)
        frame[a:b] = np.minimum(block, WHITE)
    return frame


def timed(fn, runs: int) -> dict:
    wall, cpu = [], []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"median": statistics.median(wall), "best": min(wall), "cpu": statistics.median(cpu), "runs": runs}


# -- the contenders (run in child processes) ----------------------------------------------------------------


def child(workload: str, contender: str, runs: int, frames: int) -> dict:
    width, height = WORKLOADS[workload]
    load0 = os.getloadavg()[0]
    result: dict = {"workload": workload, "contender": contender}
    if contender == "floor":
        base = current_rss_mb()
        frame = make_frame(width, height)
        out = np.empty_like(frame)
        np.copyto(out, frame)
        result["warm"] = timed(lambda: np.copyto(out, frame), max(runs, frames))
        result["cold"] = timed(lambda: np.copyto(np.empty_like(frame), frame), runs)
    elif contender.startswith("mountkit"):
        if contender == "mountkit-numpy":  # numpy and scipy only: no OpenCV remap, no compiled kernels
            os.environ["MOUNTKIT_KERNELS"] = "0"
        import mountkit
        from mountkit.cache import MapCache

        kit = mountkit.Kit()
        lens = kit.lens(LENS, crop_factor=SETTINGS["crop"])
        options = dict(crop_factor=SETTINGS["crop"], size=(width, height), focal=SETTINGS["focal"],
                       aperture=SETTINGS["aperture"], distance=SETTINGS["distance"], interpolation="bilinear",
                       resampler="numpy" if contender == "mountkit-numpy" else None)
        kit.corrector(lens, **options, cache=MapCache())  # imports and first-use work, outside the timings
        base = current_rss_mb()
        frame = make_frame(width, height)

        def cold():
            cor = kit.corrector(lens, **options, cache=MapCache())
            cor.apply(frame, white_level=WHITE)

        result["cold"] = timed(cold, runs)
        cor = kit.corrector(lens, **options, cache=MapCache())
        out = np.empty_like(frame)
        cor.apply(frame, white_level=WHITE, out=out)
        result["warm"] = timed(lambda: cor.apply(frame, white_level=WHITE, out=out), max(runs, frames))
        result["backend"] = cor.resampler.name
        result["threads"] = cor.threads
        result["kernels"] = "kernels" if mountkit.kernels.available() else "no kernels"
        plan = cor.plan()
        result["plan"] = {"mode": plan.mode, "map_steps": sorted({getattr(f, "grid", None) and f.grid.step
                                                                  for f in plan.maps.values()}),
                          "exact_cells": sum(getattr(f, "poisoned_cells", 0) for f in plan.maps.values()),
                          "plan_mb": plan.nbytes / 2**20, "strips": len(plan.strips)}
    elif contender == "peer":
        import cv2
        import lensfunpy

        db = lensfunpy.Database()
        lens = [x for x in db.lenses if x.model == LENS][0]
        base = current_rss_mb()
        frame = make_frame(width, height)

        def make_maps():
            mod = lensfunpy.Modifier(lens, SETTINGS["crop"], width, height)
            mod.initialize(SETTINGS["focal"], SETTINGS["aperture"], SETTINGS["distance"], scale=1.0,
                           pixel_format=np.float32)
            coords = mod.apply_subpixel_geometry_distortion()
            maps = [(np.ascontiguousarray(coords[..., c, 0]), np.ascontiguousarray(coords[..., c, 1]))
                    for c in range(3)]
            del coords
            return mod, maps

        def correct(mod, maps, out):
            f = frame.astype(np.float32)  # lensfunpy 1.18: apply_color_modification refuses uint16
            mod.apply_color_modification(f)
            for c in range(3):
                r = cv2.remap(f[..., c], maps[c][0], maps[c][1], cv2.INTER_LINEAR)
                np.rint(r, out=r)
                np.clip(r, 0, WHITE, out=r)
                out[..., c] = r

        def cold():
            mod, maps = make_maps()
            correct(mod, maps, np.empty_like(frame))

        result["cold"] = timed(cold, runs)
        mod, maps = make_maps()
        out = np.empty_like(frame)
        correct(mod, maps, out)
        result["warm"] = timed(lambda: correct(mod, maps, out), max(runs, frames))
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    result["frame_mb"] = width * height * 3 * 2 / 2**20
    result["peak_rss_mb"] = rss_mb()
    result["base_rss_mb"] = base
    result["load"] = (load0, os.getloadavg()[0])
    return result


def run_child(workload: str, contender: str, runs: int, frames: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, contender, "--runs", str(runs),
           "--frames", str(frames)]
    got = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(got.stdout.strip().splitlines()[-1])


# -- the profile ---------------------------------------------------------------------------------------------


def profile(workload: str, top: int = 14) -> None:
    """cProfile of mountkit's cold and warm frames in this process, on one thread so the C calls show up."""
    import cProfile
    import pstats

    import mountkit
    from mountkit.cache import MapCache

    width, height = WORKLOADS[workload]
    kit = mountkit.Kit()
    lens = kit.lens(LENS, crop_factor=SETTINGS["crop"])
    frame = make_frame(width, height)
    options = dict(crop_factor=SETTINGS["crop"], size=(width, height), focal=SETTINGS["focal"],
                   aperture=SETTINGS["aperture"], distance=SETTINGS["distance"], interpolation="bilinear",
                   threads=1)
    for what in ("cold", "warm"):
        cor = kit.corrector(lens, **options, cache=MapCache())
        out = np.empty_like(frame)
        if what == "warm":  # after the frames that collect what the plan keeps
            for _ in range(3):
                cor.apply(frame, white_level=WHITE, out=out)
        prof = cProfile.Profile()
        prof.enable()
        cor.apply(frame, white_level=WHITE, out=out)
        prof.disable()
        print(f"\n== profile: workload {workload}, mountkit {what}, 1 thread ==")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# -- the table -------------------------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    by = {(r["workload"], r["contender"]): r for r in results}
    lines = ["| workload | contender | cold median (best, CPU) | warm median (best, CPU) | fps warm | "
             "cold / peer | warm / peer | peak RSS / frame (before frame) | load before -> after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        peer = by.get((r["workload"], "peer"))
        c, w = r["cold"], r["warm"]
        cold_ratio = f"{c['median'] / peer['cold']['median']:.3f}" if peer and r is not peer else "-"
        warm_ratio = f"{w['median'] / peer['warm']['median']:.3f}" if peer and r is not peer else "-"
        name = r["contender"] + (f" ({r['backend']}, {r['kernels']}, {r['threads']} threads)"
                                 if "backend" in r else "")
        lines.append(
            f"| {r['workload']} | {name} | {c['median']:.3f} s ({c['best']:.3f}, {c['cpu']:.2f}) | "
            f"{w['median']:.3f} s ({w['best']:.3f}, {w['cpu']:.2f}) | {1 / w['median']:.2f} | {cold_ratio} | "
            f"{warm_ratio} | {r['peak_rss_mb'] / r['frame_mb']:.2f}x ({r['base_rss_mb'] / r['frame_mb']:.2f}x) | "
            f"{r['load'][0]:.1f} -> {r['load'][1]:.1f} |")
    return "\n".join(lines)


def verdicts(results: list[dict]) -> str:
    by = {(r["workload"], r["contender"]): r for r in results}
    out = []
    a, pa = by.get(("A", "mountkit")), by.get(("A", "peer"))
    if a and pa:
        out.append(f"A cold {a['cold']['median'] / pa['cold']['median']:.3f} x peer (target <= 0.3)")
        out.append(f"A warm {a['warm']['median'] / pa['warm']['median']:.3f} x peer (target <= 0.5)")
        out.append(f"A peak RSS {a['peak_rss_mb'] / a['frame_mb']:.2f} x frame (target <= 4; peer "
                   f"{pa['peak_rss_mb'] / pa['frame_mb']:.2f} x)")
    b, pb = by.get(("B", "mountkit")), by.get(("B", "peer"))
    if b and pb:
        out.append(f"B warm throughput {pb['warm']['median'] / b['warm']['median']:.2f} x peer "
                   f"({1 / b['warm']['median']:.1f} vs {1 / pb['warm']['median']:.1f} fps; target >= 2)")
        out.append(f"B cold {b['cold']['median'] / pb['cold']['median']:.3f} x peer, peak RSS "
                   f"{b['peak_rss_mb'] / b['frame_mb']:.2f} x frame")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median; at least 5)")
    ap.add_argument("--frames", type=int, default=20, help="warm frames per measurement (median)")
    ap.add_argument("--workloads", default="A,B", help="comma-separated: A, B")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated: " + ", ".join(CONTENDERS))
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of mountkit's frames")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "CONTENDER"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], max(1, args.runs), args.frames)))
        return 0
    if args.runs < 5:
        ap.error("--runs must be at least 5 (medians of at least 5 runs)")
    results = []
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    for wl in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        width, height = WORKLOADS[wl]
        frames = 1 if wl == "A" else args.frames
        for contender in [c.strip() for c in args.contenders.split(",") if c.strip()]:
            t = time.perf_counter()
            results.append(run_child(wl, contender, args.runs, frames))
            print(f"  {wl} {width}x{height} {contender}: done in {time.perf_counter() - t:.0f} s", flush=True)
    print()
    print(table(results))
    print()
    print(verdicts(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.profile:
        for wl in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            profile(wl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
