"""Batch correction on a Dask cluster: the jobs of :mod:`mountkit.batch` as ``dask.distributed`` tasks.

The batch is planned and resolved exactly as for the local process pool
(:func:`mountkit.batch.plan`, :func:`mountkit.batch.resolve`); only the
running differs.  Each file becomes one task that calls
:func:`mountkit.batch.correct_file` on a worker, so workers read the inputs
and write the outputs themselves: inputs and OUTDIR must be at the same path
on every worker (a shared file system).

- **Grouping.**  Tasks are submitted grouped by the settings that decide the
  correction map (:func:`settings_key`), in first-appearance order, so the
  workers finish one group before starting the next and each worker's
  corrector cache builds a group's map once.
- **Progress.**  Results are reported through ``on_result`` as tasks complete
  (``distributed.as_completed``); the scheduler holds at most
  ``max_in_flight`` tasks at a time, so a batch of any size costs it little
  memory.
- **Errors.**  Per-file failures are the :class:`~mountkit.batch.FileResult`
  that ``correct_file`` returns, identical to the local batch's; a task that
  raises or whose workers keep dying is reported like a failed worker in the
  local pool.  :attr:`ClusterReport.exit_code` is 1 when any file failed.
- **Faults.**  When a worker dies, Dask runs its tasks again elsewhere.  The
  outputs are written atomically (temporary file + rename, by
  ``correct_file``), and a retried task is idempotent: the driver stamps each
  output (size, mtime) when it submits the task, and a task that finds
  its output changed since then, carrying the record of its own input, was
  finished by an earlier attempt whose worker died before reporting: it
  returns that result and writes nothing.  Temporary files of attempts that
  died are removed when the batch ends (:func:`remove_partial_files`).

Examples
--------
>>> from mountkit.distributed import parse_scheduler
>>> parse_scheduler("local:4")
Scheduler(address=None, local_workers=4, scheduler_file=None)
>>> parse_scheduler("tcp://10.0.0.5:8786").address
'tcp://10.0.0.5:8786'

With a client of your own (any cluster: LocalCluster, dask-jobqueue,
dask-kubernetes, ``dask scheduler`` + ``dask worker``)::

    from distributed import Client
    from mountkit.batch import Options, plan, resolve
    from mountkit.distributed import run_on_client

    jobs = plan(["/shared/roll"], "/shared/out")
    work = [(j, resolve(j, Options(aperture=2.0)), None) for j in jobs]
    with Client("tcp://scheduler:8786") as client:
        report = run_on_client(work, client, on_result=print)
    raise SystemExit(report.exit_code)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .batch import BatchReport, FileResult, FileSettings, Job, correct_file, default_workers
from .errors import MountkitError

#: How to install what ``--scheduler`` needs.
INSTALL_HINT = "pip install 'mountkit[distributed]'"
#: Note on a result that an earlier attempt of the same task produced (its worker died before reporting).
EARLIER_ATTEMPT = "written by an earlier attempt of this task, whose worker died before reporting it"
#: URL schemes of Dask's communication layers.
_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "ucx://", "inproc://")

#: (size, mtime in ns) of an output, or None when it does not exist.
Stamp = tuple[int, int] | None


class ClusterError(MountkitError):
    """The cluster cannot run the batch: Dask missing, scheduler unreachable, files not visible to workers."""


# -- choosing the cluster ------------------------------------------------------------------


@dataclass(frozen=True)
class Scheduler:
    """Where to run: a scheduler's address, a scheduler file, or a LocalCluster of ``local_workers`` processes."""

    address: str | None = None
    local_workers: int | None = None
    scheduler_file: str | None = None

    def describe(self) -> str:
        if self.local_workers is not None:
            return f"local:{self.local_workers}"
        return self.address or f"scheduler file {self.scheduler_file}"


