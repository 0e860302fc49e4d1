"""``eval-asr``: the scoring normalisation, CER/WER, the manifest, the report, one real run.

Nothing here needs ../shared: manifests are written into tmp_path and point at the
committed fixture audio, with references taken from tests/fixtures/scenes.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pipeline.evaluation import asr
from pipeline.evaluation.asr import (
    Clip,
    EditCounts,
    EvalError,
    Hypothesis,
    System,
    edit_counts,
    error_rate,
    levenshtein,
    normalise,
    units,
)

from .conftest import FIXTURES, load_scenes

HEADER = "file\tlanguage\treference_transcript\ttranscript_kind\n"


def scene(file_name: str) -> dict:
    return next(s for s in load_scenes() if Path(s["file"]).name == file_name)


def reference(file_name: str) -> str:
    return "".join(x["text"] if scene(file_name)["language"] == "zh" else x["text"] + " "
                   for x in scene(file_name)["sentences"]).strip()


def write_manifest(folder: Path, names: list[str], extra: str = "") -> Path:
    """A manifest in ``folder`` whose audio/ holds copies of the named fixture clips."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for name in names:
        shutil.copyfile(FIXTURES / "audio" / name, folder / "audio" / name)
        lines.append(f"audio/{name}\t{scene(name)['language']}\t{reference(name)}\tfixture\n")
    path = folder / "manifest.tsv"
    path.write_text("".join(lines) + extra, encoding="utf-8")
    return path


# --- normalisation ---------------------------------------------------------------------------

def test_normalise_removes_punctuation_symbols_whitespace_and_speaker_tags():
    assert normalise("[S1] 你好，世界！ [S2]「好的」……") == "你好 世界 好的"
    assert normalise("[s1]Hello,  world!\n[SPEAKER_02] Bye.") == "Hello world Bye"
    assert normalise("a+b=c $5 ★ ok") == "a b c 5 ok"
    assert normalise("") == "" and normalise("，。！") == ""


def test_normalise_changes_nothing_else():
    # no Traditional -> Simplified, no case folding, no number spelling, no full-width folding
    assert normalise("我們已經報警了") == "我們已經報警了"
    assert normalise("Hello World") == "Hello World"
    assert normalise("1, 2, 3") == "1 2 3"
    assert normalise("ＡＢＣ") == "ＡＢＣ"


def test_apostrophes_join_other_punctuation_separates():
    assert normalise("Don't stop—now") == "Dont stop now"
    assert normalise("it\u2019s well-known") == "its well known"


def test_units_mandarin_characters_english_lower_case_words():
    assert units("甚至  出现  交易。", "zh") == list("甚至出现交易")
    assert units("[S1] IT WAS, the First.", "en") == ["it", "was", "the", "first"]
    assert asr.metric_name("zh") == "CER" and asr.metric_name("en") == "WER"


# --- Levenshtein / CER / WER -----------------------------------------------------------------

def test_edit_counts_known_examples():
    assert edit_counts("kitten", "sitting") == EditCounts(substitutions=2, deletions=0, insertions=1)
    assert edit_counts("", "abc") == EditCounts(0, 0, 3)
    assert edit_counts("abc", "") == EditCounts(0, 3, 0)
    assert edit_counts("abc", "abc").total == 0
    assert edit_counts(["the", "cat", "sat"], ["the", "cat", "sat", "on"]) == EditCounts(0, 0, 1)
    assert edit_counts(["a", "b", "c"], ["x", "y", "z"]) == EditCounts(3, 0, 0)


def test_cer_mandarin_example():
    # two substituted characters out of twelve
    assert error_rate("广州市房地产中介协会分析", "广州市佛地产中间协会分析。", "zh") == (2, 12)
    # spaces and punctuation in either side do not count
    assert error_rate("甚至  出现  交易", "甚至，出现交易！", "zh") == (0, 6)
    # Traditional output is an error in the raw score
    assert error_rate("我们报警了", "我們報警了", "zh") == (2, 5)


def test_wer_english_example():
    ref = "She had your dark suit in greasy wash water all year."
    hyp = "She had a dark suit and greasy wash for her whole year."
    assert error_rate(ref, hyp, "en") == (5, 11)
    assert error_rate("And so my fellow Americans", "and so, my fellow Americans!", "en") == (0, 5)
    assert error_rate("one two three", "1, 2, 3", "en") == (3, 3)


