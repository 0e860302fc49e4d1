"""Cut short playable clips (and whole-call copies) from a recording.

Browsers cannot seek inside long files that are served without HTTP range
support, and evidence packages need small self-contained excerpts, so each
span that is played or exported is cut once into a small mp3 and cached with
its sha256 beside it.  Clips are derived files: originals are only ever read.

The browser's cache (``clips_dir()``) is bounded: every span asked for would
otherwise leave a file behind for ever.  Each use marks a clip as recently used
and, after a new clip is cut, the least recently used ones are removed until
the folder is within ``CACHE_MAX_FILES`` and ``CACHE_MAX_BYTES``.  A removed
clip is simply cut again when it is next played.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from .calls.ingest import sha256_of
from .models import cache_root
from .normalise import ffmpeg_exe

# Seconds of recording either side of a sentence in every clip, the browser's players
# and the report's clips alike (one value, so both play the same span): Whisper's
# sentence times can be a few tenths of a second off, and a clip that cuts the first or
# last word of a threat is weak evidence.  A second also lets the listener hear the tone
# it was said in, and costs little next to the sentence itself.
PAD_S = 1.0
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
CACHE_MAX_FILES = 500
CACHE_MAX_BYTES = 200 * 1024 * 1024
STALE_PARTIAL_S = 3600  # a half-written clip this old was left by a crash


class ClipError(RuntimeError):
    pass


def clips_dir() -> Path:
    return cache_root() / "clips"


def padded(start: float, end: float, duration: float | None = None) -> tuple[float, float]:
    """The span a listener should hear: ``PAD_S`` before and after the sentence (or words),
    within the recording when its ``duration`` is known."""
    a = max(0.0, float(start) - PAD_S)
    b = float(end) + PAD_S
    if duration:
        b = min(b, float(duration))
    return round(a, 2), round(max(b, a + 0.1), 2)


def _encode(source: Path, out: Path, start: float | None, end: float | None) -> None:
    # A unique temporary name: a browser asks for the same clip twice at once
    # (metadata and a range request), and both may cut it.
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=out.stem + ".", suffix=".partial.mp3")
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]
    if end is not None:
        cmd += ["-to", f"{end:.3f}"]
    cmd += ["-i", str(source), "-vn", "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame",
            "-b:a", "32k", str(tmp)]
    # -ss/-to before -i seek the input; timestamps then restart at 0 in the clip.
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ClipError("could not cut clip: " + (msg[-1] if msg else "no output"))
    digest = sha256_of(tmp)
    side = out.parent / (out.name + ".sha256")
    side_tmp = Path(str(tmp) + ".sha256")
    side_tmp.write_text(digest + "\n")
    os.replace(side_tmp, side)
    os.replace(tmp, out)


def source_for(recording_id: str, original: str | None, normalised: str | None = None,
               prefer_original: bool = False) -> Path:
    """Decoded copy if present (fast, exact timeline), else the original file.

    ``normalised`` is the path the pipeline registered in ``derived_files``; the
    default cache location is tried when a database predates that table.  An
    evidence package wants clips cut from the original itself
    (``prefer_original``); the browser wants them fast.
    """
    if not _SHA_RE.match(recording_id or ""):
        raise ClipError("not a recording id")
    decoded = [normalised, cache_root() / "audio" / f"{recording_id}.wav"]
    for candidate in ([original, *decoded] if prefer_original else [*decoded, original]):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ClipError("the recording's audio is no longer available (original moved or deleted)")


def _cached(recording_id: str, name: str, start: float | None, end: float | None,
            original: str | None, normalised: str | None, out_dir: Path | None,
            prefer_original: bool = False) -> Path:
    cache = out_dir is None
    out_dir = out_dir or clips_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{recording_id}_{name}.mp3"
    if out.exists():
        if cache:
            try:
                os.utime(out)  # recently used: evicted last
            except OSError:
                pass
        return out
    _encode(source_for(recording_id, original, normalised, prefer_original), out, start, end)
    if cache:
        prune_cache(out_dir, keep={out})
    return out


def prune_cache(directory: Path | None = None, max_files: int | None = None,
                max_bytes: int | None = None, keep: set[Path] | frozenset = frozenset()) -> int:
    """Remove least recently used clips until the cache is within its caps; returns how many.

    Recency is the file's modification time (set on every use), not its access
    time, which many systems do not keep.  ``keep``: clips not to remove (the one
    just cut).  Half-written clips older than an hour are removed too.
    """
    directory = directory or clips_dir()
    max_files = CACHE_MAX_FILES if max_files is None else max_files
    max_bytes = CACHE_MAX_BYTES if max_bytes is None else max_bytes
    now = time.time()
    clips: list[tuple[float, int, Path]] = []
    removed = 0
    for p in directory.glob("*.mp3"):
        try:
            st = p.stat()
        except OSError:
            continue  # removed meanwhile by another request
        if ".partial" in p.name:
            if now - st.st_mtime > STALE_PARTIAL_S:
                p.unlink(missing_ok=True)
                Path(str(p) + ".sha256").unlink(missing_ok=True)
            continue
        clips.append((st.st_mtime, st.st_size, p))
    clips.sort()
    count, total = len(clips), sum(size for _, size, _ in clips)
    for _, size, p in clips:
        if count <= max_files and total <= max_bytes:
            break
        if p in keep:
            continue
        p.unlink(missing_ok=True)
        (p.parent / (p.name + ".sha256")).unlink(missing_ok=True)
        count, total, removed = count - 1, total - size, removed + 1
    return removed


def cut(recording_id: str, start: float, end: float, original: str | None = None,
        out_dir: Path | None = None, normalised: str | None = None,
        prefer_original: bool = False) -> Path:
    """An mp3 of [start, end] seconds of the recording, cut once and cached."""
    if not (0 <= start < end) or end - start > 3 * 3600:
        raise ClipError("invalid time span")
    return _cached(recording_id, f"{int(start * 1000)}_{int(end * 1000)}", start, end,
                   original, normalised, out_dir, prefer_original)


def whole(recording_id: str, original: str | None = None, out_dir: Path | None = None,
          normalised: str | None = None) -> Path:
    """The whole call as a small mp3, served at ``/-/call-evidence/audio/<id>.mp3``."""
    return _cached(recording_id, "full", None, None, original, normalised, out_dir)


def clip_sha256(path: Path) -> str:
    side = path.parent / (path.name + ".sha256")
    if side.exists():
        return side.read_text().strip()
    return sha256_of(path)
