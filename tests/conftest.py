"""Shared fixtures: the committed audio scenes and one real pipeline run over them.

The end-to-end run uses real ffmpeg, the real bundled Whisper base model and a
real SQLite file; it runs once per session and the tests read its results.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

# Files a test has just written look "still being copied" for a few seconds (issue 23);
# a short settle time keeps every run on fresh files fast.  tests/test_copying.py checks
# the check itself with its own times.  Set before pipeline.calls.ingest reads it.
os.environ.setdefault("CALL_EVIDENCE_SETTLE_SECONDS", "0.3")

from pipeline.calls.ingest import sha256_of  # noqa: E402

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
def meaning_detector():
    """Rules with the shipped meaning layer; skips where its wheel does not install."""
    from pipeline.detect import Detector
    from pipeline.detect.meaning import MeaningUnavailable, shared_meaning

    try:
        shared_meaning()
    except MeaningUnavailable as e:
        pytest.skip(f"meaning layer unavailable here: {e}")
    return Detector()


@pytest.fixture(scope="session")
def fw_engine():
    from pipeline.engines import load_engine

    # One thread, as each Ray worker of the tests' cluster and each local worker on 2 cores
    # uses: runs compared across executors are made with the same settings.
    return load_engine("faster-whisper", threads=1)


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
    files "rec1.wav"), each a real audio file (a tone) so clips can be cut;
    sentences with per-character word times, scanned by the real detector (as
    a transcription run would); two text messages in Chinese, scanned with the
    real rules.  Written text, not evidence: it only checks how pages show,
    search and review what the store holds.
    """
    import numpy as np

    from pipeline.calls import callstore
    from pipeline.detect import Detector
    from pipeline.flow import detect_rows, identity_check
    from pipeline.normalise import save_wav
    from pipeline.store import SegmentRow, Store
    from pipeline.textscan import read_messages, scan

    def sentence(idx: int, start: float, end: float, text: str) -> SegmentRow:
        step = (end - start) / len(text)
        words = [(start + i * step, start + (i + 1) * step, ch, 0.9) for i, ch in enumerate(text)]
        return SegmentRow(idx, start, end, text, words=words)

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "small.db"
    store = Store(db)
    callstore.ensure_tables(store)
    detector = Detector()
    calls = [("a" * 64, "13812345678_20261102223015.wav", "13812345678", "2026-11-02T22:30:15",
              [sentence(0, 0.5, 3.0, "你好，我是催收的。"),
               sentence(1, 4.0, 8.0, "你这个老赖，再不还钱我们就上门找你家人。"),
               sentence(2, 8.5, 11.0, "我们会通知你的单位。")]),
             ("b" * 64, "rec1.wav", None, None,
              [sentence(0, 1.0, 4.0, "你再不还钱，小心你的家人出事。")])]
    for n, (rid, name, number, when, segments) in enumerate(calls):
        wav = folder / name
        t = np.arange(int(16000 * 12.0)) / 16000
        save_wav(wav, 0.3 * np.sin(2 * np.pi * (300 + 100 * n) * t))
        findings = identity_check(detect_rows(detector, segments, "zh"), segments)
        store.save_recording({"id": rid, "path": str(wav), "file_name": name, "size": wav.stat().st_size,
                              "mtime": "2026-11-29T00:00:00", "phone_number": number, "call_time": when,
                              "duration": 12.0, "language": "zh"}, segments, findings, None)
    messages = read_messages("date,number,text\n2026-11-05 08:00,13912345678,你这个老赖赶紧还钱\n"
                             "2026-11-06 09:00,,明天上门找你\n")
    callstore.save_messages(store, "sms.csv", messages, scan(messages, detector))
    store.close()
    return db


@pytest.fixture()
def small_db(tmp_path) -> Path:
    return make_small_db(tmp_path / "small")