def _slow_levenshtein(a, b) -> int:
    if not a or not b:
        return len(a) + len(b)
    return min(_slow_levenshtein(a[1:], b) + 1, _slow_levenshtein(a, b[1:]) + 1,
               _slow_levenshtein(a[1:], b[1:]) + (a[0] != b[0]))


@given(st.text("abc", max_size=6), st.text("abc", max_size=6))
def test_levenshtein_matches_the_definition(a, b):
    d = levenshtein(a, b)
    assert d == _slow_levenshtein(a, b) == levenshtein(b, a)
    ec = edit_counts(a, b)
    assert ec.deletions - ec.insertions == len(a) - len(b)


def test_traditional_and_latin_detection():
    assert asr.traditional_chars("這是说話") == ["這", "話"]
    assert asr.traditional_chars("hello 你好") == []
    assert asr.latin_words("哦 Oh, yeah. 嗯") == ["Oh", "yeah"]
    assert asr.latin_words("哦嗯。") == []


# --- manifest --------------------------------------------------------------------------------

def test_read_manifest(tmp_path):
    names = ["zh_threat_harm.flac", "en_short_call.wav"]
    clips = asr.read_manifest(write_manifest(tmp_path, names))
    assert [c.name for c in clips] == names
    assert [c.language for c in clips] == ["zh", "en"]
    assert clips[0].reference == "你再不还钱，小心你的家人出事。我们知道你住在哪里。"
    assert clips[1].reference == "We know where you live, and we will come to your house tonight."
    assert all(c.path.is_file() and c.set == "clean" and c.kind == "fixture" for c in clips)


