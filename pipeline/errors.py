"""What stops a run and what fails one file, and how to tell them apart.

A file's own problem (not audio, truncated, a decoder error) is a ``FileFailed``:
it is recorded against that recording and the batch goes on.  A problem of the
machine (disk full, the audio cache not writable) is a ``FlowError``: it stops
the run and records nothing, so every file not yet finished is retried next
time instead of being marked failed.  Both the flow and the executors raise and
catch these, so they live below both.  See docs/reliability.md.
"""

from __future__ import annotations

import errno
from pathlib import Path

from .normalise import NormaliseError

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


class FlowError(RuntimeError):
    """The run as a whole cannot proceed (not one file's problem)."""


class FileFailed(RuntimeError):
    """One file could not be processed; ``message`` is what the user reads."""

    def __init__(self, rec: dict, message: str):
        super().__init__(message)
        self.rec, self.message = rec, message


def disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(t in str(e) for t in DISK_FULL_TEXT)


def cache_message(cache_dir: Path, e: BaseException) -> str:
    why = getattr(e, "strerror", None) or str(e)
    if disk_full(e):
        return (f"the disk holding the audio cache {cache_dir} is full ({why}). "
                "Nothing was half-written; finished recordings are saved. "
                "Free some space and run again.")
    return (f"the audio cache {cache_dir} is not writable ({why}). "
            "Make it writable or set CALL_EVIDENCE_CACHE to a writable folder, then run again.")


def is_cache_problem(cache_dir: Path, e: BaseException) -> bool:
    """Disk full, or the cache folder refusing writes: no file's fault, so stop the run."""
    if disk_full(e):
        return True
    if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
        return str(cache_dir) in str(getattr(e, "filename", "") or "")
    return isinstance(e, NormaliseError) and str(cache_dir) in str(e) and (
        "Permission denied" in str(e) or "Read-only file system" in str(e))
