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


def make_small_db(folder: Path) -> Path:
    """A small evidence database written through the real Store, for the browser tests.

    Two calls, one of them with no date and no number (a recorder that names
    files "rec1.wav"), each a real audio file (a tone) so clips can be cut; four
    findings of different severities on sentences; two text messages in Chinese,
    scanned with the real rules.  Written text, not evidence: it only checks how
    pages show and search what the store holds.
    """
    import numpy as np

    from pipeline import callstore
    from pipeline.detect import Detector
    from pipeline.normalise import save_wav
    from pipeline.store import FindingRow, SegmentRow, Store
    from pipeline.textscan import read_messages, scan

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "small.db"
    store = Store(db)
    callstore.ensure_tables(store)
    calls = [("a" * 64, "13812345678_20261102223015.wav", "13812345678", "2026-11-02T22:30:15"),
             ("b" * 64, "rec1.wav", None, None)]
    cite = [{"id": "NIFA2018_16", "jurisdiction": "CN",
             "instrument": "互联网金融逾期债务催收自律公约（试行） (NIFA 2018)", "article": "Art. 16"},
            {"id": "CIVIL_1024", "jurisdiction": "CN", "instrument": "民法典",
             "article": "Art. 1024 (reputation)"}]
    for n, (rid, name, number, when) in enumerate(calls):
        wav = folder / name
        t = np.arange(int(16000 * 12.0)) / 16000
        save_wav(wav, 0.3 * np.sin(2 * np.pi * (300 + 100 * n) * t))
        segments = [SegmentRow(0, 0.5, 3.0, "你好，我是催收的。"),
                    SegmentRow(1, 4.0, 8.0, "你这个老赖，再不还钱我们就上门找你家人。"),
                    SegmentRow(2, 8.5, 11.0, "我们会通知你的单位。")]
        findings = [
            FindingRow(1, "ZH_INSULT_LEXICON", "insult", "high", "老赖", "你这个老赖，再不还钱", 5.0, 5.5,
                       0.9, None, cite, "possible violation — for human review"),
            FindingRow(1, "ZH_VISIT", "visit_shaming", "critical", "上门", "我们就上门找你家人", 6.5, 7.0,
                       0.8, None, cite[:1], "possible violation — for human review"),
            FindingRow(2, "ZH_THIRD_PARTY_EMPLOYER", "third_party", "medium", "单位", "会通知你的单位",
                       9.5, 10.0, 0.4, None, [], "possible violation — for human review"),
        ][: 3 if n == 0 else 1]
        store.save_recording({"id": rid, "path": str(wav), "file_name": name, "size": wav.stat().st_size,
                              "mtime": "2026-11-29T00:00:00", "phone_number": number, "call_time": when,
                              "duration": 12.0, "language": "zh"}, segments, findings, None)
    messages = read_messages("date,number,text\n2026-11-05 08:00,13912345678,你这个老赖赶紧还钱\n"
                             "2026-11-06 09:00,,明天上门找你\n")
    callstore.save_messages(store, "sms.csv", messages, scan(messages, Detector()))
    store.close()
    return db


@pytest.fixture()
def small_db(tmp_path) -> Path:
    return make_small_db(tmp_path / "small")
