"""Does the file hold as much as its container says?  An incomplete copy, caught early.

A phone's folder copied while a call was still being written, or a sync cut off, leaves
files that end early.  Containers that state their own length say so before any
decoding: an MP4-family file (m4a, 3gp, mp4, mov) declares each top-level box's size, a
WAV its RIFF and data sizes.  Such a file fails with a clear error (it is not evidence
of the whole call, and the complete copy, once there, is taken instead).  AMR states no
length, but its frames have fixed sizes per mode: a last frame cut in the middle is
reported as a note and what is there is kept.  Pure file reading, no ffmpeg.
"""

from __future__ import annotations

import struct
from pathlib import Path

MP4_SUFFIXES = frozenset(".m4a .m4b .mp4 .3gp .3gpp .mov".split())
WAV_SUFFIXES = frozenset([".wav"])
# AMR frame payload bytes per frame type (3GPP TS 26.101 / 26.201), plus one header byte
_AMR_NB = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0)
_AMR_WB = (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0)
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming writers leave these until they finish


class IncompleteFile(ValueError):
    """The container states more than the file holds; the message says how much."""


def check(path: Path) -> str | None:
    """Raise ``IncompleteFile`` for a file that ends before its container says it does;
    return a note for an AMR file whose last frame is cut; else None."""
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(12)
        size = path.stat().st_size
        if head.startswith(b"#!AMR"):
            return _amr(f, size, head)
        if suffix in WAV_SUFFIXES or head[:4] == b"RIFF":
            _wav(f, size)
        elif suffix in MP4_SUFFIXES or head[4:8] == b"ftyp":
            _mp4(f, size)
    return None


def _ends_early(kind: str, stated: int, size: int) -> IncompleteFile:
    return IncompleteFile(
        f"the file ends early: its {kind} says {stated:,} bytes but the file has {size:,} "
        "(an incomplete copy? copy the recording again from the phone)")


def _mp4(f, size: int) -> None:
    pos, boxes = 0, []
    while pos + 8 <= size:
        f.seek(pos)
        n, kind = struct.unpack(">I4s", f.read(8))
        if n == 1:  # 64-bit size follows
            n = struct.unpack(">Q", f.read(8))[0]
        elif n == 0:  # the box runs to the end of the file
            n = size - pos
        if n < 8:
            return  # not a box structure we can read: leave it to the decoder
        boxes.append(kind)
        if pos + n > size:
            name = kind.decode("latin-1", "replace")
            raise _ends_early(f"'{name}' box (at byte {pos:,})", pos + n, size)
        pos += n
    if b"ftyp" in boxes and b"moov" not in boxes:
        raise IncompleteFile("the file ends early: it has no 'moov' index, which a recorder "
                             "writes when the call ends (an incomplete copy, or a recording "
                             "that was never finished)")


def _wav(f, size: int) -> None:
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF":
        return
    riff = struct.unpack("<I", head[4:8])[0]
    if riff not in _UNKNOWN_SIZES and riff + 8 > size:
        raise _ends_early("RIFF header", riff + 8, size)
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        kind, n = struct.unpack("<4sI", f.read(8))
        if kind == b"data":
            if n not in _UNKNOWN_SIZES and pos + 8 + n > size:
                raise _ends_early("data chunk", pos + 8 + n, size)
            return
        pos += 8 + n + (n & 1)


def _amr(f, size: int, head: bytes) -> str | None:
    wide = head.startswith(b"#!AMR-WB\n")
    table = _AMR_WB if wide else _AMR_NB
    pos = len(b"#!AMR-WB\n") if wide else len(b"#!AMR\n")
    f.seek(pos)
    data = f.read()
    i = 0
    while i < len(data):
        frame = 1 + table[(data[i] >> 3) & 0x0F]
        if i + frame > len(data):
            return (f"the last AMR frame is incomplete ({len(data) - i} of {frame} bytes): "
                    "the copy may have been cut off at the end")
        i += frame
    return None
