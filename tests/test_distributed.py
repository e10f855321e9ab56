"""Batch correction on a Dask cluster: a real LocalCluster of 2 worker processes, real files, no mocks.

One cluster serves the module (starting worker processes is the slow part);
the test that kills a worker runs last and waits for the nanny to bring a
replacement up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster
from hypothesis import given, settings
from hypothesis import strategies as st

import mountkit
from mountkit import Calibration, Lens, LensProfile, Provenance
from mountkit.batch import FileSettings, Job, Options, correct_file, plan, resolve, run
from mountkit.distributed import (
    EARLIER_ATTEMPT,
    ClusterError,
    Scheduler,
    connect,
    correct_task,
    order_by_settings,
    parse_scheduler,
    remove_partial_files,
    run_on_client,
    settings_key,
    stamp,
)
from mountkit.distributed import run as run_distributed
from mountkit.io import Frame
from mountkit.io.atomic import PART_SUFFIX, partial_files, temp_path_for
from mountkit.io.metadata import read_record
from mountkit.io.tiff import write_tiff

LENS_NAME = "Mountkit Cluster 35mm f/1.4"
RNG = np.random.default_rng(10)


def make_lens() -> Lens:
    return Lens("Mountkit", "Cluster 35mm f/1.4", mounts=("Leica M",), focal_min=35, aperture_max=1.4,
                profile=LensProfile(crop_factor=1.0, calibrations=(
                    Calibration("distortion", "ptlens", 35, {"a": 0.01, "b": -0.03, "c": 0.02}),
                    Calibration("tca", "poly3", 35, {"vr": 1.0003, "vb": 0.9997}),
                    Calibration("vignetting", "pa", 35, {"k1": -0.5, "k2": 0.1, "k3": -0.05}, aperture=2.0,
                                distance=1000),
                    Calibration("vignetting", "pa", 35, {"k1": -0.3, "k2": 0.05, "k3": -0.02}, aperture=4.0,
                                distance=1000)),
                    provenance=Provenance(source="made up for mountkit's tests")))


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A kit finding the test lens through MOUNTKIT_PROFILE_PATH, set before the workers start."""
    from mountkit.formats.toml_profile import dumps

    d = tmp_path_factory.mktemp("profiles")
    (d / "cluster-lens.toml").write_text(dumps(make_lens()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOUNTKIT_PROFILE_PATH", str(d))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield mountkit.Kit()


@pytest.fixture(scope="module")
def client(kit):
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, host="127.0.0.1",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as c:
        yield c


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_frames(folder: Path, n: int, width: int = 64, height: int = 48) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        shape = (height, width) if i % 5 == 4 else (height, width, 3)  # some greyscale among RGB
        p = folder / f"f{i:02d}.tif"
        write_tiff(p, Frame(data=RNG.integers(0, 65535, shape).astype(np.uint16)))
        files.append(p)
    return files


def resolved(jobs: list[Job], kit) -> list:
    """Two settings groups, interleaved (f/2 for even frames, f/4 for odd), resolved as the CLI does."""
    work = []
    for i, job in enumerate(jobs):
        if job.error:
            work.append((job, None, job.error))
            continue
        options = Options(lens=LENS_NAME, crop_factor=2.64, aperture=2.0 if i % 2 == 0 else 4.0)
        try:
            work.append((job, resolve(job, options, kit=kit), None))
        except mountkit.MountkitError as exc:
            work.append((job, None, str(exc)))
    return work


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(PART_SUFFIX)]


# -- on the cluster ---------------------------------------------------------------------------


def test_cluster_outputs_equal_the_local_batch_byte_for_byte(tmp_path, kit, client):
    files = write_frames(tmp_path / "in", 40)
    local = run(resolved(plan(files, tmp_path / "local", kit=kit), kit), workers=1)
    assert local.exit_code == 0, local.failed[:1]

    jobs = plan(files, tmp_path / "dask", kit=kit)
    (tmp_path / "dask").mkdir()
    stale = [temp_path_for(jobs[3].output), temp_path_for(jobs[7].output)]  # what writers that died leave
    for p in stale:
        p.write_bytes(b"half a TIFF")
    seen = []
    report = run_on_client(resolved(jobs, kit), client, on_result=seen.append)

    assert report.exit_code == 0, report.failed[:1]
    assert report.workers == 2 and report.scheduler == client.scheduler.address
    assert seen == report.results  # progress is driven by each completion
    assert sorted(r.input.name for r in report.results) == sorted(f.name for f in files)
    assert report.partial_files_removed == 2 and not leftovers(tmp_path / "dask")
    for f in files:
        assert sha(tmp_path / "dask" / f.name) == sha(tmp_path / "local" / f.name), f.name
    rec = read_record(tmp_path / "dask" / "f01.tif")
    assert rec["profile"] == LENS_NAME and rec["parameters"]["aperture"] == 4.0
    assert {r.record["parameters"]["aperture"] for r in report.results} == {2.0, 4.0}

    # Dask's nannies fix glibc's malloc thresholds (slow for the correction's temporaries); the tasks undo it
    state = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                __import__("mountkit.distributed", fromlist=["_"])._MALLOC_RESTORED))
    assert [flag for _, flag in state.values()] == [[True], [True]]


