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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..detect import Detector, TimedText

# Categories a single utterance can show; call-pattern ones (night calls, caps) are not text.
TEXT_CATEGORIES = ("insult", "threat_harm", "false_legal", "legal_claim", "third_party",
                   "visit_shaming", "money_demand", "stop_request")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, text)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def read_corpus(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from e
    return items


def predict(detector: Detector, text: str, language: str | None) -> set[str]:
    return {f.category for f in detector.detect_one(TimedText(text, language=language))}


def score_items(detector: Detector, items: list[dict],
                categories: tuple[str, ...] = TEXT_CATEGORIES) -> dict[str, Score]:
    scores = {c: Score() for c in categories}
    for item in items:
        got = predict(detector, item["text"], item.get("language"))
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


def _eval_detect(corpus: tuple[Path, ...], fixtures_db: Path | None, audio: bool,
                 errors: int) -> None:
    import sys
    import tempfile

    import click

    detector = Detector()
    ok = True
    for path in corpus or (_repo_root() / "tests" / "data" / "detect_corpus.jsonl",
                           _repo_root() / "tests" / "data" / "detect_heldout.jsonl"):
        if not Path(path).exists():
            continue
        items = read_corpus(Path(path))
        scores = score_items(detector, items)
        click.echo(format_scores(f"{Path(path).name} ({len(items)} utterances)", scores, errors))
        click.echo()
        ok &= all(s.precision >= 0.9 and s.recall >= 0.9 for s in scores.values())
    if audio:
        db = fixtures_db
        if db is None:
            db = Path(tempfile.mkdtemp(prefix="eval-detect-")) / "fixtures.db"
            click.echo("transcribing the audio fixtures with the real pipeline ...", err=True)
            transcribe_fixtures(db)
        scores = score_fixture_db(db, fixture_scenes())
        click.echo(format_scores("audio fixtures (transcripts, per scripted sentence)", scores, errors))
        rec = Score(sum(s.tp for s in scores.values()), 0, sum(s.fn for s in scores.values())).recall
        click.echo(f"overall recall on the audio fixtures: {rec:.3f}")
    sys.exit(0 if ok else 1)


def _command():
    import click

    @click.command("eval-detect")
    @click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, path_type=Path),
                  help="Labelled JSONL corpus (default: tests/data/detect_corpus.jsonl and "
                       "detect_heldout.jsonl).")
    @click.option("--fixtures-db", type=click.Path(exists=True, path_type=Path),
                  help="An evidence database made from tests/fixtures/audio (else one is made).")
    @click.option("--no-audio", is_flag=True, help="Skip the audio fixtures (no transcription).")
    @click.option("--errors", type=int, default=0, help="Show this many errors per category.")
    def eval_detect(corpus, fixtures_db, no_audio, errors):
        """Precision and recall of detection per category: on the labelled text corpora,
        and on the audio fixtures' transcripts (so recogniser errors are in the loop).
        Exit code 1 when a corpus category is below 0.9."""
        _eval_detect(corpus, fixtures_db, not no_audio, errors)

    return eval_detect


eval_detect_command = _command()
