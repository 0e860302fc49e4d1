"""Transcripts as plain text, SRT and WebVTT (players and courts' tools read these)."""

from __future__ import annotations

from .data import Recording, Segment


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _line(seg: Segment) -> str:
    return f"[{seg.speaker}] {seg.text.strip()}" if seg.speaker else seg.text.strip()


def srt(rec: Recording) -> str:
    blocks = [f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{_line(s)}\n"
              for i, s in enumerate(rec.segments, 1)]
    return "\n".join(blocks)


def vtt(rec: Recording) -> str:
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{_line(s)}\n" for s in rec.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def text(rec: Recording, header: list[str]) -> str:
    """A readable transcript: a header (file, number, time, hash), then timed lines."""
    lines = [*header, ""]
    # tenths of a second, cut down: the same times as the report (complaint.at)
    lines += [f"[{_stamp(s.start, '.')[:-2]}-{_stamp(s.end, '.')[:-2]}] {_line(s)}" for s in rec.segments]
    return "\n".join(lines) + "\n"