def test_bad_files_are_reported_as_the_local_batch_reports_them(tmp_path, kit, client):
    files = write_frames(tmp_path / "in", 6)
    (tmp_path / "in" / "truncated.tif").write_bytes(files[0].read_bytes()[:300])
    (tmp_path / "in" / "text.tif").write_text("this is not a TIFF\n" * 20)
    (tmp_path / "in" / "notes.xyz").write_text("not an image")
    inputs = [tmp_path / "in" / n for n in ("truncated.tif", "text.tif", "notes.xyz")] + files

    def outcome(report, out):
        return {r.input.name: (r.status, r.message.replace(str(out), "OUT")) for r in report.results}

    local = run(resolved(plan(inputs, tmp_path / "local", kit=kit), kit), workers=1)
    report = run_distributed(resolved(plan(inputs, tmp_path / "dask", kit=kit), kit),
                             scheduler=client.scheduler.address)  # a scheduler address, as --scheduler gives

    assert report.exit_code == local.exit_code == 1
    assert outcome(report, tmp_path / "dask") == outcome(local, tmp_path / "local")
    failed = {r.input.name: r.message for r in report.failed}
    assert set(failed) == {"truncated.tif", "text.tif", "notes.xyz"}
    assert all(name in msg for name, msg in failed.items())
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == sorted(f.name for f in files)
    assert not leftovers(tmp_path / "dask")


def test_relative_paths_reach_workers_and_are_reported_as_given(tmp_path, kit, client, monkeypatch):
    write_frames(tmp_path / "in", 3)
    (tmp_path / "in" / "text.tif").write_text("this is not a TIFF\n" * 20)
    monkeypatch.chdir(tmp_path)  # the workers' working folder stays elsewhere
    inputs = sorted(Path("in").iterdir())

    def outcome(report):
        return sorted((str(r.input), r.output.name, r.status, r.message.replace("local", "OUT").replace("dask", "OUT"))
                      for r in report.results)

    local = run(resolved(plan(inputs, Path("local"), kit=kit), kit), workers=1)
    report = run_on_client(resolved(plan(inputs, Path("dask"), kit=kit), kit), client)
    assert outcome(report) == outcome(local) and report.exit_code == 1
    assert [r.input for r in report.failed] == [Path("in/text.tif")]
    assert "in/text.tif" in report.failed[0].message and str(tmp_path) not in report.failed[0].message
    assert all(sha(Path("dask") / f.name) == sha(Path("local") / f.name) for f in inputs if f.name != "text.tif")


def test_cli_scheduler_local_runs_the_batch_with_progress_and_exit_code(tmp_path, kit):
    import subprocess

    files = write_frames(tmp_path / "in", 4)
    (tmp_path / "in" / "broken.tif").write_bytes(b"II*\0 truncated")
    before = {p.name: sha(p) for p in (tmp_path / "in").iterdir()}
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "mountkit", "correct", str(tmp_path / "in"), "-o", str(out),
                          "--lens", LENS_NAME, "--crop-factor", "2.64", "--aperture", "2",
                          "--scheduler", "local:1"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "4 corrected, 1 failed" in res.stdout
    assert "failed" in res.stderr and "broken.tif" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in files)
    options = Options(lens=LENS_NAME, crop_factor=2.64, aperture=2.0)  # the flags given above
    local = run([(j, resolve(j, options, kit=kit), None) for j in plan(files, tmp_path / "local", kit=kit)],
                workers=1)
    assert local.exit_code == 0
    for r in local.results:
        assert sha(out / r.output.name) == sha(r.output)
    assert {p.name: sha(p) for p in (tmp_path / "in").iterdir()} == before


