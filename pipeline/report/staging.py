"""Write a package whole or not at all.

A package is built in a hidden temporary folder beside its destination (same file
system, so the final step is a rename) and moved into place only when every file,
the manifest and the zip are written.  Anything that fails on the way (a full disk,
a removed USB stick, an error in the report) removes the temporary folder, so the
destination never holds half a package, a truncated report or a manifest that lists
files that are not there.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .data import ReportError

# Disk errors a user can act on, worded once: the rest say what the system said.
_DISK = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
         errno.EROFS: "the disk is read-only", errno.EACCES: "permission denied",
         errno.EIO: "disk I/O error (disk removed or failing?)"}


def disk_error(e: OSError, where: Path) -> ReportError:
    """One line for an ``OSError`` met while writing under ``where``."""
    why = _DISK.get(e.errno or 0) or (e.strerror or str(e))
    parts = Path(where).parts  # a package inside a batch's temporary folder: name the batch's
    for i, part in enumerate(parts):
        if part.startswith(".") and part.endswith(".partial"):
            where = Path(*parts[:i])
            break
    return ReportError(f"cannot write the package in {where}: {why}; nothing was left there "
                       "(free some space or choose another --out and run again)")


def _free_name(out_dir: Path, name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` or ``name-2``… such that no ``name<suffix>`` exists yet in ``out_dir``."""
    for n in range(1, 101):
        candidate = name if n == 1 else f"{name}-{n}"
        if not any((out_dir / f"{candidate}{s}").exists() for s in suffixes):
            return candidate
    raise ReportError(f"too many packages named {name} in {out_dir}")


class Stage:
    """A temporary folder beside ``out_dir``'s final entries; ``commit`` moves its
    entries (a folder and, optionally, a zip of the same name) into place."""

    def __init__(self, out_dir: Path, tmp: Path, name: str):
        self.out_dir = out_dir
        self.tmp = tmp
        self.name = name  # free in out_dir when the stage was made: build tmp/name

    @property
    def work(self) -> Path:
        return self.tmp / self.name

    def commit(self, entries: tuple[str, ...] = ()) -> Path:
        """Move ``work`` (and each of ``entries``, e.g. its zip, made beside it in ``tmp``)
        into ``out_dir``; returns the folder's final path.  The extra entries go first,
        the folder last: a folder in place means the package is complete."""
        moved = []
        try:
            for entry in entries:
                if (self.tmp / entry).exists():
                    if (self.out_dir / entry).exists():
                        raise FileExistsError(errno.EEXIST, "made meanwhile", str(self.out_dir / entry))
                    os.rename(self.tmp / entry, self.out_dir / entry)
                    moved.append(self.out_dir / entry)
            if (self.out_dir / self.name).exists():
                raise FileExistsError(errno.EEXIST, "made meanwhile", str(self.out_dir / self.name))
            os.rename(self.work, self.out_dir / self.name)
        except OSError:
            for p in moved:
                p.unlink(missing_ok=True)
            raise
        return self.out_dir / self.name


@contextmanager
def staged(out_dir: Path, name: str) -> Iterator[Stage]:
    """A ``Stage`` whose temporary folder is removed on the way out, whatever happened;
    an ``OSError`` inside becomes one ``ReportError`` line.  ``out_dir`` is made if
    missing (and removed again if the package fails and it is still empty)."""
    out_dir = Path(out_dir)
    made = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=out_dir))
    except OSError as e:
        raise ReportError(f"cannot create the report folder in {out_dir}: "
                          f"{_DISK.get(e.errno or 0) or e.strerror or e}") from e
    try:
        yield Stage(out_dir, tmp, _free_name(out_dir, name, ("", ".zip")))
    except OSError as e:
        raise disk_error(e, out_dir) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if made:
            try:
                out_dir.rmdir()  # only succeeds when nothing was put there
            except OSError:
                pass