def parse_scheduler(spec: str) -> Scheduler:
    """Read a ``--scheduler`` value.

    ``local`` (one worker process per CPU) or ``local:N`` starts a
    LocalCluster on this machine; ``tcp://HOST:PORT`` (or ``tls://``,
    ``ws://``, ``wss://``, ``ucx://``, or plain ``HOST:PORT``) connects to a
    running scheduler; a path to an existing ``.json`` file is a scheduler
    file (``dask scheduler --scheduler-file``, dask-mpi, HPC job scripts).

    Raises
    ------
    ClusterError
        naming the value and the forms accepted.
    """
    text = spec.strip()
    forms = "use local, local:N, tcp://HOST:PORT or a scheduler file (.json)"
    if text == "local":
        return Scheduler(local_workers=default_workers())
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--scheduler {spec!r}: N in local:N must be a whole number >= 1")
        return Scheduler(local_workers=int(n))
    if text.lower().startswith(_SCHEMES):
        if not text.split("://", 1)[1]:
            raise ClusterError(f"--scheduler {spec!r}: no host after the scheme; {forms}")
        return Scheduler(address=text)
    if text.endswith(".json"):
        if not Path(text).is_file():
            raise ClusterError(f"--scheduler {spec!r}: no such scheduler file; {forms}")
        return Scheduler(scheduler_file=text)
    host, sep, port = text.rpartition(":")
    if sep and host and port.isdigit() and "/" not in host:
        return Scheduler(address=f"tcp://{text}")
    raise ClusterError(f"--scheduler {spec!r}: not a scheduler address; {forms}")


