"""Frames per second of the frame tools on a 1920 x 1080 preview frame.

Runs the histogram, the zebra (0.95) and focus peaking, as registered on the
kit, one after the other on the same frame, as a viewer would for each
preview frame, and prints the time of each tool and the frames per second of
all three.  Goal (issue 8): >= 15 fps on 2 cores.

    python bench/bench_tools.py [--repeat 30] [--workers 2]

The frame is synthetic (blocks and disks, half of them blurred, with noise),
as 10-bit RGB in uint16 and as 8-bit RGB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import mountkit


def preview_frame(bits: int, *, seed: int = 0) -> np.ndarray:
    """A 1920 x 1080 RGB frame: blocks and disks, the right half blurred, sensor-like noise."""
    from scipy import ndimage as ndi

    h, w = 1080, 1920
    rng = np.random.default_rng(seed)
    cells = rng.random((h // 24 + 1, w // 24 + 1, 3))
    scene = np.kron(cells, np.ones((24, 24, 1)))[:h, :w]
    yy, xx = np.mgrid[:h, :w]
    for _ in range(60):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(10, 80)
        scene[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    scene[:, w // 2:] = ndi.gaussian_filter(scene[:, w // 2:], (3, 3, 0))
    scene += rng.normal(0, 0.01, scene.shape)
    top = (1 << bits) - 1
    return np.clip(np.rint(scene * top), 0, top).astype(np.uint8 if bits == 8 else np.uint16)


def timed(func, repeat: int) -> tuple[float, float, float]:
    """Median wall time, best wall time and median CPU time (all threads) of ``func()``, in seconds.

    After a warm-up call.  On shared cores the median wall time grows with
    the other processes' load; the best run and the CPU time much less so.
    """
    func()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        func()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def bench_frame(tools: dict, bits: int, repeat: int, workers: int) -> float:
    """Time each tool and all three on one frame of ``bits`` bits; print and return the fps of all three."""
    frame = preview_frame(bits)
    white = (1 << bits) - 1
    runs = {
        "histogram": lambda: tools["histogram"].run(frame, white_level=white),
        "zebra": lambda: tools["zebra"].run(frame, threshold=0.95, white_level=white),
        "peaking": lambda: tools["peaking"].run(frame, white_level=white, workers=workers),
    }
    seconds = {name: timed(run, repeat) for name, run in runs.items()}
    wall, best, cpu = timed(lambda: [run() for run in runs.values()], repeat)
    parts = ", ".join(f"{name} {1000 * s[0]:.1f} ms (best {1000 * s[1]:.1f})" for name, s in seconds.items())
    print(f"{bits:2d}-bit: {parts}")
    print(f"        all three one after the other: median {1000 * wall:.1f} ms = {1 / wall:.1f} fps, "
          f"best {1000 * best:.1f} ms = {1 / best:.1f} fps; CPU {1000 * cpu:.1f} ms per frame")

    with ThreadPoolExecutor(2) as pool:
        def side_by_side():
            hist = pool.submit(runs["histogram"])
            tools["zebra"].run(frame, threshold=0.95, white_level=white)
            tools["peaking"].run(frame, white_level=white, workers=1)
            hist.result()

        wall2, best2, _ = timed(side_by_side, repeat)
    print(f"        histogram on a second thread beside zebra + peaking: median {1000 * wall2:.1f} ms "
          f"= {1 / wall2:.1f} fps, best {1 / best2:.1f} fps")
    thin = timed(lambda: tools["peaking"].run(frame, white_level=white, thin=True, workers=workers),
                 max(5, repeat // 3))
    print(f"        peaking with thinning: median {1000 * thin[0]:.1f} ms, best {1000 * thin[1]:.1f} ms")
    return 1 / wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="threads for focus peaking")
    args = parser.parse_args(argv)

    tools = mountkit.Kit(entry_points=False).frame_tools()
    print(f"frame tools on 1920 x 1080 RGB; cpu_count={os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}; median of {args.repeat} runs")
    for bits in (10, 8):
        bench_frame(tools, bits, args.repeat, args.workers)


if __name__ == "__main__":
    main()
