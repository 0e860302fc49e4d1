"""The lawful collection talk corpus (pipeline/evaluation/lawful.py, corpora/lawful/): every
sentence has its source, a document goes whole to one half, and no sentence is in both."""

from __future__ import annotations

import pytest

from pipeline.evaluation.lawful import half_of, lawful_sentences, load_documents, summary


def test_every_sentence_has_its_source_and_its_documents_half():
    sents = lawful_sentences()
    assert sents
    for s in sents:
        assert s.url.startswith("http") and s.kind and s.split == half_of(s.url)
    halves = {}
    for s in sents:
        halves.setdefault(s.url, set()).add(s.split)
    assert all(len(h) == 1 for h in halves.values())  # a document is never split


def test_no_sentence_sits_in_both_halves_and_the_halves_add_up():
    train = {(s.language, s.text) for s in lawful_sentences("train")}
    evaluation = {(s.language, s.text) for s in lawful_sentences("eval")}
    assert train and evaluation and not train & evaluation
    counts = summary()
    assert sum(c["train"] for c in counts.values()) == len(train)
    assert sum(c["eval"] for c in counts.values()) == len(evaluation)


def test_a_document_without_its_address_is_refused(tmp_path):
    (tmp_path / "corpora" / "lawful").mkdir(parents=True)
    (tmp_path / "corpora" / "lawful" / "en.yaml").write_text(
        "- title: t\n  kind: reminder\n  text: Your payment is due.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="url"):
        load_documents("en", tmp_path)
