"""The driver side of ``--executor ray``: worker actors, a dispatcher thread, retries.

Why not ``ray.util.ActorPool``: it blocks the caller for results and has no
answer to a worker dying.  Here ``submit`` returns a ``concurrent.futures.Future``
at once (``run_batch`` waits on those in the order files were found and writes
the database itself), and one dispatcher thread owns every Ray call after
start-up: it gives queued files to idle workers, collects results as they
finish (in any order), and when a worker dies it replaces the worker and hands
its file to another; a file whose processing fails twice comes back as a
``FileFailed`` with both errors, so the run always finishes.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..calls import ingest
from ..engines import kernels
from ..errors import FileFailed, FlowError
from ..filework import Prepared, file_language
from ..options import SHIP_MODES
from ..store import StoreError
from .worker import NEED_BYTES, Failed, Outcome, TranscribeWorker, forwarded_env, worker_options

if TYPE_CHECKING:
    from ..filework import FileWork

START_TIMEOUT_S = 600.0  # a worker that has not loaded its model by then is given up on
ATTEMPTS = 2  # a file is tried on at most this many workers
_POLL_S = 0.2
RAY_MISSING = ("the Ray executor needs the optional Ray extra: pip install 'call-evidence[ray]' "
               "(or run without --executor ray)")


def import_ray():
    """``ray``, or a FlowError saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise FlowError(RAY_MISSING) from e
    return ray


@dataclass
class _Job:
    src: ingest.SourceFile
    run_id: int
    future: Future
    errors: list[str] = field(default_factory=list)
    tried_on: set[str] = field(default_factory=set)
    ship: bool = False


@dataclass
class _Worker:
    """One actor and what it has done (the throughput summary's row)."""

    name: str
    handle: Any
    started: float
    info: dict[str, Any] = field(default_factory=dict)
    needs_bytes: bool = False  # "auto": it could not see the originals, so it is sent them
    shipped: int = 0  # files sent to it as bytes
    files: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    busy_seconds: float = 0.0
    died: str | None = None

    def row(self) -> dict[str, Any]:
        busy = self.busy_seconds
        return {"name": self.name, "host": self.info.get("host", "?"), "pid": self.info.get("pid"),
                "device": self.info.get("device", "?"), "files": self.files, "failed": self.failed,
                "audio_seconds": round(self.audio_seconds, 2), "busy_seconds": round(busy, 2),
                "realtime_factor": round(self.audio_seconds / busy, 2) if busy else None,
                "shipped_files": self.shipped, "died": self.died,
                "kernels": (self.info.get("engine_settings") or {}).get("kernels") or {}}


class RemoteEngine:
    """What the workers loaded, for the run record (the driver loads no model)."""

    def __init__(self, info: dict[str, Any]):
        self.model_name = info["model_name"]
        self.model_sha256 = info["model_sha256"]
        self._version = info["engine_version"]
        self._settings = dict(info["engine_settings"])
        self._workers: list[dict[str, Any]] = []

    def add_worker(self, info: dict[str, Any]) -> None:
        """Each started worker's host and kernels go into the run record."""
        row = {"host": info.get("host"), "pid": info.get("pid"),
               "kernels": (info.get("engine_settings") or {}).get("kernels") or {}}
        if row not in self._workers:
            self._workers.append(row)
            self._settings["workers"] = list(self._workers)

    def version(self) -> str:
        return self._version

    def settings(self) -> dict:
        return self._settings


