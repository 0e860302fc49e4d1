"""``eval-detect``: precision and recall of the rule matcher, per category.

Two yardsticks:

1. a labelled text corpus (``tests/data/detect_corpus.jsonl``, and any held-out
   file given), scored per utterance: predicted categories vs labelled ones;
2. the audio fixtures' transcripts (an evidence database made by ``transcribe``
   over ``tests/fixtures/audio``), scored per scripted sentence, so the
   recogniser's mistakes are in the loop.

Detection sees only the text, never the label's speaker: on a mono recording
the pipeline does not know who spoke, so quoting and questioning by the
borrower must be recognised from the words themselves.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

from ..detect import Detector, TimedText
from .corpora import read_jsonl
from .detect_measures import Score

# Categories a single utterance can show; call-pattern ones (night calls, caps) are not text.
TEXT_CATEGORIES = ("insult", "threat_harm", "false_legal", "legal_claim", "third_party",
                   "visit_shaming", "money_demand", "stop_request")


read_corpus = read_jsonl  # a labelled JSONL corpus, one dict per line


def predict(detector: Detector, text: str, language: str | None) -> set[str]:
    return {f.category for f in detector.detect_one(TimedText(text, language=language))}


def predict_all(detector: Detector, items: list[dict]) -> list[set[str]]:
    """Predicted categories per item, in one batch (the meaning layer embeds it once)."""
    got: list[set[str]] = [set() for _ in items]
    utterances = [TimedText(it["text"], language=it.get("language"), ref=i) for i, it in enumerate(items)]
    for f in detector.detect(utterances):
        if f.tier == "finding":  # listen suggestions are not findings
            got[f.ref].add(f.category)
    return got


def score_items(detector: Detector, items: list[dict],
                categories: tuple[str, ...] = TEXT_CATEGORIES) -> dict[str, Score]:
    scores = {c: Score() for c in categories}
    for item, got in zip(items, predict_all(detector, items), strict=True):
        want = set(item.get("categories") or [])
        for c in categories:
            s = scores[c]
            if c in got and c in want:
                s.tp += 1
            elif c in got:
                s.fp += 1
                s.errors.append(("FP", item.get("id", "?"), item["text"]))
            elif c in want:
                s.fn += 1
                s.errors.append(("FN", item.get("id", "?"), item["text"]))
    return scores


def score_fixture_db(db_path: Path, scenes: list[dict], tolerance: float = 1.5) -> dict[str, Score]:
    """Per scripted sentence: was its category found (by time) in the stored findings?"""
    conn = sqlite3.connect(db_path)
    scores: dict[str, Score] = defaultdict(Score)
    for scene in scenes:
        name = scene["file"].rsplit("/", 1)[-1]
        findings = conn.execute(
            'select category, start from findings f join recordings r on r.id = f.recording_id'
            " where r.file_name = ?", [name]).fetchall()
        matched: set[int] = set()
        for sent in scene["sentences"]:
            if sent.get("party", "collector") != "collector":
                continue
            for cat in sent["categories"]:
                hit = [i for i, (c, t) in enumerate(findings) if c == cat
                       and sent["start"] - tolerance <= t <= sent["end"] + tolerance]
                if hit:
                    scores[cat].tp += 1
                    matched.update(hit)
                else:
                    scores[cat].fn += 1
                    scores[cat].errors.append(("FN", scene["scene"], sent["text"]))
        for i, (c, _t) in enumerate(findings):
            if i not in matched and c not in {
                    cat for s in scene["sentences"] for cat in s["categories"]}:
                scores[c].fp += 1
                scores[c].errors.append(("FP", scene["scene"], c))
    conn.close()
    return dict(scores)


def format_scores(title: str, scores: dict[str, Score], show_errors: int = 0) -> str:
    lines = [title, f"{'category':<15}{'precision':>10}{'recall':>8}{'tp':>6}{'fp':>5}{'fn':>5}"]
    for c, s in scores.items():
        lines.append(f"{c:<15}{s.precision:>10.3f}{s.recall:>8.3f}{s.tp:>6}{s.fp:>5}{s.fn:>5}")
    tp = sum(s.tp for s in scores.values())
    fp = sum(s.fp for s in scores.values())
    fn = sum(s.fn for s in scores.values())
    micro = Score(tp, fp, fn)
    lines.append(f"{'(all)':<15}{micro.precision:>10.3f}{micro.recall:>8.3f}{tp:>6}{fp:>5}{fn:>5}")
    if show_errors:
        for c, s in scores.items():
            for kind, ident, text in s.errors[:show_errors]:
                lines.append(f"  {kind} {c:<14} {ident}: {text}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- command
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def fixture_scenes() -> list[dict]:
    return json.loads((_repo_root() / "tests" / "fixtures" / "scenes.json").read_text(encoding="utf-8"))


def transcribe_fixtures(db_path: Path) -> Path:
    """Run the real pipeline over the committed audio fixtures into ``db_path``."""
    from ..flow import Options, Pipeline

    Pipeline(Options()).run(_repo_root() / "tests" / "fixtures" / "audio", db_path, progress=False)
    return db_path


def redetect_copy(db: Path, detector: Detector) -> Path:
    """A copy of a fixtures database with its findings rebuilt by ``detector``."""
    import shutil
    import tempfile

    from ..flow import redetect

    copy = Path(tempfile.mkdtemp(prefix="eval-detect-")) / "fixtures.db"
    src = sqlite3.connect(db)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    redetect(copy, detector=detector)
    shutil.rmtree(copy.parent / "cache", ignore_errors=True)
    return copy


def _detectors(cached: bool = True) -> dict[str, Detector]:
    """Rules alone, and rules with the meaning layer (when it loads), on the same rule pack.

    Evaluation embeds the same thousands of sentences every run: the vectors are cached
    on disk (``embedcache``), which changes nothing but the time.
    """
    from ..detect.meaning import E5Embedder, MeaningUnavailable, load_meaning
    from .embedcache import CachedEmbedder

    rules = Detector(meaning=None)
    out = {"rules only": rules}
    try:
        layer = load_meaning(embedder=CachedEmbedder(E5Embedder()) if cached else None)
        out["rules + meaning"] = Detector(pack=rules.pack, meaning=layer)
    except MeaningUnavailable as e:
        print(f"note: meaning layer off ({e}); only the rules are measured", file=sys.stderr)
    return out


def _eval_detect(corpus: tuple[Path, ...], fixtures_db: Path | None, audio: bool,
                 errors: int, ordinary: bool, worst: int) -> None:
    import tempfile

    import click

    from .corpora import real_rows, synthetic_rows
    from .detect_measures import (
        acceptance,
        category_accuracy,
        document_of,
        false_alarms,
        format_category_accuracy,
        format_cross_validated,
        format_false_alarms,
        format_real,
        score_real,
    )
    from .lawful import lawful_sentences
    from .ordinary import CorpusError, ordinary_sentences

    detectors = _detectors()
    best = detectors.get("rules + meaning", detectors["rules only"])
    real = real_rows()
    blind = {}
    rows = [r for r in real if r.split == "test"]
    if rows:
        # Each row alone (as issue 13 measured), then each source document as one
        # conversation: a quoted threat carries no debt word of its own, but in a call, as
        # in the article it was quoted from, the talk around it is about a debt.  The lawful
        # measure below judges its documents the same way; the acceptance lines use this one.
        alone = {name: score_real(d, rows) for name, d in detectors.items()}
        click.echo(format_real(f"BLIND real test split (frozen; never trained or tuned on): "
                               f"{len(rows)} rows, each row alone", alone, errors))
        click.echo()
        systems = {name: score_real(d, rows, by_document=True) for name, d in detectors.items()}
        blind = systems[next(reversed(systems))]
        docs = len({document_of(r) for r in rows})
        click.echo(format_real(f"BLIND real test split: the same {len(rows)} rows, each of the {docs} source "
                               "documents one conversation (its collection words count for all its rows; "
                               "no neighbours: rows are extracts)", systems, errors))
        click.echo()
        if "rules + meaning" in detectors:
            click.echo(format_category_accuracy(
                "category accuracy on the blind abuse rows (rules + meaning, documents as conversations; "
                "of the flagged rows with each labelled category, how many were shown first with it)",
                category_accuracy(detectors["rules + meaning"], rows, by_document=True)))
            click.echo()
    if "rules + meaning" in detectors:
        click.echo(format_cross_validated(detectors["rules + meaning"]))
        click.echo()
    lawful_best = {}
    lawful = lawful_sentences("eval")
    if lawful:
        # each document is one conversation, as a call or a message thread is
        systems = {name: false_alarms(d, lawful, [s.url for s in lawful]) for name, d in detectors.items()}
        lawful_best = systems[next(reversed(systems))]
        docs = len({s.url for s in lawful})
        click.echo(format_false_alarms(
            f"lawful collection talk (eval half, {len(lawful)} sentences from {docs} documents, "
            "corpora/lawful): findings and queue items (findings + listen suggestions) per 1,000 "
            "sentences", systems, worst))
        click.echo()
    fa_best = {}
    if ordinary:
        try:
            sentences = ordinary_sentences("eval")
        except CorpusError as e:
            raise click.ClickException(str(e)) from e
        systems = {name: false_alarms(d, sentences) for name, d in detectors.items()}
        fa_best = systems[next(reversed(systems))]
        click.echo(format_false_alarms(f"ordinary speech (eval half, {len(sentences)} sentences): "
                                       "findings and queue items per 1,000 sentences", systems, worst))
        click.echo()
    for path in corpus or ():
        items = read_corpus(Path(path))
        click.echo(format_scores(f"{Path(path).name} ({len(items)} utterances)",
                                 score_items(best, items), errors))
        click.echo()
    synthetic = [r.extra for r in synthetic_rows()]
    if synthetic and not corpus:
        click.echo(format_scores(f"synthetic corpora, training data, not a measure ({len(synthetic)} "
                                 "utterances)", score_items(best, synthetic), errors))
        click.echo()
    fixtures_ok = True
    if audio:
        db = fixtures_db
        if db is None:
            db = Path(tempfile.mkdtemp(prefix="eval-detect-")) / "fixtures.db"
            click.echo("transcribing the audio fixtures with the real pipeline ...", err=True)
            transcribe_fixtures(db)
        for name, d in detectors.items():
            scores = score_fixture_db(redetect_copy(db, d), fixture_scenes())
            click.echo(format_scores(f"audio fixtures, {name} (transcripts, per scripted sentence)",
                                     scores, errors))
            rec = Score(sum(s.tp for s in scores.values()), 0, sum(s.fn for s in scores.values())).recall
            # the identity check is about a call's opening, not a scripted sentence: not counted here
            fps = sum(s.fp for c, s in scores.items() if c != "identity")
            click.echo(f"overall recall on the audio fixtures: {rec:.3f}; findings outside the script: {fps}")
            if d is best:
                fixtures_ok = rec == 1.0 and fps == 0
            click.echo()
    lines = acceptance(blind, fa_best, lawful_best)
    if audio:
        lines.append(("audio fixtures: every scripted finding, none elsewhere", fixtures_ok))
    click.echo("acceptance (issue 22):")
    for text, ok in lines:
        click.echo(f"  {'PASS' if ok else 'FAIL'}  {text}")
    sys.exit(0 if all(ok for _, ok in lines) else 1)


def _command():
    import click

    @click.command("eval-detect")
    @click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, path_type=Path),
                  help="Another labelled JSONL corpus to score per category.")
    @click.option("--fixtures-db", type=click.Path(exists=True, path_type=Path),
                  help="An evidence database made from tests/fixtures/audio (else one is made).")
    @click.option("--no-audio", is_flag=True, help="Skip the audio fixtures (no transcription).")
    @click.option("--errors", type=int, default=0, help="Show this many errors per category.")
    @click.option("--no-ordinary", is_flag=True, help="Skip the ordinary-speech false alarms.")
    @click.option("--worst", type=int, default=10, help="Worst ordinary-speech offenders to list.")
    def eval_detect(corpus, fixtures_db, no_audio, errors, no_ordinary, worst):
        """How well detection works: abuse vs not on the real labelled split (blind test and
        dev), false alarms per 1,000 ordinary sentences, the synthetic corpora and the audio
        fixtures' transcripts; rules alone and with the meaning layer.  Exit code 1 when an
        acceptance figure of issue 13 is not met."""
        _eval_detect(corpus, fixtures_db, not no_audio, errors, not no_ordinary, worst)

    return eval_detect


eval_detect_command = _command()