def require_distributed():
    """Import ``distributed``, or raise :class:`ClusterError` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(f"running on a Dask cluster needs dask.distributed, which is not installed "
                           f"({exc}); install it with: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def connect(scheduler: str | Scheduler, *, timeout: float = 30.0) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed on exit.

    A ``local`` scheduler starts a LocalCluster of single-threaded worker
    processes listening on the loopback interface only, and stops it on
    exit; a remote cluster is only disconnected from, never shut down.

    Raises
    ------
    ClusterError
        when Dask is missing or the scheduler cannot be reached.
    """
    distributed = require_distributed()
    spec = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    if spec.local_workers is not None:
        with _sigint_ignored():  # inherited by the worker processes: Ctrl-C reaches only this process
            cluster = distributed.LocalCluster(n_workers=spec.local_workers, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=None,
                                               silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    where = spec.describe()
    try:
        if spec.scheduler_file is not None:
            client = distributed.Client(scheduler_file=spec.scheduler_file, timeout=timeout)
        else:
            client = distributed.Client(spec.address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {where}: {exc}; is `dask scheduler` running "
                           "there and its port (8786 by default) reachable from here?") from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while processes are started (they keep ignoring it), as the local pool's workers do.

    On Ctrl-C in a terminal every process of the foreground group gets
    SIGINT; the workers should not die of it mid-write, but be stopped by
    this process, which then removes their unfinished files.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the task ----------------------------------------------------------------------------------


def stamp(path: str | os.PathLike) -> Stamp:
    """(size, mtime in ns) of ``path``, or None when there is no such file.

    Both come from the file server on a shared file system, so the client
    and every worker see the same stamp (inode numbers can differ between
    clients of an SMB share).
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def correct_task(src: str | os.PathLike, dest: str | os.PathLike, settings: FileSettings, before: Stamp,
                 job_fn: Callable[[Path, Path, FileSettings], FileResult] = correct_file) -> FileResult:
    """One file as a Dask task: :func:`~mountkit.batch.correct_file`, idempotent under retries.

    ``before`` is the output's :func:`stamp` when the batch submitted the
    task.  If the output has changed since and holds the record of this
    input, an earlier attempt of this task wrote it (its worker died before
    the scheduler heard of it): the result is read back from the file and
    nothing is written.  Otherwise ``job_fn`` runs as in the local batch
    (refusing an existing output unless the settings say overwrite).
    """
    _restore_malloc_thresholds()
    src, dest = Path(src), Path(dest)
    now = stamp(dest)
    if now is not None and now != before:
        finished = _finished_earlier(src, dest)
        if finished is not None:
            return finished
    return job_fn(src, dest, settings)


_MALLOC_RESTORED: list[bool] = []  # per process: done once


def _restore_malloc_thresholds() -> None:
    """Undo, in this worker process, what Dask's ``MALLOC_TRIM_THRESHOLD_`` does to the correction's speed.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``), which turns off glibc's
    adaptive thresholds: every array over 128 KiB is then mmap'ed and
    page-faulted anew.  The correction makes many such temporary arrays:
    4096 x 3072 DNGs took 5x the minor page faults and more system time, and
    on a busy machine up to twice the wall time (docs/distributed.md).  Set the ceilings of glibc's own adaptive
    thresholds instead (mmap 32 MiB, trim 64 MiB; mallopt(3)), once.
    """
    if _MALLOC_RESTORED:
        return
    _MALLOC_RESTORED.append(True)
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def _finished_earlier(src: Path, dest: Path) -> FileResult | None:
    from .io.metadata import read_record

    try:
        record = read_record(dest)
    except Exception:  # not an output of ours: correct_file decides (refuse, or overwrite)
        return None
    if not isinstance(record, dict) or record.get("input") != src.name:
        return None
    return FileResult(src, dest, "ok", "", 0.0, record, (EARLIER_ATTEMPT,))


def remove_partial_files(outputs: Iterable[str | os.PathLike]) -> int:
    """Remove the temporary files left for ``outputs`` by writers that died; return how many.

    Lists each output folder once (the names are those of
    :func:`mountkit.io.atomic.temp_path_for`: ``.NAME.<hex>.mountkit-part``).
    """
    from .io.atomic import PART_SUFFIX

    by_folder: dict[Path, set[str]] = {}
    for out in outputs:
        out = Path(out)
        by_folder.setdefault(out.parent, set()).add(out.name)
    removed = 0
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(".") and name.endswith(PART_SUFFIX)):
                continue
            target = name[1:-len(PART_SUFFIX)].rpartition(".")[0]
            if target in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


# -- grouping ---------------------------------------------------------------------------------


def settings_key(s: FileSettings) -> tuple:
    """The settings that decide a correction map: files with equal keys share one corrector."""
    lens = s.lens
    return (lens.maker, lens.model, lens.source, s.crop_factor, s.focal, s.aperture, s.distance,
            tuple(s.corrections), s.interpolation, str(s.scale), s.vignetting_strength,
            type(getattr(s, "embedded", None)).__name__)


def order_by_settings(runnable: Sequence[tuple[Job, FileSettings]]) -> list[tuple[Job, FileSettings]]:
    """The jobs grouped by :func:`settings_key`: groups in order of first appearance, jobs in order within.

    Examples
    --------
    With settings A, B, A, C, B the order is A, A, B, B, C.
    """
    groups: dict[tuple, list[tuple[Job, FileSettings]]] = {}
    for job, s in runnable:
        groups.setdefault(settings_key(s), []).append((job, s))
    return [item for group in groups.values() for item in group]


# -- running ------------------------------------------------------------------------------------


@dataclass
class ClusterReport(BatchReport):
    """A :class:`~mountkit.batch.BatchReport` with what happened on the cluster."""

    scheduler: str = ""
    workers: int = 0  # workers connected when the batch started
    earlier_attempts: int = 0  # outputs found finished by an attempt whose worker died before reporting
    partial_files_removed: int = 0  # temporary files of attempts that died, removed at the end
    seconds: float = 0.0


def check_workers_see(client, job: Job) -> None:
    """Raise :class:`ClusterError` unless every connected worker sees ``job``'s input and output folder."""
    results = client.run(_sees, os.fspath(job.input), os.fspath(job.output.parent))
    blind = [(w, what) for w, what in sorted(results.items()) if what]
    if blind:
        worker, what = blind[0]
        raise ClusterError(f"worker {worker} cannot see {what} ({len(blind)} of {len(results)} workers): inputs "
                           "and OUTDIR must be at the same path on every worker, on a shared file system "
                           "(see docs/distributed.md)")


