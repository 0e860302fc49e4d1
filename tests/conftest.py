"""Shared fixtures: the committed audio scenes and one real pipeline run over them.

The end-to-end run uses real ffmpeg, the real bundled Whisper base model and a
real SQLite file; it runs once per session and the tests read its results.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.ingest import sha256_of

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Run:
    folder: Path
    db: Path
    cache: Path
    hashes_before: dict[str, str]
    first: object
    second: object


def load_scenes() -> list[dict]:
    return json.loads((FIXTURES / "scenes.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def scenes() -> list[dict]:
    return load_scenes()


def make_broken_files(folder: Path) -> dict[str, Path]:
    """A zero-byte file, a truncated m4a and a text file dressed as mp3."""
    good_m4a = next((FIXTURES / "audio").glob("*.m4a"))
    broken = {
        "empty": folder / "broken" / "empty.amr",
        "truncated": folder / "broken" / "truncated.m4a",
        "not_audio": folder / "broken" / "notes.mp3",
    }
    broken["empty"].parent.mkdir(parents=True, exist_ok=True)
    broken["empty"].write_bytes(b"")
    broken["truncated"].write_bytes(good_m4a.read_bytes()[:2000])
    broken["not_audio"].write_text("this is a shopping list, not a recording\n" * 20)
    return broken


@pytest.fixture(scope="session")
def fw_engine():
    from pipeline.engines import load_engine

    return load_engine("faster-whisper")


@pytest.fixture(scope="session")
def e2e(tmp_path_factory, fw_engine) -> Run:
    from pipeline.flow import Options, Pipeline

    root = tmp_path_factory.mktemp("e2e")
    folder = root / "recordings"
    shutil.copytree(FIXTURES / "audio", folder)
    make_broken_files(folder)
    hashes = {str(p.relative_to(folder)): sha256_of(p) for p in folder.rglob("*") if p.is_file()}
    db, cache = root / "evidence.db", root / "cache"
    pipe = Pipeline(Options(cache_dir=cache), engine=fw_engine)
    first = pipe.run(folder, db, progress=False)
    second = pipe.run(folder, db, progress=False)
    return Run(folder, db, cache, hashes, first, second)