class RayExecutor:
    """``submit(src, run_id) -> Future`` backed by Ray worker actors."""

    def __init__(self, pipeline: FileWork):
        ray = import_ray()
        self.ray = ray
        self.pipeline = pipeline
        o = pipeline.options
        self.ro = o.ray
        if self.ro.ship_bytes not in SHIP_MODES:
            raise FlowError(f"ship_bytes must be one of {', '.join(SHIP_MODES)}, not {self.ro.ship_bytes!r}")
        self._died_errors = tuple(getattr(ray.exceptions, n) for n in (
            "RayActorError", "WorkerCrashedError", "ObjectLostError", "NodeDiedError",
            "LocalRayletDiedError") if hasattr(ray.exceptions, n))
        self._owns_cluster = not ray.is_initialized()
        if self._owns_cluster:
            try:
                ray.init(address=self.ro.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except Exception as e:  # noqa: BLE001 - any start/connect problem stops the run
                where = self.ro.address or "a local Ray cluster"
                raise FlowError(f"cannot start or join {where}: {type(e).__name__}: {e}") from e
        threads = o.threads or max(1, round(self.ro.cpus_per_worker))
        device = "cpu" if self.ro.gpus_per_worker == 0 and o.device == "auto" else o.device
        opts = worker_options(o, threads, device)
        actor = ray.remote(TranscribeWorker).options(
            num_cpus=self.ro.cpus_per_worker, num_gpus=self.ro.gpus_per_worker,
            max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD")
        detector = ray.put(pipeline.detector)
        # The kernel-choosing environment set here (CT2_FORCE_CPU_ISA...) goes to every worker,
        # so their words come from the path this machine's would (engines/kernels.py).
        env = {**forwarded_env(), **kernels.forwarded_env()}
        self._new_actor = lambda: actor.remote(opts, detector, env)
        self._names = (f"w{i}" for i in itertools.count(1))
        self._inbox: queue.Queue[_Job | None] = queue.Queue()
        self._waiting: deque[_Job] = deque()
        self._idle: deque[_Worker] = deque()
        self._in_flight: dict[Any, tuple[_Worker, _Job, float]] = {}
        self._starting: dict[Any, _Worker] = {}
        self._all: list[_Worker] = []
        self._stage_seconds: dict[str, float] = defaultdict(float)
        self._closing = False
        try:
            self._start_workers(self._worker_count())
        except BaseException:
            self._stop_ray()
            raise
        self.slots = max(1, len(self._idle) * max(1, self.ro.in_flight_per_worker))
        pipeline.remote_engine = RemoteEngine(self._idle[0].info)
        for w in self._idle:
            pipeline.remote_engine.add_worker(w.info)
        self._thread = threading.Thread(target=self._loop, name="ray-dispatch", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ start-up
    def _worker_count(self) -> int:
        if self.ro.workers:
            return self.ro.workers
        res = self.ray.cluster_resources()
        if self.ro.gpus_per_worker:
            return max(1, int(res.get("GPU", 0) // self.ro.gpus_per_worker))
        return max(1, int(res.get("CPU", 1) // max(self.ro.cpus_per_worker, 0.001)))

    def _spawn(self) -> _Worker:
        w = _Worker(next(self._names), self._new_actor(), time.monotonic())
        self._all.append(w)
        self._starting[w.handle.ready.remote()] = w
        return w

    def _start_workers(self, n: int) -> None:
        """Start ``n`` workers and wait until each has loaded the model (or failed to)."""
        for _ in range(n):
            self._spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        errors: list[str] = []
        while self._starting and time.monotonic() < deadline:
            done, _ = self.ray.wait(list(self._starting), num_returns=1,
                                    timeout=max(0.1, deadline - time.monotonic()))
            for ref in done:
                err = self._started(ref)
                if err:
                    errors.append(err)
        for ref, w in list(self._starting.items()):  # never scheduled: not enough CPUs/GPUs
            self.ray.kill(w.handle)
            w.died = "did not start in time"
            del self._starting[ref]
        if not self._idle:
            why = errors[0] if errors else (
                f"none started within {START_TIMEOUT_S:.0f} s; does the cluster have "
                f"{self.ro.cpus_per_worker} CPU and {self.ro.gpus_per_worker} GPU free per worker?")
            raise FlowError(f"no Ray worker could start: {why}")
        if len(self._idle) < n:
            self.pipeline.log(f"Ray: {len(self._idle)} of {n} workers started; going on with those")

    def _started(self, ref) -> str | None:
        """A worker's ``ready`` finished: idle if its model loaded, else the error."""
        w = self._starting.pop(ref)
        try:
            w.info = self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 - reported, the run goes on with the others
            w.died = f"could not start: {_first_line(e)}"
            self.ray.kill(w.handle)
            return w.died
        self._idle.append(w)
        self._check_kernels(w)
        if isinstance(self.pipeline.remote_engine, RemoteEngine):  # a replacement worker
            self.pipeline.remote_engine.add_worker(w.info)
        return None

    def _check_kernels(self, w: _Worker) -> None:
        """Say so when a worker's CPU kernels differ from the driver's: its words can differ
        from a local run's (the run record keeps each worker's path)."""
        theirs = (w.info.get("engine_settings") or {}).get("kernels") or {}
        if not theirs or self.pipeline.options.engine != "faster-whisper":
            return
        ours = kernels.cpu_isa()
        if self.pipeline.options.cpu_isa is None and theirs.get("cpu_isa") != ours:
            self.pipeline.log(
                f"Ray: worker {w.name} on {w.info.get('host', '?')} runs CTranslate2 on the "
                f"{theirs.get('cpu_isa')} kernel path, this machine on {ours}: its transcripts may "
                "differ from a local run's in close words; pass --cpu-isa to make every node take "
                "one path (docs/reliability.md)")

    # ------------------------------------------------------------ driver thread
    def submit(self, src: ingest.SourceFile, run_id: int) -> Future:
        fut: Future = Future()
        self._inbox.put(_Job(src, run_id, fut))
        return fut

    def busy_pids(self) -> list[int]:
        """Process ids of the workers preparing a file right now (for tests and diagnostics)."""
        return [w.info["pid"] for w, _, _ in list(self._in_flight.values()) if "pid" in w.info]

    def shutdown(self) -> list[dict[str, Any]]:
        """Stop the dispatcher and the workers; per-worker throughput rows."""
        self._closing = True
        self._inbox.put(None)
        self._thread.join()
        for job in [*self._waiting, *(j for _, j, _ in self._in_flight.values())]:
            job.future.cancel()
        for stage, secs in self._stage_seconds.items():
            self.pipeline.stage_seconds[stage] += secs
        rows = [w.row() for w in self._all if w.info]
        self._stop_ray()
        return rows

    def _stop_ray(self) -> None:
        for w in self._all:
            try:
                self.ray.kill(w.handle)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
        if self._owns_cluster:
            self.ray.shutdown()

    # ------------------------------------------------------------ dispatcher thread
    def _loop(self) -> None:
        try:
            while not self._closing:
                self._take_inbox(block=not self._in_flight and not self._starting)
                self._dispatch()
                refs = [*self._in_flight, *self._starting]
                if not refs:
                    continue
                done, _ = self.ray.wait(refs, num_returns=1, timeout=_POLL_S)
                for ref in done:
                    if ref in self._starting:
                        err = self._started(ref)
                        if err:
                            self.pipeline.log(f"Ray: a replacement worker {err}")
                    else:
                        self._collect(ref)
                self._check_workers_left()
        except BaseException as e:  # noqa: BLE001 - hand it to run_batch instead of hanging it
            for job in [*self._waiting, *(j for _, j, _ in self._in_flight.values())]:
                if not job.future.done():
                    job.future.set_exception(e)
            self._drain_inbox_with(e)

    def _take_inbox(self, block: bool) -> None:
        try:
            job = self._inbox.get(timeout=_POLL_S) if block else self._inbox.get_nowait()
            while True:
                if job is None:
                    self._closing = True
                    return
                self._waiting.append(job)
                job = self._inbox.get_nowait()
        except queue.Empty:
            return

    def _drain_inbox_with(self, e: BaseException) -> None:
        while True:
            try:
                job = self._inbox.get(timeout=_POLL_S)
            except queue.Empty:
                if self._closing:
                    return
                continue
            if job is None:
                return
            job.future.set_exception(e)

    def _dispatch(self) -> None:
        while self._waiting and self._idle:
            job = self._waiting.popleft()
            if job.future.cancelled():
                continue
            w = self._pick(job)
            data = None
            if job.ship or w.needs_bytes or self.ro.ship_bytes == "always":
                try:
                    data = job.src.path.read_bytes()  # read-only; the worker keeps a private copy
                except OSError as e:
                    self._idle.appendleft(w)
                    job.future.set_result(FileFailed(self.pipeline.record_for(job.src, job.run_id),
                                                     f"cannot read file: {e.strerror or e}"))
                    continue
                w.shipped += 1
            language = file_language(job.src.path, self.pipeline.options.language)
            ref = w.handle.prepare.remote(job.src, job.run_id, language, data, self.ro.ship_bytes)
            job.tried_on.add(w.name)
            self._in_flight[ref] = (w, job, time.monotonic())

    def _pick(self, job: _Job) -> _Worker:
        """An idle worker, preferring one this file has not been tried on."""
        for i, w in enumerate(self._idle):
            if w.name not in job.tried_on:
                del self._idle[i]
                return w
        return self._idle.popleft()

    def _collect(self, ref) -> None:
        w, job, t0 = self._in_flight.pop(ref)
        w.busy_seconds += time.monotonic() - t0
        try:
            out: Outcome = self.ray.get(ref)
        except self._died_errors as e:
            w.died = _first_line(e)
            self.ray.kill(w.handle)
            self._spawn()
            self._retry_or_fail(job, f"its Ray worker {w.name} ({w.info.get('host')}, pid "
                                     f"{w.info.get('pid')}) stopped: {w.died}")
            return
        except self.ray.exceptions.RayTaskError as e:
            self._idle.append(w)
            cause = getattr(e, "cause", None) or e
            if isinstance(cause, (FlowError, StoreError)):  # the machine's problem: stop the run
                job.future.set_exception(FlowError(str(cause)))
                return
            self._retry_or_fail(job, f"on Ray worker {w.name}: {type(cause).__name__}: {_first_line(cause)}")
            return
        self._idle.append(w)
        if out.result == NEED_BYTES:
            w.needs_bytes = job.ship = True
            job.tried_on.discard(w.name)
            self._waiting.appendleft(job)
            return
        for stage, secs in out.stage_seconds.items():
            self._stage_seconds[stage] += secs
        if isinstance(out.result, Failed):
            w.failed += 1
            job.future.set_result(FileFailed(out.result.rec, out.result.message))
            return
        w.files += 1
        if isinstance(out.result, Prepared):
            w.audio_seconds += out.result.rec.get("duration") or 0.0
        job.future.set_result(out.result)

    def _retry_or_fail(self, job: _Job, error: str) -> None:
        job.errors.append(error)
        if len(job.errors) < ATTEMPTS:
            self.pipeline.log(f"Ray: retrying {ingest.display_path(job.src.path.name)}: {error}")
            self._waiting.appendleft(job)
            return
        message = f"failed on {ATTEMPTS} Ray workers: " + "; then ".join(job.errors)
        job.future.set_result(FileFailed(self.pipeline.record_for(job.src, job.run_id), message[:1000]))

    def _check_workers_left(self) -> None:
        """With no worker alive or starting, nothing queued can ever finish: stop the run."""
        for ref, w in list(self._starting.items()):  # a replacement the cluster has no room for
            if time.monotonic() - w.started > START_TIMEOUT_S:
                self.ray.kill(w.handle)
                w.died = "did not start in time"
                del self._starting[ref]
        if self._idle or self._in_flight or self._starting or not self._waiting:
            return
        raise FlowError("no Ray worker is left (they died and could not be replaced); "
                        "finished recordings are saved; run again to continue")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def describe_workers(rows: list[dict[str, Any]]) -> list[str]:
    """The per-worker throughput summary, one line each, for the CLI."""
    lines = []
    for r in rows:
        speed = f"{r['realtime_factor']}x real time" if r["realtime_factor"] else "-"
        gone = f", died: {r['died']}" if r["died"] else ""
        lines.append(f"  worker {r['name']} on {r['host']} ({r['device']}, pid {r['pid']}): "
                     f"{r['files']} files, {r['audio_seconds']:.0f} s audio in "
                     f"{r['busy_seconds']:.0f} s busy, {speed}{gone}")
    return lines