# Why each finding was flagged (issue 13): one finding of each method, as detection stores
# them (schema 5), in two runs: one with the meaning layer, one with rules only.  Written
# text, not evidence; the patterns are the real rule pack's, as the matcher stores them.
WHY_CALLS = [
    # file (a real fixture), number, call time, language, run ("meaning" / "rules"),
    # [(sentence, finding: (rule, category, severity, matched, method, pattern source, score)
    #   or None)]
    ("13812345678_20261102223015.amr", "13812345678", "2026-11-02T22:30:15", "zh", "meaning", [
        ("你好，我是某某金融的。", None),
        ("再不还钱我就把这事告诉你家人。",
         ("ZH_THIRD_PARTY_DISCLOSE", "third_party", "high", "告诉你家人", "rule+meaning",
          ("ZH_THIRD_PARTY_DISCLOSE", "sources", 0), 0.97)),
        ("你已经被通记了，警察马上来。",
         ("ZH_FALSE_LEGAL_JAIL", "false_legal", "high", "通记", "sound+meaning",
          ("ZH_FALSE_LEGAL_JAIL", "sound_sources", 0), 0.91)),
        ("你晚上走路最好小心一点，别怪我们没提醒你。",
         ("MEANING_THREAT_HARM", "threat_harm", "high", None, "meaning", None, 0.96)),
        ("我们会通过法律途径起诉你。",
         ("ZH_LEGAL_CLAIM", "legal_claim", "medium", "起诉", "rule",
          ("ZH_LEGAL_CLAIM", "sources", 0), None)),
    ]),
    ("Call recording 13912345678_261103_091500.m4a", "13912345678", "2026-11-03T09:15:00", "zh",
     "rules", [
         ("你这个老赖真不要脸。",
          ("ZH_INSULT_LEXICON", "insult", "high", "老赖", "rule", ("ZH_INSULT_LEXICON", "sources", 0),
           None)),
         ("明天你就会被通记。",
          ("ZH_FALSE_LEGAL_JAIL", "false_legal", "high", "通记", "rule",
           ("ZH_FALSE_LEGAL_JAIL", "sound_sources", 0), None)),
     ]),
    ("+14155550123_2026-11-05_07-45-00.3gp", "+14155550123", "2026-11-05T07:45:00", "en", "meaning", [
        ("You are a worthless deadbeat.",
         ("EN_INSULT_PROFANITY", "insult", "high", "deadbeat", "rule+meaning",
          ("EN_INSULT_PROFANITY", "sources", 0), 0.99)),
    ]),
]


def make_why_db(folder: Path) -> Path:
    """A database through the real Store holding one finding of each method (``WHY_CALLS``):
    ``rule+meaning``, ``sound+meaning`` and ``meaning`` from a run with the meaning layer,
    ``rule`` from both runs (a legal claim the meaning layer leaves to the rules; an insult
    and a sound-alike match kept by rules alone when it was off).  Each run's detection line
    is what the real ``Detector`` says of itself.  Originals are copies of real fixtures."""
    from pipeline.detect import Detector, load_rules
    from pipeline.detect.findings import REVIEW_NOTE
    from pipeline.detect.matcher import SOUND_NOTE
    from pipeline.store import FindingRow, SegmentRow, Store

    pack = load_rules()
    rules = {r.id: r for r in pack.rules}
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "why.db"
    store = Store(db)
    runs = {"meaning": store.start_run(tool_version="test", engine="(test)",
                                       detection=Detector().describe()),
            "rules": store.start_run(tool_version="test", engine="(test)",
                                     detection=Detector(meaning=None).describe())}
    for run in runs.values():
        store.finish_run(run)
    for name, number, when, lang, run, sentences in WHY_CALLS:
        dest = folder / name
        shutil.copyfile(FIXTURES / "audio" / name, dest)
        sha = sha256_of(dest)
        store.note_file(sha, str(dest), dest.stat().st_size, "2026-11-29T00:00:00+00:00")
        segments, findings = [], []
        for idx, (text, finding) in enumerate(sentences):
            start, end = 0.5 + idx * 2.0, 2.3 + idx * 2.0
            segments.append(SegmentRow(idx, start, end, text, words=[(start, end, text, 0.9)]))
            if finding is None:
                continue
            rule_id, category, severity, matched, method, source, score = finding
            pattern = getattr(rules[source[0]], source[1])[source[2]] if source else None
            by_sound = method == "sound+meaning" or (method == "rule" and source[1] == "sound_sources")
            note = f"{REVIEW_NOTE}; {SOUND_NOTE}" if by_sound else REVIEW_NOTE
            cites = rules.get(rule_id, rules["ZH_THREAT_HARM"]).citations
            findings.append(FindingRow(
                idx, rule_id, category, severity, matched or text, text, start + 0.2, end - 0.2,
                0.8, None, cites, note, method=method, pattern=pattern, score=score))
        store.save_recording({"id": sha, "path": str(dest), "file_name": name,
                              "size": dest.stat().st_size, "mtime": "2026-11-29T00:00:00+00:00",
                              "phone_number": number, "call_time": when, "duration": 12.0,
                              "language": lang}, segments, findings, runs[run])
    store.close()
    return db
