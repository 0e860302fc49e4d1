"""``eval-asr`` results: one score per clip and system, totals, ratios, and the tables.

``Report`` is what ``asr.evaluate`` returns; it renders as text (the terminal) or
markdown (docs/accuracy.md) and round-trips through JSON, so tables can be
re-rendered without re-running the models.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .asr_clips import Clip
from .asr_systems import BARE, PIPELINES, Hypothesis
from .errorrate import (
    cjk_chars,
    edit_counts,
    is_char_language,
    latin_words,
    levenshtein,
    metric_name,
    normalise,
    rate,
    traditional_chars,
    units,
)

FILLER_CLIP = "zh_wenet_nst_ID003.wav"  # "哦嗯": must not come out as English words


@dataclass
class ClipResult:
    system: str
    set: str
    clip: str
    language: str
    reference: str
    hypothesis: str
    detected_language: str | None
    seconds: float
    ref_units: int
    edits: int
    substitutions: int
    deletions: int
    insertions: int
    edits_simplified: int
    cjk_chars: int
    traditional_chars: list[str]
    latin_words: list[str]
    error: str | None = None

    @property
    def rate(self) -> float | None:
        return rate(self.edits, self.ref_units)

    @property
    def rate_simplified(self) -> float | None:
        return rate(self.edits_simplified, self.ref_units)


def score_clip(system: str, clip: Clip, hyp: Hypothesis, seconds: float = 0.0,
               error: str | None = None) -> ClipResult:
    from .. import textnorm

    ref = units(clip.reference, clip.language)
    ec = edit_counts(ref, units(hyp.text, clip.language))
    simplified = levenshtein(ref, units(textnorm.to_simplified(hyp.text), clip.language))
    char_lang = is_char_language(clip.language)
    return ClipResult(
        system=system, set=clip.set, clip=clip.name, language=clip.language,
        reference=clip.reference, hypothesis=hyp.text, detected_language=hyp.language,
        seconds=round(seconds, 3), ref_units=len(ref), edits=ec.total,
        substitutions=ec.substitutions, deletions=ec.deletions, insertions=ec.insertions,
        edits_simplified=simplified,
        cjk_chars=len(cjk_chars(hyp.text)) if char_lang else 0,
        traditional_chars=traditional_chars(hyp.text) if char_lang else [],
        latin_words=latin_words(hyp.text), error=error)


@dataclass
class Aggregate:
    system: str
    set: str
    language: str
    metric: str
    clips: int
    ref_units: int
    edits: int
    edits_simplified: int
    rate: float | None
    rate_simplified: float | None
    cjk_chars: int
    traditional_chars: int
    simplified_pct: float | None


@dataclass
class Report:
    results: list[ClipResult]
    systems: list[str]
    sets: list[str]
    meta: dict = field(default_factory=dict)

    def aggregates(self) -> list[Aggregate]:
        out = []
        for set_name in self.sets:
            langs = sorted({r.language for r in self.results if r.set == set_name},
                           key=lambda lang: (not is_char_language(lang), lang))
            for lang in langs:
                for system in self.systems:
                    rs = [r for r in self.results
                          if r.set == set_name and r.language == lang and r.system == system]
                    if not rs:
                        continue
                    n = sum(r.ref_units for r in rs)
                    e = sum(r.edits for r in rs)
                    es = sum(r.edits_simplified for r in rs)
                    cjk = sum(r.cjk_chars for r in rs)
                    trad = sum(len(r.traditional_chars) for r in rs)
                    out.append(Aggregate(
                        system=system, set=set_name, language=lang, metric=metric_name(lang),
                        clips=len(rs), ref_units=n, edits=e, edits_simplified=es,
                        rate=rate(e, n), rate_simplified=rate(es, n), cjk_chars=cjk,
                        traditional_chars=trad,
                        simplified_pct=100.0 * (cjk - trad) / cjk if cjk else None))
        return out

    def ratios(self) -> list[dict]:
        """Pipeline ÷ the better bare system, per set and language (raw and after t2s)."""
        aggs = {(a.set, a.language, a.system): a for a in self.aggregates()}
        out = []
        for set_name in self.sets:
            for lang in sorted({k[1] for k in aggs if k[0] == set_name},
                               key=lambda lang: (not is_char_language(lang), lang)):
                bare = [aggs[(set_name, lang, b)] for b in BARE if (set_name, lang, b) in aggs]
                if not bare:
                    continue
                best_raw = min(bare, key=lambda a: _key(a.rate))
                best_simpl = min(bare, key=lambda a: _key(a.rate_simplified))
                for p in PIPELINES:
                    a = aggs.get((set_name, lang, p))
                    if a is None:
                        continue
                    out.append({
                        "set": set_name, "language": lang, "metric": a.metric, "pipeline": p,
                        "pipeline_rate": a.rate, "pipeline_rate_simplified": a.rate_simplified,
                        "best_bare_raw": best_raw.system, "best_bare_raw_rate": best_raw.rate,
                        "ratio_raw": _ratio(a.rate, best_raw.rate),
                        "best_bare_simplified": best_simpl.system,
                        "best_bare_simplified_rate": best_simpl.rate_simplified,
                        "ratio_simplified": _ratio(a.rate_simplified, best_simpl.rate_simplified),
                    })
        return out

    def filler(self) -> list[dict]:
        return [{"system": r.system, "set": r.set, "clip": r.clip, "hypothesis": r.hypothesis,
                 "latin_words": r.latin_words, "english": bool(r.latin_words)}
                for r in self.results if r.clip == FILLER_CLIP]

    def to_dict(self) -> dict:
        results = []
        for r in self.results:
            d = asdict(r)
            d["rate"], d["rate_simplified"] = r.rate, r.rate_simplified
            results.append(d)
        return {"meta": self.meta, "systems": self.systems, "sets": self.sets,
                "normalisation": normalise.__doc__.strip().split("\n\n")[0],
                "results": results, "overall": [asdict(a) for a in self.aggregates()],
                "ratios": self.ratios(), "filler": self.filler()}


def _key(x: float | None) -> float:
    return float("inf") if x is None else x


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else float("inf")
    return a / b


# --- reports ------------------------------------------------------------------------------

def pct(x: float | None) -> str:
    """A rate as a percentage for tables and progress lines."""
    if x is None:
        return "n/a"
    if x == float("inf"):
        return "inf"
    return f"{100 * x:.1f}%"


def _ratio_s(x: float | None) -> str:
    if x is None:
        return "n/a"
    return "inf" if x == float("inf") else f"{x:.2f}"


def _cell(r: ClipResult) -> str:
    if r.error:
        return "ERROR"
    s = f"{pct(r.rate)} ({r.edits}/{r.ref_units})"
    if r.traditional_chars:
        s += " T"
    if r.latin_words and is_char_language(r.language):
        s += " L"
    return s


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        esc = [[c.replace("|", "\\|") for c in row] for row in rows]
        return (["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
                + ["| " + " | ".join(row) + " |" for row in esc])
    widths = [max(_w(h), *(_w(row[i]) for row in rows)) if rows else _w(h)
              for i, h in enumerate(headers)]

    def fmt(row: list[str]) -> str:
        return "  ".join(c + " " * (w - _w(c)) for c, w in zip(row, widths, strict=True))

    return [fmt(headers).rstrip(), "  ".join("-" * w for w in widths)] + [fmt(r).rstrip() for r in rows]


def _w(s: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _sections(report: Report, markdown: bool) -> list[str]:
    h = (lambda level, text: f"{'#' * level} {text}") if markdown else (
        lambda level, text: f"{'=' if level <= 3 else '-'} {text} {'=' if level <= 3 else '-'}")
    code = (lambda s: f"`{s}`") if markdown else (lambda s: s)
    lines: list[str] = []
    by = {(r.set, r.clip, r.system): r for r in report.results}
    for set_name in report.sets:
        clips = list(dict.fromkeys((r.clip, r.language, r.reference) for r in report.results
                                   if r.set == set_name))
        lines += [h(3, f"Per clip, set {set_name!r} ({len(clips)} clips)"), ""]
        rows = []
        for clip, lang, _ in clips:
            n = next(r.ref_units for r in report.results if r.set == set_name and r.clip == clip)
            rows.append([code(clip), lang, f"{metric_name(lang)} /{n}"]
                        + [_cell(by[(set_name, clip, s)]) if (set_name, clip, s) in by else ""
                           for s in report.systems])
        lines += _table(["clip", "lang", "unit", *report.systems], rows, markdown)
        lines += ["", "Cells: error rate (edits/reference units), raw output. "
                  "T = output has Traditional characters; L = Latin-letter words in a Mandarin clip.",
                  ""]
        lines += [h(4, f"Transcripts, set {set_name!r}"), ""]
        hrows = []
        for clip, _lang, ref in clips:
            hrows.append([code(clip), "reference", "", ref])
            for s in report.systems:
                r = by.get((set_name, clip, s))
                if r is not None:
                    hrows.append(["", s, r.detected_language or "",
                                  f"ERROR {r.error}" if r.error else r.hypothesis])
        lines += _table(["clip", "system", "detected", "text"], hrows, markdown) + [""]
    aggs = report.aggregates()
    lines += [h(3, "Overall (corpus level: total edits / total reference units)"), ""]
    rows = []
    for a in aggs:
        rows.append([a.set, f"{a.metric} {a.language}", a.system, str(a.clips),
                     f"{pct(a.rate)} ({a.edits}/{a.ref_units})",
                     f"{pct(a.rate_simplified)} ({a.edits_simplified}/{a.ref_units})",
                     "" if a.simplified_pct is None else
                     f"{a.simplified_pct:.1f}% ({a.cjk_chars - a.traditional_chars}/{a.cjk_chars})"])
    lines += _table(["set", "metric", "system", "clips", "raw", "after t2s", "Simplified chars"],
                    rows, markdown)
    lines += ["", "raw: output as the system gives it; after t2s: output converted to Simplified "
              "(OpenCC t2s) before scoring (the pipeline already does this itself). "
              "Simplified chars: share of the Mandarin output's Chinese characters that t2s "
              "leaves unchanged.", ""]
    ratios = report.ratios()
    if ratios:
        lines += [h(3, "Pipeline ÷ better bare engine (below 1.00: the pipeline is better)"), ""]
        rows = [[r["set"], f"{r['metric']} {r['language']}", r["pipeline"],
                 pct(r["pipeline_rate"]),
                 f"{_ratio_s(r['ratio_raw'])} (vs {r['best_bare_raw']} {pct(r['best_bare_raw_rate'])})",
                 f"{_ratio_s(r['ratio_simplified'])} (vs {r['best_bare_simplified']} t2s "
                 f"{pct(r['best_bare_simplified_rate'])})"]
                for r in ratios]
        lines += _table(["set", "metric", "pipeline", "pipeline rate", "ratio raw", "ratio after t2s"],
                        rows, markdown) + [""]
    filler = report.filler()
    if filler:
        lines += [h(3, f"Filler clip {code(FILLER_CLIP)} (reference 哦嗯)"), ""]
        rows = [[f["system"], f["set"], f["hypothesis"] or "(nothing)",
                 ("yes: " + " ".join(f["latin_words"])) if f["english"] else "no"] for f in filler]
        lines += _table(["system", "set", "output", "English (Latin-letter) words"], rows, markdown)
        lines += [""]
    return lines


def format_text(report: Report) -> str:
    return "\n".join(_sections(report, markdown=False)).rstrip() + "\n"


def format_markdown(report: Report, title: str | None = None) -> str:
    m = report.meta
    lines = [f"## {title or 'ASR accuracy'}", ""]
    if m:
        mach = m.get("machine", {})
        lines += [f"Measured {m.get('date', '?')} on {mach.get('cpu', '?')} "
                  f"({mach.get('cpus_usable', mach.get('cpu_count', '?'))} usable CPU cores), "
                  f"{mach.get('platform', '')}, Python {mach.get('python', '')}.", ""]
        if m.get("manifest"):
            lines += [f"Manifest: `{m['manifest']}`.", ""]
        lines += ["| system | call | load s | transcribe s (all clips) |", "| --- | --- | --- | --- |"]
        for name, s in m.get("systems", {}).items():
            total = sum(r.seconds for r in report.results if r.system == name)
            lines.append(f"| {name} | `{s.get('call', '')}` | {s.get('load_seconds', '')} | {total:.0f} |")
        lines += [""]
    lines += _sections(report, markdown=True)
    return "\n".join(lines).rstrip() + "\n"


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _finite(o):
    """JSON has no Infinity: write it as null."""
    if isinstance(o, float) and o == float("inf"):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def write_json(report: Report, path: Path) -> None:
    Path(path).write_text(json.dumps(_finite(report.to_dict()), ensure_ascii=False, indent=2,
                                     default=_json_default) + "\n", encoding="utf-8")


def report_from_dict(data: dict) -> Report:
    """Rebuild a report from ``--json`` output (to re-render tables without re-running)."""
    names = {f for f in ClipResult.__dataclass_fields__}
    results = [ClipResult(**{k: v for k, v in d.items() if k in names}) for d in data["results"]]
    return Report(results=results, systems=list(data["systems"]), sets=list(data["sets"]),
                  meta=dict(data.get("meta", {})))

