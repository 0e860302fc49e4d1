"""The Ray worker: an actor that loads the model once and prepares one file at a time.

It runs the very same ``FileWork.prepare`` as the local path (normalise,
transcribe, detect), with the driver's detector, so a file prepared here is the
file the local executor would have stored.  It never writes the database and
never writes an original: it reads the original at the driver's path when it
sees the same bytes there (checked by sha256), or gets the bytes from the
driver and keeps a temporary copy in its own cache, named by content hash.

Everything it returns is plain data: ``FileFailed`` cannot cross a process
boundary (its two-argument ``__init__`` does not unpickle), so a failure comes
back as ``Failed`` and the driver rebuilds it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..calls import ingest
from ..detect import Detector
from ..errors import FlowError
from ..filework import FileWork, Prepared, trace
from ..hashing import sha256_file
from ..options import Options

NEED_BYTES = "need-bytes"  # "auto": this worker cannot see the original; send it the bytes
# Test-only: a worker exits hard (as if killed) when the file name contains this text.
CRASH_ENV = "CALL_EVIDENCE_TEST_CRASH_ON"
# Environment variables handed from the driver to the workers (test hooks only).
FORWARDED_ENV_PREFIX = "CALL_EVIDENCE_TEST_"


@dataclass
class Failed:
    """``FileFailed`` as plain values."""

    rec: dict
    message: str


@dataclass
class Outcome:
    """One file's result and what it cost, for the driver's throughput summary."""

    result: Prepared | Failed | str
    seconds: float = 0.0  # wall seconds on the worker, model load excluded
    stage_seconds: dict[str, float] = field(default_factory=dict)


class _WorkerPipeline(FileWork):
    """``prepare`` that reads a local copy of the original when the driver sent its bytes.

    The copy stands in only as ffmpeg's input: the recording keeps the
    driver's path, name and metadata.
    """

    local_copy: Path | None = None

    @contextmanager
    def readable_name(self, src: ingest.SourceFile) -> Iterator[Path]:
        if self.local_copy is not None:
            yield self.local_copy
            return
        with super().readable_name(src) as readable:
            yield readable


def worker_options(options: Options, threads: int, device: str) -> Options:
    """The driver's options as one worker uses them: one file at a time, its own threads.

    ``rules`` are dropped because the driver's loaded detector is sent instead
    (a rule file path on the driver need not exist on a worker).
    """
    return dataclasses.replace(options, executor="local", workers=1, threads=threads,
                               device=device, rules=[], call_log=None)


class TranscribeWorker:
    """Wrapped with ``ray.remote`` by the driver; one instance per worker process."""

    def __init__(self, options: Options, detector: Detector, env: dict[str, str]):
        os.environ.update(env)
        self.pipe = _WorkerPipeline(options, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        self.pipe.detector = detector
        self.incoming = self.pipe.cache_dir / "incoming"

    def ready(self) -> dict[str, Any]:
        """Load the model (once per worker) and say where and what this worker is."""
        self.pipe.check_cache_writable()
        engine = self.pipe.engine
        settings = engine.settings() if hasattr(engine, "settings") else {}
        return {"pid": os.getpid(), "host": socket.gethostname(), "node_ip": _node_ip(),
                "model_name": engine.model_name, "model_sha256": engine.model_sha256,
                "engine_version": engine.version(), "engine_settings": settings,
                "device": settings.get("device", self.pipe.options.device)}

    def prepare(self, src: ingest.SourceFile, run_id: int, language: str | None,
                data: bytes | None, ship: str) -> Outcome:
        """Prepare one file; ``data`` is its bytes, or None to read it at ``src.path``."""
        t0 = time.perf_counter()
        before = dict(self.pipe.stage_seconds)
        _crash_for_tests(src)
        self.pipe.options.language = language  # resolved by the driver (it sees .lang sidecars)
        if data is None:
            problem = _not_the_same_file(src)
            if problem == "missing" and ship == "auto":
                return Outcome(NEED_BYTES)
            if problem == "missing":
                raise FlowError(f"the Ray worker on {socket.gethostname()} cannot read "
                                f"{ingest.display_path(src.path)}: mount the recordings at the same "
                                "path on every node, or let the driver send them (--ship-bytes)")
            if problem:
                result: Prepared | Failed = Failed(self.pipe.record_for(src, run_id), problem)
            else:
                result = self._prepare(src, run_id)
        else:
            result = self._prepare_copy(src, run_id, data)
        spent = {k: v - before.get(k, 0.0) for k, v in self.pipe.stage_seconds.items()}
        return Outcome(result, time.perf_counter() - t0, {k: v for k, v in spent.items() if v})

    def _prepare(self, src: ingest.SourceFile, run_id: int) -> Prepared | Failed:
        result = self.pipe.prepare_or_failure(src, run_id)
        if isinstance(result, Prepared):
            return result
        return Failed(result.rec, result.message)

    def _prepare_copy(self, src: ingest.SourceFile, run_id: int, data: bytes) -> Prepared | Failed:
        """Write the sent bytes to a private copy (checked against the driver's hash) and use it."""
        suffix = src.path.suffix if ingest.name_is_text(Path(src.path.suffix)) else ""
        copy = self.incoming / f"{src.sha256}{suffix}"
        try:
            self.incoming.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data)
            intact = sha256_file(copy) == src.sha256
        except OSError as e:
            copy.unlink(missing_ok=True)
            raise FlowError(f"the Ray worker on {socket.gethostname()} cannot write its cache "
                            f"{self.incoming}: {e.strerror or e}") from e
        try:
            if not intact:
                return Failed(self.pipe.record_for(src, run_id),
                              "the bytes sent to the Ray worker do not match the file's sha256 "
                              "(it changed while being processed); run again")
            self.pipe.local_copy = copy
            return self._prepare(src, run_id)
        finally:
            self.pipe.local_copy = None
            copy.unlink(missing_ok=True)


def _not_the_same_file(src: ingest.SourceFile) -> str | None:
    """None when the worker sees exactly the bytes the driver hashed at ``src.path``."""
    try:
        if not src.path.is_file():
            return "missing"
        same = src.path.stat().st_size == src.size and sha256_file(src.path) == src.sha256
    except OSError:
        return "missing"
    return None if same else ("the file changed after it was fingerprinted (its sha256 differs "
                              "on the Ray worker); run again")


def _node_ip() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - informational only
        return "?"


def _crash_for_tests(src: ingest.SourceFile) -> None:
    needle = os.environ.get(CRASH_ENV)
    if needle and needle in ingest.display_path(src.path.name):
        trace(f"worker {os.getpid()} crashing on {src.path.name}")
        os._exit(1)


def forwarded_env() -> dict[str, str]:
    """The driver's test hooks, for the workers (a worker's environment is its node's)."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIX)}
