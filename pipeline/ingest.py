"""Find recordings in the drop folder and fingerprint them without touching them.

Files are opened read-only, hashed with sha256, and described (size, mtime,
what the name says).  Hidden files and partial downloads are skipped because
phones and sync tools write those while a transfer is still running.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .callmeta import CallMeta, parse_filename
from .hashing import sha256_file as sha256_of

AUDIO_EXTENSIONS = frozenset(
    ".amr .awb .m4a .mp3 .wav .aac .3gp .3gpp .opus .ogg .oga .flac .mp4 .m4b .wma .webm .caf "
    ".aif .aiff .mkv .mov".split()
)
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
