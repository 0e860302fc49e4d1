"""The clips ``eval-asr`` scores: a manifest of audio files with reference transcripts,
and their telephone-band copies.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("file", "language", "reference_transcript")
TEL8K_FOLDER = "audio_tel8k_sim"


class EvalError(RuntimeError):
    """The evaluation cannot run (missing manifest, bad columns, missing audio)."""


@dataclass(frozen=True)
class Clip:
    name: str  # file name as shown in reports
    path: Path
    language: str
    reference: str
    kind: str = ""
    set: str = "clean"


def default_manifest() -> Path | None:
    """``../shared/realspeech/manifest.tsv`` beside the repository, when it exists."""
    repo_root = Path(__file__).resolve().parents[2]
    for root in (repo_root, Path.cwd()):
        candidate = (root / ".." / "shared" / "realspeech" / "manifest.tsv").resolve()
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path: Path, set_name: str = "clean") -> list[Clip]:
    """Read a tab-separated manifest (header row; ``file`` relative to its folder)."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"manifest not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EvalError(f"{path}: missing column(s) {', '.join(missing)} "
                            f"(need {', '.join(REQUIRED_COLUMNS)}, tab-separated, with a header)")
        clips = []
        for lineno, row in enumerate(reader, start=2):
            file = (row.get("file") or "").strip()
            if not file:
                continue
            language = (row.get("language") or "").strip()
            if not language:
                raise EvalError(f"{path}:{lineno}: no language for {file}")
            audio = (path.parent / file)
            if not audio.is_file():
                raise EvalError(f"{path}:{lineno}: audio file not found: {audio}")
            clips.append(Clip(name=Path(file).name, path=audio, language=language,
                              reference=row.get("reference_transcript") or "",
                              kind=(row.get("transcript_kind") or "").strip(), set=set_name))
    if not clips:
        raise EvalError(f"{path}: no clips listed")
    return clips


def tel8k_clips(clips: Iterable[Clip], folder: Path, set_name: str = "tel8k") -> list[Clip]:
    """The telephone-band copies of ``clips`` found in ``folder``.

    A copy is named like its original (``x.wav``) or with ``_tel8k`` after the stem
    (``x_tel8k.wav``, any audio extension).  Clips without a copy are left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for c in clips:
        stem = Path(c.name).stem
        candidates = [folder / c.name, *sorted(folder.glob(f"{glob_escape(stem)}_tel8k.*"))]
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None:
            out.append(Clip(name=found.name, path=found, language=c.language, reference=c.reference,
                            kind=c.kind, set=set_name))
    return out


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)

