"""Where files are prepared: threads on this machine, or Ray workers across a cluster.

``Pipeline.run_batch`` hands each fingerprinted file to an executor and gets
back a ``Future`` (or, inline, the result itself) holding a ``Prepared`` or a
``FileFailed``; it alone writes the database, in the order files were found.
So the choice of executor changes where normalise/transcribe/detect run and
nothing about what is stored.  Ray is an optional extra: ``import ray`` happens
only in ``pipeline.scale.ray_executor``/``worker``, and only for ``--executor ray``.
See docs/scale-out.md.

What an executor runs is ``pipeline.filework.FileWork.prepare`` (the flow's
``Pipeline`` is one); the options, error types and ``Prepared`` come from
modules below this package, so nothing here imports ``pipeline.flow``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from ..options import EXECUTORS, SHIP_MODES, RayOptions

if TYPE_CHECKING:
    from ..calls.ingest import SourceFile
    from ..errors import FileFailed
    from ..filework import FileWork, Prepared


class Executor(Protocol):
    """What ``run_batch`` needs: how many files may be in flight, and a way to start one."""

    slots: int

    def submit(self, src: SourceFile, run_id: int) -> Future | Prepared | FileFailed:
        """Start preparing ``src``; a Future, or the result itself when run inline."""

    def shutdown(self) -> list[dict[str, Any]]:
        """Stop (cancelling what has not started); per-worker throughput, if it keeps any."""


class LocalExecutor:
    """Threads in this process sharing one loaded model (the default, unchanged behaviour)."""

    def __init__(self, pipeline: FileWork):
        self.pipeline = pipeline
        self.slots = pipeline.workers()
        self._pool = (ThreadPoolExecutor(self.slots, thread_name_prefix="transcribe")
                      if self.slots > 1 else None)

    def submit(self, src: SourceFile, run_id: int) -> Future | Prepared | FileFailed:
        if self._pool is None:
            return self.pipeline.prepare_or_failure(src, run_id)
        _ = self.pipeline.engine  # load the model here, once, not in a worker thread
        return self._pool.submit(self.pipeline.prepare_or_failure, src, run_id)

    def shutdown(self) -> list[dict[str, Any]]:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return []


def make_executor(pipeline: FileWork) -> Executor:
    """The executor ``pipeline.options.executor`` names; Ray is imported only when chosen."""
    kind = pipeline.options.executor
    if kind == "local":
        return LocalExecutor(pipeline)
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(pipeline)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "SHIP_MODES", "Executor", "LocalExecutor", "RayOptions", "make_executor"]
