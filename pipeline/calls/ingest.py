"""Find recordings in the drop folder and fingerprint them without touching them.

Files are opened read-only, hashed with sha256, and described (size, mtime,
what the name says).  Hidden files and partial downloads are skipped because
phones and sync tools write those while a transfer is still running.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..hashing import sha256_file as sha256_of
from .callmeta import CallMeta, parse_filename

AUDIO_EXTENSIONS = frozenset(
    ".amr .awb .m4a .mp3 .wav .aac .3gp .3gpp .opus .ogg .oga .flac .mp4 .m4b .wma .webm .caf "
    ".aif .aiff .mkv .mov".split()
)
# A file whose size or mtime changed this recently may still be arriving (a phone's
# folder being copied, a sync in progress): it is left for the next run.  Tests set the
# environment variable to keep their runs on fresh files short.
SETTLE_SECONDS = float(os.environ.get("CALL_EVIDENCE_SETTLE_SECONDS", "3"))
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", "~")


@dataclass
class SourceFile:
    path: Path  # as found (absolute)
    rel_path: str  # relative to the drop folder, for display
    size: int
    mtime: str  # ISO 8601 UTC
    sha256: str
    meta: CallMeta


def _is_candidate(p: Path) -> bool:
    name = p.name
    if name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES):
        return False
    return p.suffix.lower() in AUDIO_EXTENSIONS


def discover(folder: Path, ignored: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Audio/video files below ``folder`` (recursive), sorted, hidden folders skipped.

    Symlinks are followed only when they point inside ``folder``: a link must
    not pull in (or expose) files from elsewhere on the disk.  Links to
    folders are not followed at all (no loops).  Links that are left out are
    appended to ``ignored`` as ``(path, reason)`` when a list is given.
    """
    folder = folder.resolve()
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            p = Path(root) / name
            if not _is_candidate(p):
                continue
            if p.is_symlink():
                try:
                    target = p.resolve(strict=True)
                except (OSError, RuntimeError):  # dangling link or a loop
                    if ignored is not None:
                        ignored.append((p, "link points to nothing"))
                    continue
                if not target.is_relative_to(folder):
                    if ignored is not None:
                        ignored.append((p, "link points outside the recordings folder"))
                    continue
                if not target.is_file():
                    continue
            found.append(p)
    return found


def display_path(path: Path | str) -> str:
    """The path as text that can always be stored and shown.

    Linux file names are bytes; one that is not valid UTF-8 (an old phone, a
    zip from another system) is shown with ``\\xNN`` escapes for the bad bytes.
    ``fs_path`` turns that text back into the real path.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


_ESCAPED_BYTE = re.compile(r"\\x([0-9a-f]{2})")


def fs_path(text: str) -> Path:
    """Inverse of ``display_path``: the path on disk for a stored path."""
    p = Path(text)
    if "\\x" not in text or p.exists():
        return p
    raw = _ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text)
    return Path(raw)


def name_is_text(path: Path) -> bool:
    """True when the file name is valid UTF-8 (most tools then accept it)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True




def prefix_sha256(path: Path, size: int) -> str:
    """sha256 of the first ``size`` bytes: is an earlier, shorter copy the start of this file?"""
    import hashlib

    h = hashlib.sha256()
    left = size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def file_state(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns): what changes while a file is still being written; None when
    the file cannot be looked at.  ``watch`` and ``transcribe`` both judge by it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def settled(paths: list[Path], seconds: float | None = None,
            sleep=time.sleep) -> tuple[list[Path], list[Path]]:
    """Split ``paths`` into (settled, still being copied).

    A file last changed more than ``seconds`` ago is settled.  The others are looked at
    again once they would be that old (one wait for the whole batch, at most
    ``seconds``): unchanged, they are settled too; grown or touched, they are still
    being copied, and the next run (or ``watch``'s next poll) takes them."""
    seconds = SETTLE_SECONDS if seconds is None else seconds
    if seconds <= 0:
        return list(paths), []
    now = time.time_ns()
    fresh = {}
    for p in paths:
        state = file_state(p)
        if state is not None and now - state[1] < seconds * 1e9:
            fresh[p] = state
    if fresh:
        newest = max(state[1] for state in fresh.values())
        sleep(max(0.0, (newest + seconds * 1e9 - now) / 1e9))
    moving = {p for p, state in fresh.items() if file_state(p) != state}
    return [p for p in paths if p not in moving], [p for p in paths if p in moving]


def describe(path: Path, folder: Path) -> SourceFile:
    """Fingerprint one file: size, mtime, sha256, and what its name (and, for recorders
    that file calls in a folder per number, its folders) says about the call."""
    st = path.stat()
    try:
        rel = display_path(path.relative_to(folder.resolve()))
    except ValueError:
        rel = display_path(path)
    return SourceFile(
        path=path,
        rel_path=rel,
        size=st.st_size,
        mtime=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc).isoformat(timespec="seconds"),
        sha256=sha256_of(path),
        meta=parse_filename(rel),
    )


def scan(folder: Path) -> Iterator[SourceFile]:
    for p in discover(folder):
        yield describe(p, folder)