def test_read_manifest_errors(tmp_path):
    with pytest.raises(EvalError, match="manifest not found"):
        asr.read_manifest(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("file\tlang\n", encoding="utf-8")
    with pytest.raises(EvalError, match="missing column"):
        asr.read_manifest(bad)
    missing = tmp_path / "missing.tsv"
    missing.write_text(HEADER + "audio/ghost.wav\tzh\t你好\tx\n", encoding="utf-8")
    with pytest.raises(EvalError, match="audio file not found"):
        asr.read_manifest(missing)
    empty = tmp_path / "empty.tsv"
    empty.write_text(HEADER, encoding="utf-8")
    with pytest.raises(EvalError, match="no clips"):
        asr.read_manifest(empty)


def test_tel8k_copies_are_found_by_stem(tmp_path):
    clips = asr.read_manifest(write_manifest(tmp_path, ["zh_threat_harm.flac", "en_short_call.wav"]))
    tel = tmp_path / asr.TEL8K_FOLDER
    tel.mkdir()
    shutil.copyfile(FIXTURES / "audio" / "en_short_call.wav", tel / "zh_threat_harm_tel8k.wav")
    found = asr.tel8k_clips(clips, tel)
    assert [(c.name, c.set, c.language) for c in found] == [("zh_threat_harm_tel8k.wav", "tel8k", "zh")]
    assert found[0].reference == clips[0].reference
    assert asr.tel8k_clips(clips, tmp_path / "absent") == []


# --- report (fake systems: no model) -----------------------------------------------------------

class FakeSystem(System):
    def __init__(self, name: str, answers: dict[str, str]):
        self.name, self.answers, self.loads = name, answers, 0

    def load(self):
        self.loads += 1

    def transcribe(self, path: Path) -> Hypothesis:
        if path.name not in self.answers:
            raise RuntimeError("cannot decode")
        return Hypothesis(self.answers[path.name], "zh")


def fake_clips(tmp_path) -> list[Clip]:
    clips = []
    for name, lang, ref, set_name in [("a.wav", "zh", "我们报警了", "clean"),
                                      (asr.FILLER_CLIP, "zh", "哦嗯", "clean"),
                                      ("e.wav", "en", "one two three four", "clean"),
                                      ("a_tel8k.wav", "zh", "我们报警了", "tel8k")]:
        p = tmp_path / name
        p.write_bytes(b"")
        clips.append(Clip(name=name, path=p, language=lang, reference=ref, set=set_name))
    return clips


def fake_report(tmp_path):
    systems = [
        FakeSystem("pipeline-faster", {"a.wav": "我们报警了", asr.FILLER_CLIP: "哦",
                                       "e.wav": "one two three", "a_tel8k.wav": "我们报了"}),
        FakeSystem("bare-faster", {"a.wav": "我們報警了。", asr.FILLER_CLIP: "Oh.",
                                   "e.wav": "one two three for", "a_tel8k.wav": "我們報了"}),
        FakeSystem("bare-openai", {"a.wav": "我们报警", asr.FILLER_CLIP: "嗯",
                                   "e.wav": "1 2 3 4"}),  # a_tel8k.wav fails
    ]
    return asr.evaluate(fake_clips(tmp_path), systems, log=lambda m: None), systems


def test_evaluate_scores_aggregates_and_ratios(tmp_path):
    report, systems = fake_report(tmp_path)
    assert all(s.loads == 1 for s in systems)
    assert report.sets == ["clean", "tel8k"]
    aggs = {(a.set, a.language, a.system): a for a in report.aggregates()}
    # clean zh: pipeline 0 + 1 edits over 5 + 2 units; bare-faster raw 2 + 2, after t2s 0 + 2
    pf = aggs["clean", "zh", "pipeline-faster"]
    assert (pf.edits, pf.ref_units) == (1, 7)
    bf = aggs["clean", "zh", "bare-faster"]
    assert (bf.edits, bf.edits_simplified) == (4, 2)
    assert bf.traditional_chars == 2 and bf.cjk_chars == 5 and bf.simplified_pct == pytest.approx(60.0)
    assert aggs["clean", "en", "bare-faster"].rate == pytest.approx(0.25)
    # a failing clip scores as empty output and is flagged
    failed = next(r for r in report.results if r.system == "bare-openai" and r.set == "tel8k")
    assert failed.error and failed.edits == failed.ref_units == 5
    ratios = {(r["set"], r["language"]): r for r in report.ratios()}
    zh = ratios["clean", "zh"]
    assert zh["best_bare_raw"] == "bare-openai" and zh["ratio_raw"] == pytest.approx((1 / 7) / (2 / 7))
    assert zh["best_bare_simplified"] == "bare-faster"
    assert zh["ratio_simplified"] == pytest.approx((1 / 7) / (2 / 7))
    assert ratios["clean", "en"]["ratio_raw"] == pytest.approx(1.0)
    filler = {f["system"]: f for f in report.filler()}
    assert filler["bare-faster"]["english"] and filler["bare-faster"]["latin_words"] == ["Oh"]
    assert not filler["pipeline-faster"]["english"]


def test_text_markdown_and_json_outputs(tmp_path):
    report, _ = fake_report(tmp_path)
    text = asr.format_text(report)
    assert "a.wav" in text and "tel8k" in text and "ERROR" in text and "yes: Oh" in text
    md = asr.format_markdown(report)
    assert md.startswith("## ") and "| clip | lang |" in md and "Pipeline ÷ better bare" in md
    out = tmp_path / "r.json"
    asr.write_json(report, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"meta", "results", "overall", "ratios", "filler", "normalisation"} <= set(data)
    assert len(data["results"]) == 12
    again = asr.report_from_dict(data)
    assert asr.format_text(again) == text


def test_command_without_manifest_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(asr, "default_manifest", lambda: None)
    result = CliRunner().invoke(asr.eval_asr_command, [])
    assert result.exit_code != 0 and "manifest" in result.output
    result = CliRunner().invoke(asr.eval_asr_command, [str(tmp_path / "none.tsv")])
    assert result.exit_code != 0 and "manifest not found" in result.output


# --- one real run ------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_eval_on_two_fixture_clips(tmp_path, fw_engine):
    manifest = write_manifest(tmp_path / "set", ["zh_threat_harm.flac", "en_short_call.wav"])
    pipe = asr.PipelineSystem("faster-whisper", engine=fw_engine, cache_dir=tmp_path / "cache")
    report = asr.run_eval(manifest, systems=["pipeline-faster", "bare-faster"], tel8k=True,
                          cache_dir=tmp_path / "cache", log=lambda m: None,
                          prebuilt={"pipeline-faster": pipe})
    assert report.sets == ["clean"] and len(report.results) == 4
    assert not any(r.error for r in report.results)
    aggs = {(a.language, a.system): a for a in report.aggregates()}
    assert aggs["zh", "pipeline-faster"].rate < 0.5
    assert aggs["en", "pipeline-faster"].rate < 0.5
    assert aggs["zh", "pipeline-faster"].simplified_pct == 100.0
    assert {r["pipeline"] for r in report.ratios()} == {"pipeline-faster"}
    md = asr.format_markdown(report)
    assert "zh_threat_harm.flac" in md