def test_cli_scheduler_usage_errors(tmp_path, kit, monkeypatch):
    from mountkit.cli import make_cli

    write_frames(tmp_path / "in", 1)
    args = ["correct", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--lens", LENS_NAME,
            "--crop-factor", "2.64", "--aperture", "2"]
    runner = CliRunner()
    res = runner.invoke(make_cli(), [*args, "--scheduler", "local:2", "-j", "2"])
    assert res.exit_code == 2 and "-j/--workers sizes the local process pool" in res.output
    res = runner.invoke(make_cli(), [*args, "--scheduler", "over-there"])
    assert res.exit_code == 2 and "'over-there': not a scheduler address" in res.output
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask.distributed were not installed
    res = runner.invoke(make_cli(), [*args, "--scheduler", "local:2"])
    assert res.exit_code == 2 and "pip install 'mountkit[distributed]'" in res.output
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_named():
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with connect("tcp://127.0.0.1:9", timeout=1):
            pass


def test_tasks_that_kill_their_worker_or_raise_are_reported_and_the_rest_complete(tmp_path, kit, client):
    import concurrent.futures as cf

    files = write_frames(tmp_path / "in", 4)
    poison, raises = files[1].name, files[2].name

    def job(src, dest, settings):  # one frame takes its worker down (think: out of memory), one raises
        if src.name == poison:
            os._exit(1)
        if src.name == raises:
            raise RuntimeError("decoder crashed on purpose")
        return correct_file(src, dest, settings)

    report = run_on_client(resolved(plan(files, tmp_path / "dask", kit=kit), kit), client, job_fn=job)
    assert report.exit_code == 1
    failed = {r.input.name: r.message for r in report.failed}
    assert set(failed) == {poison, raises}
    assert failed[poison].startswith(f"{files[1]}: the worker process died (")
    assert failed[poison].endswith("; out of memory?")
    with cf.ThreadPoolExecutor(1) as ex:  # the local batch's words for a job that raises
        local = run([w for w in resolved(plan(files, tmp_path / "local", kit=kit), kit) if w[0].input.name == raises],
                    executor=ex, job_fn=job)
    assert failed[raises] == local.failed[0].message == f"{files[2]}: RuntimeError: decoder crashed on purpose"
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == sorted(f.name for f in files[::3])
    client.wait_for_workers(2, timeout=120)


def test_killed_worker_loses_and_duplicates_nothing(tmp_path, kit, client):
    files = write_frames(tmp_path / "in", 40)
    local = run(resolved(plan(files, tmp_path / "local", kit=kit), kit), workers=1)
    pids = client.run(os.getpid)
    killed = {}

    def kill_after_three(result):
        if len(seen) == 3:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            worker = sorted(busy)[0]
            killed.update(worker=worker, pid=pids[worker], tasks=len(busy[worker]), done=len(seen))
            os.kill(pids[worker], signal.SIGKILL)

    seen = []
    report = run_on_client(resolved(plan(files, tmp_path / "dask", kit=kit), kit), client,
                           on_result=lambda r: (seen.append(r), kill_after_three(r)))

    assert killed["tasks"] >= 1 and killed["done"] == 3  # the worker died holding work, early in the batch
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert killed["worker"] not in client.scheduler_info()["workers"]
    assert report.exit_code == 0, report.failed[:1]
    assert sorted(r.input.name for r in report.results) == sorted(f.name for f in files)  # each file once
    outputs = sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert outputs == sorted(f.name for f in files) and not leftovers(tmp_path / "dask")
    for r in local.results:
        assert sha(tmp_path / "dask" / r.output.name) == sha(r.output), r.output.name
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the worker for later use


# -- the pieces, in this process ----------------------------------------------------------------


def test_retried_task_keeps_what_an_earlier_attempt_finished(tmp_path, kit):
    src = write_frames(tmp_path / "in", 1)[0]
    [job] = plan([src], tmp_path / "out", kit=kit)
    [(_, s, _)] = resolved([job], kit)
    dest = job.output

    # no output when the batch submitted the task; an earlier attempt wrote it, then its worker died
    first = correct_file(src, dest, s)
    assert first.status == "ok"
    written = (stamp(dest), sha(dest))
    again = correct_task(src, dest, s, before=None)
    assert again.status == "ok" and EARLIER_ATTEMPT in again.notes
    assert again.record == read_record(dest) and again.record["input"] == src.name
    assert (stamp(dest), sha(dest)) == written  # nothing rewritten

    # the output was there before the batch: refused exactly as the local batch refuses it
    kept = correct_task(src, dest, s, before=stamp(dest))
    assert (kept.status, kept.message) == ("failed", correct_file(src, dest, s).message)
    assert "already exists; pass --overwrite" in kept.message and (stamp(dest), sha(dest)) == written

    # someone else's file that appeared meanwhile is not taken for ours, nor replaced
    other = tmp_path / "out" / "other.tif"
    other.write_bytes(b"precious")
    r = correct_task(src, other, s, before=None)
    assert r.status == "failed" and "already exists" in r.message and other.read_bytes() == b"precious"

    # --overwrite: an old output is replaced once; the retry then keeps the replacement
    old = stamp(dest)
    s_over = dataclasses.replace(s, overwrite=True)
    assert correct_task(src, dest, s_over, before=old).status == "ok"
    replaced = stamp(dest)
    assert replaced != old
    retry = correct_task(src, dest, s_over, before=old)
    assert retry.status == "ok" and EARLIER_ATTEMPT in retry.notes and stamp(dest) == replaced


