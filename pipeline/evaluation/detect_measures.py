"""The figures issues 13 and 22 are judged by: abuse vs not on real text, false alarms on
ordinary speech and on lawful collection talk, each for rules alone and for rules with the
meaning layer.

Two tiers are measured apart: *findings* (what reaches a report) and the *queue*
(findings plus listen suggestions: what a person is asked to listen to).  On the real
split, "abuse" is scored on findings, "abuse+listen" on the queue, and the category a
flagged abuse row was given is compared with its labelled ones (category accuracy).

* **Real split** (``corpora/detect``, frozen ``split.json``): per language, is the sentence
  flagged with any abuse category?  Precision and recall with 95% Wilson intervals (the
  sets are small, so the interval matters as much as the point), then per category.
* **Ordinary speech** (the ``eval`` half of ``pipeline/data/eval/ordinary.yaml``): abuse
  findings per 1,000 sentences, per language, with the worst offenders listed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ..detect import Detector, Finding, TimedText
from .corpora import ABUSE_CATEGORIES, Row

ACCEPT_PRECISION, ACCEPT_RECALL, ACCEPT_QUEUE_RECALL = 0.90, 0.50, 0.90
ACCEPT_FALSE_ALARMS, ACCEPT_ORDINARY_QUEUE = 1.0, 10.0  # per 1,000 ordinary sentences
ACCEPT_LAWFUL_FINDINGS, ACCEPT_LAWFUL_QUEUE = 5.0, 50.0  # per 1,000 lawful sentences


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval for a proportion k/n (Wilson score), honest for small n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    r = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, (c - r) / d), min(1.0, (c + r) / d))


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


@dataclass
class Binary(Score):
    """A ``Score`` that also counts true negatives (abuse vs not needs them)."""

    tn: int = 0

    def line(self, name: str) -> str:
        plo, phi = wilson(self.tp, self.tp + self.fp)
        rlo, rhi = wilson(self.tp, self.tp + self.fn)
        return (f"{name:<26}{self.precision:>6.3f} [{plo:.2f}-{phi:.2f}]{self.recall:>7.3f} "
                f"[{rlo:.2f}-{rhi:.2f}]{self.tp:>5}{self.fp:>5}{self.fn:>5}{self.tn:>6}")


HEADER = f"{'':<26}{'precision [95% CI]':>19}{'recall [95% CI]':>20}{'tp':>4}{'fp':>5}{'fn':>5}{'tn':>6}"


def _utterances(texts: list[tuple[str, str]]) -> list[TimedText]:
    return [TimedText(t, language=lang, ref=i) for i, (t, lang) in enumerate(texts)]


def findings_by_item(detector: Detector, texts: list[tuple[str, str]],
                     threads: list[object] | None = None) -> list[list[Finding]]:
    """Findings and listen suggestions per item; ``threads``: each item's conversation (a
    lawful document is one, as a call is); by default every item stands alone."""
    out: list[list[Finding]] = [[] for _ in texts]
    keys = threads if threads is not None else list(range(len(texts)))
    for f in detector.detect(_utterances(texts), threads=keys):
        out[f.ref].append(f)
    return out


def document_of(row: Row) -> str:
    """The source document a real row was quoted from (its address)."""
    return str((row.extra.get("source") or {}).get("url") or row.id)


def as_conversations(detector: Detector) -> Detector:
    """The same detector, for judging each source document of the real split as one
    conversation: its collection words count for all its rows (as a call's do), but its rows
    are extracts, not consecutive sentences, so no neighbour enters a judgement."""
    import copy
    import dataclasses

    if detector.meaning is None:
        return detector
    layer = copy.copy(detector.meaning)
    layer.policy = dataclasses.replace(layer.policy, neighbour_weight=0.0)
    out = copy.copy(detector)
    out.meaning = layer
    return out


def score_real(detector: Detector, rows: list[Row], by_document: bool = False
               ) -> dict[str, dict[str, Binary]]:
    """Per language: {"abuse": Binary, <category>: Binary...} for the given rows.

    ``by_document``: each source document is one conversation (``as_conversations``), as a
    lawful document is in the lawful measure; else every row stands alone."""
    if by_document:
        detector = as_conversations(detector)
    threads = [document_of(r) for r in rows] if by_document else None
    found = findings_by_item(detector, [(r.text, r.language) for r in rows], threads)
    out: dict[str, dict[str, Binary]] = {}
    for r, fs in zip(rows, found, strict=True):
        got = {f.category for f in fs if f.tier == "finding"} & set(ABUSE_CATEGORIES)
        queued = {f.category for f in fs} & set(ABUSE_CATEGORIES)
        want = r.categories & set(ABUSE_CATEGORIES)
        per = out.setdefault(r.language, {k: Binary() for k in ("abuse", "abuse+listen",
                                                                 *ABUSE_CATEGORIES)})
        for key, g, w in [("abuse", bool(got), bool(want)), ("abuse+listen", bool(queued), bool(want))
                          ] + [(c, c in got, c in want) for c in ABUSE_CATEGORIES]:
            b = per[key]
            if g and w:
                b.tp += 1
            elif g:
                b.fp += 1
                b.errors.append(("FP", r.id, r.text))
            elif w:
                b.fn += 1
                b.errors.append(("FN", r.id, r.text))
            else:
                b.tn += 1
    return out


def category_accuracy(detector: Detector, rows: list[Row], by_document: bool = False
                      ) -> dict[str, dict[str, tuple[int, int]]]:
    """Per language and labelled category: of the abuse rows with that label that were
    flagged (finding or listen suggestion), how many were given that category as their
    first (the one a report or the queue shows first) -> (right, flagged)."""
    if by_document:
        detector = as_conversations(detector)
    abuse = [r for r in rows if r.categories & set(ABUSE_CATEGORIES)]
    # the whole document's rows are judged together, so its collection words count
    found_all = findings_by_item(detector, [(r.text, r.language) for r in rows],
                                 [document_of(r) for r in rows] if by_document else None)
    found = [fs for r, fs in zip(rows, found_all, strict=True) if r.categories & set(ABUSE_CATEGORIES)]
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for r, fs in zip(abuse, found, strict=True):
        shown = [f for f in fs if f.category in ABUSE_CATEGORIES]
        if not shown:
            continue
        tier_first = min(shown, key=lambda f: f.tier != "finding")  # a finding is shown first
        for c in sorted(r.categories & set(ABUSE_CATEGORIES)):
            right, n = out.setdefault(r.language, {}).get(c, (0, 0))
            out[r.language][c] = (right + (tier_first.category == c), n + 1)
    return out


def format_category_accuracy(title: str, acc: dict[str, dict[str, tuple[int, int]]]) -> str:
    lines = [title]
    for lang, per in sorted(acc.items()):
        parts = [f"{c} {r}/{n} ({r / n:.2f})" for c, (r, n) in sorted(per.items()) if n]
        right = sum(r for r, _ in per.values())
        total = sum(n for _, n in per.values())
        share = right / total if total else 0.0
        lines.append(f"  {lang}: all {right}/{total} ({share:.2f}); " + "; ".join(parts))
    return "\n".join(lines)


@dataclass
class FalseAlarms:
    sentences: int = 0
    flagged: int = 0
    queued: int = 0  # findings or listen suggestions (what the to-review queue holds)
    worst: list[tuple[float, str, str, str]] = field(default_factory=list)  # score, rule, method, text
    by_rule: Counter = field(default_factory=Counter)

    @property
    def per_1000(self) -> float:
        return 1000 * self.flagged / self.sentences if self.sentences else 0.0

    @property
    def queue_per_1000(self) -> float:
        return 1000 * self.queued / self.sentences if self.sentences else 0.0


def false_alarms(detector: Detector, sentences: list, threads: list[object] | None = None
                 ) -> dict[str, FalseAlarms]:
    """Per language: sentences with an abuse finding, and with anything in the queue.
    ``sentences``: ordinary (``source``) or lawful (``url``) ones; ``threads`` as in
    ``findings_by_item``."""
    found = findings_by_item(detector, [(s.text, s.language) for s in sentences], threads)
    out: dict[str, FalseAlarms] = {}
    for s, fs in zip(sentences, found, strict=True):
        fa = out.setdefault(s.language, FalseAlarms())
        fa.sentences += 1
        queued = [f for f in fs if f.category in ABUSE_CATEGORIES]
        abuse = [f for f in queued if f.tier == "finding"]
        fa.queued += bool(queued)
        if queued:
            top = max(queued, key=lambda f: (f.tier == "finding", f.score or 0.0))
            tier = "" if top.tier == "finding" else "listen, "
            where = getattr(s, "source", None) or getattr(s, "url", "?")
            fa.worst.append((top.score or 0.0, top.rule_id, tier + top.method, f"[{where}] {s.text}"))
        if abuse:
            fa.flagged += 1
            for f in abuse:
                fa.by_rule[f.rule_id] += 1
    for fa in out.values():
        fa.worst.sort(key=lambda w: -w[0])
    return out


def format_real(title: str, systems: dict[str, dict[str, dict[str, Binary]]], errors: int = 0) -> str:
    """One table per language: abuse vs not and each category, for each system."""
    lines = [title]
    langs = sorted({lang for per in systems.values() for lang in per})
    for lang in langs:
        for name, per in systems.items():
            if lang not in per:
                continue
            a = per[lang]["abuse"]
            n_pos, n_neg = a.tp + a.fn, a.fp + a.tn
            lines += ["", f"  {lang} — {name} ({n_pos} abuse, {n_neg} not)", "  " + HEADER,
                      "  " + a.line("abuse vs not (findings)")]
            if "abuse+listen" in per[lang]:
                lines.append("  " + per[lang]["abuse+listen"].line("+ listen suggestions"))
            for c in ABUSE_CATEGORIES:
                b = per[lang][c]
                if b.tp + b.fn + b.fp:
                    lines.append("  " + b.line(f"  {c}"))
            if errors:
                for kind, ident, text in per[lang]["abuse"].errors[:errors]:
                    lines.append(f"    {kind} {ident}: {text[:110]}")
    return "\n".join(lines)


def format_false_alarms(title: str, systems: dict[str, dict[str, FalseAlarms]], worst: int = 10) -> str:
    lines = [title, f"  {'':<22}{'language':>9}{'sentences':>11}{'findings':>9}{'per 1,000':>11}"
                    f"{'queue':>7}{'per 1,000':>11}"]
    for name, per in systems.items():
        for lang, fa in sorted(per.items()):
            lines.append(f"  {name:<22}{lang:>9}{fa.sentences:>11}{fa.flagged:>9}{fa.per_1000:>11.2f}"
                         f"{fa.queued:>7}{fa.queue_per_1000:>11.2f}")
    for name, per in systems.items():
        for lang, fa in sorted(per.items()):
            if fa.worst and worst:
                lines.append(f"  worst offenders, {name}, {lang} (by score; rules: "
                             f"{', '.join(f'{r} {n}' for r, n in fa.by_rule.most_common(5))}):")
                for score, rule, method, text in fa.worst[:worst]:
                    lines.append(f"    {score:.2f} {rule} ({method}): {text[:100]}")
    return "\n".join(lines)


def format_cross_validated(detector: Detector) -> str:
    """The figures the thresholds were chosen on (train-detect's cross-validation over the
    real train and dev rows), as the bundled manifest records them.  The dev rows are in the
    shipped head's training data, so scoring them again here would measure nothing."""
    m = detector.meaning.manifest if detector.meaning else {}
    cv = m.get("cross_validated") or {}
    lines = [f"real train+dev rows, {cv.get('folds', '?')}-fold cross-validation by source document "
             f"(make train-detect, {m.get('version', '?')}; the thresholds were chosen on these)"]
    for lang in ("zh", "en"):
        f = cv.get(lang) or {}
        lines.append(f"  {lang}: precision {f.get('precision', '-')}, recall {f.get('recall', '-')}, "
                     f"found-by-meaning threshold {f.get('alone_at', '-')}, "
                     f"false alarms {f.get('false_alarms', '-')} in {f.get('calibration_sentences', '-')} "
                     "ordinary calibration sentences")
    return "\n".join(lines)


def acceptance(blind: dict[str, dict[str, Binary]], ordinary: dict[str, FalseAlarms],
               lawful: dict[str, FalseAlarms] | None = None) -> list[tuple[str, bool]]:
    """The issue's acceptance lines (issue 22), each with whether it is met."""
    out = []
    for lang, per in sorted(blind.items()):
        a, q = per["abuse"], per["abuse+listen"]
        out.append((f"blind {lang} (documents as conversations): findings precision "
                    f"{a.precision:.3f} >= {ACCEPT_PRECISION} with recall {a.recall:.3f} >= {ACCEPT_RECALL}",
                    a.precision >= ACCEPT_PRECISION and a.recall >= ACCEPT_RECALL))
        out.append((f"blind {lang} (documents as conversations): findings + listen suggestions "
                    f"recall {q.recall:.3f} >= {ACCEPT_QUEUE_RECALL}", q.recall >= ACCEPT_QUEUE_RECALL))
    for lang, fa in sorted((lawful or {}).items()):
        out.append((f"lawful {lang}: {fa.per_1000:.2f} findings per 1,000 <= {ACCEPT_LAWFUL_FINDINGS}",
                    fa.per_1000 <= ACCEPT_LAWFUL_FINDINGS))
        out.append((f"lawful {lang}: {fa.queue_per_1000:.2f} queue items per 1,000 <= {ACCEPT_LAWFUL_QUEUE}",
                    fa.queue_per_1000 <= ACCEPT_LAWFUL_QUEUE))
    for lang, fa in sorted(ordinary.items()):
        out.append((f"ordinary {lang}: {fa.per_1000:.2f} findings per 1,000 <= {ACCEPT_FALSE_ALARMS}",
                    fa.per_1000 <= ACCEPT_FALSE_ALARMS))
        out.append((f"ordinary {lang}: {fa.queue_per_1000:.2f} queue items per 1,000 <= "
                    f"{ACCEPT_ORDINARY_QUEUE}", fa.queue_per_1000 <= ACCEPT_ORDINARY_QUEUE))
    return out
