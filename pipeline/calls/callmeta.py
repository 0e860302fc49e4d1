"""What a call recorder's file name tells: the other party's number, the call time,
which way the call went and the name the phone saved.

The schemes are data (``pipeline/data/recorders.yaml``: one entry per recorder, with
its source and an example), so supporting another recorder is adding an entry.  Only
whole-name matches count, and an impossible date is no match: a wrong date or number on
evidence is worse than none.  A name no scheme reads gives an empty ``CallMeta`` and the
recording is processed all the same.

The number is stored in its canonical form (``pipeline.calls.numbers``: E.164, ``+86``
assumed for a mainland mobile) next to the form the name wrote.  Times are the wall
clock the recorder wrote (no zone), except names holding epoch milliseconds, which are
UTC and say so (``+00:00``).  Where the name holds no time, the container's
``creation_time`` tag may date the call (``from_container_tag``); the file's mtime
never does, since copying a folder rewrites it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .numbers import parse_number

DIRECTIONS = ("incoming", "outgoing", "unknown")
TIME_SOURCES = ("file name", "container tag", "none")
_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|[ _-]?副本|[ _-]copy)$", re.IGNORECASE)
_PART = re.compile(r"\{(\w+)\}")


@dataclass
class CallMeta:
    phone_number: str | None = None  # canonical (E.164 when placed), see pipeline.calls.numbers
    call_time: str | None = None  # ISO 8601, local wall clock as written (no zone) unless +00:00
    direction: str = "unknown"  # incoming, outgoing, unknown
    contact: str | None = None  # the name the phone saved
    number_as_written: str | None = None
    number_placed: bool = False  # the country of the number is known
    time_source: str = "none"  # file name, container tag, none
    scheme: str | None = None  # the recorders.yaml entry that read the name

    def score(self) -> int:
        """How much the name told (number, time, direction, contact): among several names
        of the same bytes the reading with the highest score is kept."""
        return sum((self.phone_number is not None, self.call_time is not None,
                    self.direction != "unknown", bool(self.contact)))

    def columns(self) -> dict:
        """The ``recordings`` columns this reading fills."""
        return {"phone_number": self.phone_number, "call_time": self.call_time,
                "direction": self.direction, "contact": self.contact,
                "number_as_written": self.number_as_written, "time_source": self.time_source}


@dataclass
class Scheme:
    id: str
    recorder: str
    patterns: list[re.Pattern]
    directions: dict[str, str]
    source: str
    example: dict
    match_path: bool = False
    search: bool = False


def recorders_path() -> Path:
    return Path(str(resources.files("pipeline") / "data" / "recorders.yaml"))


def load_schemes(path: Path | None = None) -> tuple[Scheme, ...]:
    """The naming schemes of ``recorders.yaml`` (or ``path``); a malformed entry is a
    clear error.  The bundled file is read once per process."""
    return _read_schemes(path) if path else _bundled_schemes()


@lru_cache(maxsize=1)
def _bundled_schemes() -> tuple[Scheme, ...]:
    return _read_schemes(recorders_path())


def _read_schemes(path: Path) -> tuple[Scheme, ...]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    parts = {k: str(v) for k, v in (doc.get("parts") or {}).items()}
    out = []
    for entry in doc.get("schemes") or []:
        sid = entry.get("id", "?")
        if not entry.get("source"):
            raise ValueError(f"{path}: scheme {sid} has no source")
        compiled = []
        for pattern in entry.get("patterns") or []:
            text = _PART.sub(lambda m: parts.get(m.group(1), m.group(0)), str(pattern))
            try:
                compiled.append(re.compile(text))
            except re.error as e:
                raise ValueError(f"{path}: scheme {sid}: bad pattern {pattern!r}: {e}") from e
        directions = {str(k): str(v) for k, v in (entry.get("directions") or {}).items()}
        bad = set(directions.values()) - set(DIRECTIONS)
        if bad:
            raise ValueError(f"{path}: scheme {sid}: unknown direction {sorted(bad)}")
        out.append(Scheme(sid, str(entry.get("recorder", sid)), compiled, directions,
                          str(entry["source"]), dict(entry.get("example") or {}),
                          entry.get("match") == "path", bool(entry.get("search"))))
    return tuple(out)


def _when(g: dict) -> datetime | None:
    """The match's time; None when it holds none or an impossible one."""
    try:
        if g.get("epoch_ms"):
            return datetime.fromtimestamp(int(g["epoch_ms"]) / 1000, tz=timezone.utc)
        year = g.get("Y") or (f"20{g['y']}" if g.get("y") else None)
        if not year:
            return None
        return datetime(int(year), int(g["M"]), int(g["D"]), int(g.get("h") or 0),
                        int(g.get("m") or 0), int(g.get("s") or 0))
    except (ValueError, KeyError, OverflowError):
        return None


def _stem(name: str) -> str:
    stem = name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    return stem.strip()


def _path_tail(name: str, stem: str) -> str:
    """The last two folders and the stem: what a folder-tree scheme matches."""
    folders = name.replace("\\", "/").rsplit("/", 1)[0].split("/")[-2:] if "/" in name else []
    return "/".join([*folders, stem])


def _reading(scheme: Scheme, m: re.Match) -> CallMeta | None:
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    has_time = any(k in g for k in ("Y", "y", "epoch_ms"))
    when = _when(g)
    if has_time and when is None:
        return None  # an impossible date: this pattern did not really match
    contact = (g.get("contact") or "").strip(" _-@") or None
    written = (g.get("number") or "").strip() or None
    if written is None and contact and re.fullmatch(r"\+?[\d \-]{5,20}", contact):
        written, contact = contact, None  # a recorder writes the number where a name would go
    number = parse_number(written)
    direction = scheme.directions.get(g.get("direction", ""), "unknown")
    return CallMeta(
        phone_number=number.canonical if number else None,
        call_time=when.isoformat(timespec="seconds") if when else None,
        direction=direction, contact=contact,
        number_as_written=written, number_placed=bool(number and number.placed),
        time_source="file name" if when else "none", scheme=scheme.id)


def parse_filename(name: str, schemes: tuple[Scheme, ...] | None = None) -> CallMeta:
    """Number, time, direction and contact from a recorder's file name (or a path: the
    folders matter only to schemes with ``match: path``), when unambiguous."""
    stem = _stem(name)
    bare = _COPY_SUFFIX.sub("", stem) or stem
    for scheme in schemes or load_schemes():
        text = _path_tail(name, bare) if scheme.match_path else bare
        for pattern in scheme.patterns:
            m = pattern.search(text) if scheme.search else pattern.fullmatch(text)
            if not m:
                continue
            meta = _reading(scheme, m)
            if meta is not None:
                return meta
    return CallMeta()


def best_reading(names: list[str]) -> CallMeta:
    """The reading of the name that tells the most, for the same bytes under several
    names (a backup copy named ``录音 (1).mp3`` beside the recorder's own name)."""
    best = CallMeta()
    for name in names:
        meta = parse_filename(name)
        if meta.score() > best.score():
            best = meta
    return best


def from_container_tag(meta: CallMeta, creation_time: str | None) -> CallMeta:
    """``meta`` with the container's ``creation_time`` as the call time, when the name
    gave none.  The tag is UTC (ISO 8601, often with a ``Z``); it is kept with its zone."""
    if meta.call_time or not creation_time:
        return meta
    text = creation_time.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return meta
    if when.year < 1990:  # encoders without a clock write 1904/1970: no time at all
        return meta
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    meta.call_time = when.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    meta.time_source = "container tag"
    return meta