def test_remove_partial_files_takes_exactly_the_writers_temporaries(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    outputs = [out / "a.tif", out / "b[1].jpg", out / "sub" / "c.tif"]
    temps = [temp_path_for(o) for o in outputs] + [temp_path_for(outputs[0])]
    keep = [out / "a.tif", temp_path_for(out / "other.tif"), out / f".a.tif{PART_SUFFIX}.txt",
            out / "sub" / f"c.tif.1234{PART_SUFFIX}"]
    for p in temps + keep:
        p.write_bytes(b"x")
    assert sorted(p for o in outputs for p in partial_files(o)) == sorted(temps)  # the same names as atomic.py
    assert remove_partial_files(outputs) == len(temps)
    assert not any(p.exists() for p in temps) and all(p.exists() for p in keep)
    assert remove_partial_files([tmp_path / "missing" / "x.tif"]) == 0


def _settings_for(apertures: list[float]) -> list[tuple[Job, FileSettings]]:
    lens = make_lens()
    return [(Job(Path(f"in/{i}.tif"), Path(f"out/{i}.tif")),
             FileSettings(lens=lens, crop_factor=2.64, focal=35.0, aperture=a, distance=1000.0,
                          why=(("aperture", f"frame {i}"),)))
            for i, a in enumerate(apertures)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([1.4, 2.0, 2.8, 4.0, 5.6]), max_size=30))
def test_order_by_settings_groups_stably(apertures):
    items = _settings_for(apertures)
    ordered = order_by_settings(items)
    assert sorted(j.input for j, _ in ordered) == sorted(j.input for j, _ in items)  # a permutation
    keys = [settings_key(s) for _, s in ordered]
    runs = [k for i, k in enumerate(keys) if i == 0 or k != keys[i - 1]]
    assert len(runs) == len(set(keys))  # each group contiguous
    first_seen = list(dict.fromkeys(settings_key(s) for _, s in items))
    assert runs == first_seen  # groups in order of first appearance
    for k in first_seen:  # file order kept within a group
        group = [j.input for j, s in ordered if settings_key(s) == k]
        assert group == [j.input for j, s in items if settings_key(s) == k]


def test_settings_key_ignores_what_does_not_change_the_map():
    (_, a), (_, b) = _settings_for([2.0, 2.0])
    assert a.why != b.why and settings_key(a) == settings_key(b)
    assert settings_key(a) != settings_key(dataclasses.replace(a, interpolation="lanczos3"))


@pytest.mark.parametrize("spec, expect", [
    ("local:3", Scheduler(local_workers=3)),
    ("tcp://10.1.2.3:8786", Scheduler(address="tcp://10.1.2.3:8786")),
    ("tls://sched.example:8786", Scheduler(address="tls://sched.example:8786")),
    ("sched.example:8786", Scheduler(address="tcp://sched.example:8786")),
])
def test_parse_scheduler_forms(spec, expect):
    assert parse_scheduler(spec) == expect


def test_parse_scheduler_rejects_with_the_forms(tmp_path):
    assert parse_scheduler("local").local_workers >= 1
    for bad, why in (("local:0", "whole number >= 1"), ("local:two", "whole number >= 1"),
                     ("tcp://", "no host"), ("nowhere", "not a scheduler address"),
                     (str(tmp_path / "missing.json"), "no such scheduler file")):
        with pytest.raises(ClusterError, match=why):
            parse_scheduler(bad)
    f = tmp_path / "scheduler.json"
    f.write_text("{}")
    assert parse_scheduler(str(f)) == Scheduler(scheduler_file=str(f))


def test_local_cluster_processes_start_with_ctrl_c_ignored():
    import subprocess

    from mountkit.distributed import _sigint_ignored

    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    with _sigint_ignored():
        inside = subprocess.run(probe, capture_output=True, text=True, timeout=60).stdout.strip()
    after = subprocess.run(probe, capture_output=True, text=True, timeout=60).stdout.strip()
    assert (inside, after) == ("True", "False")  # workers inherit it; this process gets its handler back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