def _sees(path: str, out_folder: str) -> str:
    """Runs on a worker: '' when it can read ``path`` and write under ``out_folder``, else what is missing."""
    if not os.access(path, os.R_OK):
        return f"the input {path}"
    folder = Path(out_folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        return f"a writable output folder at {out_folder}"
    return ""


def run_on_client(work: Sequence[tuple[Job, FileSettings | None, str | None]], client, *,
                  on_result: Callable[[FileResult], None] | None = None,
                  job_fn: Callable[[Path, Path, FileSettings], FileResult] = correct_file,
                  max_in_flight: int | None = None, check_paths: bool = True) -> ClusterReport:
    """Run the jobs as tasks on a ``distributed.Client``; the caller owns the client.

    Parameters
    ----------
    work : sequence of (Job, FileSettings or None, error or None)
        As for :func:`mountkit.batch.run`: jobs whose settings could not be
        resolved are reported failed at once, with their error.
    client : distributed.Client
    on_result : callable, optional
        Called with each :class:`~mountkit.batch.FileResult` as its task completes.
    job_fn : callable
        ``job_fn(input, output, settings)`` run on the workers (must be
        importable there); :func:`~mountkit.batch.correct_file` by default.
    max_in_flight : int, optional
        Tasks held by the scheduler at once (default: 4 per worker thread,
        at least 32, following the cluster as it grows).
    check_paths : bool
        First ask every worker whether it sees the first input and can write
        the output folder (one round trip), to fail early on a cluster
        without the shared file system.

    Returns
    -------
    ClusterReport
        results in completion order; ``exit_code`` 1 when any file failed.

    Raises
    ------
    ClusterError
        when the workers cannot see the files.
    """
    distributed = require_distributed()
    t0 = time.perf_counter()
    report = ClusterReport(scheduler=str(getattr(client.scheduler, "address", "") or ""),
                           workers=len(client.nthreads()))

    def done(r: FileResult) -> None:
        report.results.append(r)
        if on_result is not None:
            on_result(r)

    runnable = []
    for job, settings, error in work:
        if error is not None or settings is None:
            done(FileResult(job.input, job.output, "failed", error or job.error or "no settings"))
        else:
            runnable.append((job, settings))
    if not runnable:
        return report

    ordered = iter(order_by_settings(runnable))
    batch_id = uuid.uuid4().hex[:12]
    jobs: dict[str, tuple[Job, Path, Path]] = {}
    pending = distributed.as_completed(loop=client.loop, with_results=True, raise_errors=False)
    counter = 0

    def window() -> int:
        if max_in_flight is not None:
            return max(1, max_in_flight)
        return max(32, 4 * sum(client.nthreads().values()))

    def submit(n: int) -> None:
        nonlocal counter
        for job, settings in ordered:
            key = f"mountkit-correct-{batch_id}-{counter}"
            counter += 1
            src, dest = _absolute(job.input), _absolute(job.output)  # workers have another working folder
            jobs[key] = (job, src, dest)
            pending.add(client.submit(correct_task, src, dest, settings, stamp(dest), job_fn, key=key, pure=False))
            n -= 1
            if n <= 0:
                return

    finished = 0
    try:
        if check_paths and report.workers:
            first = runnable[0][0]
            check_workers_see(client, replace(first, input=_absolute(first.input), output=_absolute(first.output)))
        limit = window()
        submit(limit)
        for fut, value in pending:  # results are gathered in the background, as they complete
            job, src, dest = jobs.pop(fut.key)
            r = _as_planned(value if fut.status == "finished" else _task_failure(job, fut), job, src, dest)
            fut.release()
            if EARLIER_ATTEMPT in r.notes:
                report.earlier_attempts += 1
            done(r)
            finished += 1
            if max_in_flight is None and finished % 32 == 0:
                limit = window()
            submit(max(1, limit - pending.count()))
    except KeyboardInterrupt:
        report.interrupted = True
        _cancel(client, pending)
    except BaseException:  # the tasks are the batch's: none outlives it on a client the caller keeps
        _cancel(client, pending)
        raise
    finally:
        report.partial_files_removed = remove_partial_files(job.output for job, _ in runnable)
        report.seconds = time.perf_counter() - t0
    return report


def _cancel(client, pending) -> None:
    with contextlib.suppress(Exception):
        client.cancel(list(pending.futures))


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else Path(os.path.abspath(path))


def _as_planned(r: FileResult, job: Job, src: Path, dest: Path) -> FileResult:
    """``r`` with the job's paths as planned (relative ones stay relative), as the local batch reports them."""
    if (src, dest) == (job.input, job.output):
        return r
    pairs = sorted(((str(src), str(job.input)), (str(dest), str(job.output))), key=lambda p: -len(p[0]))

    def planned(text: str) -> str:
        for absolute, given in pairs:
            text = text.replace(absolute, given)
        return text

    return replace(r, input=job.input, output=job.output, message=planned(r.message),
                   notes=tuple(planned(n) for n in r.notes))


def _task_failure(job: Job, fut) -> FileResult:
    """The result of a task that did not return one, worded as the local batch words a failed worker."""
    from distributed import KilledWorker

    if fut.status == "cancelled":
        return FileResult(job.input, job.output, "failed", f"{job.input}: the task was cancelled on the cluster")
    exc = fut.exception()
    if isinstance(exc, KilledWorker):
        return FileResult(job.input, job.output, "failed",
                          f"{job.input}: the worker process died ({exc}); out of memory?")
    return FileResult(job.input, job.output, "failed", f"{job.input}: {type(exc).__name__}: {exc}")


def run(work: Sequence[tuple[Job, FileSettings | None, str | None]], *, scheduler, workers: int | None = None,
        on_result: Callable[[FileResult], None] | None = None,
        job_fn: Callable[[Path, Path, FileSettings], FileResult] = correct_file) -> ClusterReport:
    """Run the jobs on a Dask cluster: the counterpart of :func:`mountkit.batch.run`.

    Parameters
    ----------
    scheduler : str, Scheduler or distributed.Client
        A ``--scheduler`` value (see :func:`parse_scheduler`), or a client
        of your own (left open).
    workers : None
        Accepted for the signature of :func:`mountkit.batch.run`; the
        cluster's size comes from ``scheduler`` (``local:N``).
    """
    if workers is not None:
        raise ClusterError("workers sizes the local process pool; on a cluster give local:N or size the cluster")
    if not isinstance(scheduler, (str, Scheduler)):
        return run_on_client(work, scheduler, on_result=on_result, job_fn=job_fn)
    spec = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    report = ClusterReport(scheduler=spec.describe())
    try:
        with connect(spec) as client:
            report = run_on_client(work, client, on_result=on_result, job_fn=job_fn)
    except KeyboardInterrupt:  # while the cluster started or stopped
        report.interrupted = True
    finally:
        if spec.local_workers is not None:  # stopping local workers may cut writes short
            n = remove_partial_files(job.output for job, s, e in work if e is None and s is not None)
            report.partial_files_removed += n
    return report


def runner_for(scheduler: str, workers: int | None = None) -> Callable[..., ClusterReport]:
    """The ``run`` function the ``correct`` command uses for ``--scheduler`` (checked before any work).

    Raises
    ------
    ClusterError
        for a malformed value, ``-j`` given with it, or Dask not installed.
    """
    spec = parse_scheduler(scheduler)
    if workers is not None:
        raise ClusterError("-j/--workers sizes the local process pool; with --scheduler give local:N, "
                           "or size the cluster itself")
    require_distributed()
    return functools.partial(_run_for_cli, scheduler=spec)


def _run_for_cli(work, *, scheduler: Scheduler, workers: int | None = None, on_result=None) -> ClusterReport:
    return run(work, scheduler=scheduler, on_result=on_result)
