"""Batch throughput on a Dask LocalCluster against the local process pool, and Dask's overhead per task.

Usage::

    python bench/bench_distributed.py [--frames 20] [--width 4096] [--height 3072] [--kind dng|tiff16|jpeg]
                                      [--interpolation bicubic] [--noop-tasks 200]

Writes the frames (10-bit DNG mosaics by default, as in ``bench_batch.py``)
and corrects them with the same made-up profile four ways: in this process
(1 worker), in the local process pool (2 workers, ``mountkit.batch.run``),
and through ``mountkit.distributed.run_on_client`` on a LocalCluster of 1
and of 2 single-threaded worker processes (started and warmed up before the
clock starts, as a standing cluster would be).

Scheduling overhead per task, from Dask's task stream: the time a worker
waits between the end of one task and the start of its next (while tasks
remain), plus the time a task spends outside ``correct_file`` (arguments,
the idempotency check), over the tasks; printed as a fraction of a frame's
correction time (goal: < 5 %).  The all-inclusive figure, (workers x wall -
correction time) / tasks, also counts the tail where one worker has no frame
left.  Minor page faults per frame (memory newly mapped and zeroed) compare the
processes independently of the machine's load: Dask's nanny sets
``MALLOC_TRIM_THRESHOLD_``, which multiplies them unless the task undoes it
(``mountkit.distributed._restore_malloc_thresholds``).  Last,
``--noop-tasks`` empty tasks through the same submission loop
give Dask's bare round trip per task on this machine.

Numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import make_lens, write_frames  # noqa: E402


def noop_job(src, dest, settings):
    """A task that does nothing: Dask's round trip alone."""
    from mountkit.batch import FileResult

    return FileResult(Path(src), Path(dest), "ok")


def _warm() -> int:
    """Runs on each worker before timing: import the corrector and build the kit, as a standing worker has."""
    from mountkit.batch import _worker_kit

    _worker_kit()
    return os.getpid()


def _minor_faults() -> int:
    """Runs on a worker: its minor page faults so far (memory newly mapped and zeroed)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def task_overhead(stream: list[dict], results) -> tuple[float, float]:
    """(mean scheduling overhead per task, mean correction time) in seconds, from Dask's task stream."""
    seconds = {r.input.name: r.seconds for r in results}
    by_worker = defaultdict(list)
    for t in stream:
        comp = [s for s in t["startstops"] if s["action"] == "compute"]
        if not comp:
            continue
        start, stop = comp[0]["start"], comp[-1]["stop"]
        by_worker[t["worker"]].append((start, stop))
    gaps = 0.0
    for spans in by_worker.values():
        spans.sort()
        gaps += sum(max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:], strict=False))
    computed = sum(stop - start for spans in by_worker.values() for start, stop in spans)
    inside = computed - sum(seconds.values())
    n = len(results)
    return (gaps + max(0.0, inside)) / n, sum(seconds.values()) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--height", type=int, default=3072)
    ap.add_argument("--kind", choices=["dng", "tiff16", "jpeg"], default="dng")
    ap.add_argument("--interpolation", default="bicubic", choices=["nearest", "bilinear", "bicubic", "lanczos3"])
    ap.add_argument("--noop-tasks", type=int, default=200)
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster, get_task_stream

    from mountkit.batch import FileSettings, plan, run
    from mountkit.distributed import run_on_client
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
              f"in {time.perf_counter() - t:.1f} s; machine has {len(os.sched_getaffinity(0))} CPUs", flush=True)
        settings = FileSettings(lens=kit.lens("Mountkit Bench 35mm f/1.4"), crop_factor=2.64, focal=35.0,
                                aperture=2.0, distance=1000.0, overwrite=True, interpolation=args.interpolation)

        def work(name):
            return [(j, settings, None) for j in plan(files, tmp / name, kit=kit)]

        rate = {}

        def show(label, wall, report, faults):
            bad = report.failed
            if bad:
                raise SystemExit(f"{label}: {len(bad)} failed: {bad[0].message}")
            rate[label] = len(files) / wall
            print(f"{label:<26} {wall:7.1f} s  {rate[label]:.3f} frames/s  "
                  f"(correction {sum(r.seconds for r in report.results) / len(files):.2f} s per frame; "
                  f"{faults / len(files) / 1000:.0f}k minor page faults per frame; "
                  f"load average {os.getloadavg()[0]:.1f})", flush=True)

        for workers in (1, 2):
            label = "in this process (1)" if workers == 1 else f"local process pool ({workers})"
            who = resource.RUSAGE_SELF if workers == 1 else resource.RUSAGE_CHILDREN  # pool workers are reaped
            f0 = resource.getrusage(who).ru_minflt
            t = time.perf_counter()
            report = run(work(f"pool{workers}"), workers=workers)
            show(label, time.perf_counter() - t, report, resource.getrusage(who).ru_minflt - f0)

        overheads = {}
        for n in (1, 2):
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
                client.run(_warm)
                f0 = client.run(_minor_faults)
                with get_task_stream(client) as ts:
                    t = time.perf_counter()
                    report = run_on_client(work(f"dask{n}"), client)
                    wall = time.perf_counter() - t
                f1 = client.run(_minor_faults)
                show(f"Dask LocalCluster({n})", wall, report, sum(f1[w] - f0[w] for w in f0))
                per_task, per_frame = task_overhead(ts.data, report.results)
                inclusive = (n * wall - sum(r.seconds for r in report.results)) / len(files)
                overheads[n] = per_task / per_frame
                print(f"  scheduling overhead per task: {per_task * 1000:.1f} ms = {100 * per_task / per_frame:.2f} %"
                      f" of a frame's correction (goal < 5 %); all-inclusive (tail, start-up): "
                      f"{100 * inclusive / per_frame:.2f} %", flush=True)
                if n == 2 and args.noop_tasks:
                    noop = [(j, settings, None) for j in plan(files, tmp / "noop", kit=kit)]
                    noop = (noop * (args.noop_tasks // len(noop) + 1))[:args.noop_tasks]
                    t = time.perf_counter()
                    r = run_on_client(noop, client, job_fn=noop_job, check_paths=False)
                    per = (time.perf_counter() - t) / len(r.results)
                    print(f"  empty tasks: {len(r.results)} in {per * len(r.results):.2f} s = {per * 1000:.1f} ms "
                          f"per task through the same loop ({per * n * 1000:.1f} ms of worker time)", flush=True)

        print(f"speed-up LocalCluster(2) vs 1 worker in this process: "
              f"{rate['Dask LocalCluster(2)'] / rate['in this process (1)']:.2f}x; "
              f"vs LocalCluster(1): {rate['Dask LocalCluster(2)'] / rate['Dask LocalCluster(1)']:.2f}x; "
              f"vs the local process pool (2): {rate['Dask LocalCluster(2)'] / rate['local process pool (2)']:.2f}x")
        worst = max(overheads.values())
        print(f"worst scheduling overhead: {100 * worst:.2f} % ({'within' if worst < 0.05 else 'OVER'} the 5 % goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
