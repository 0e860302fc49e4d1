"""``eval-asr``: score the pipeline's transcription against reference transcripts.

One run transcribes every clip of a manifest with up to four *systems*, all on the
same bundled Whisper base weights:

``pipeline-faster`` / ``pipeline-openai``
    exactly what ``call-evidence transcribe`` stores: ``flow.transcribe_path`` with
    ``load_engine("faster-whisper")`` / ``load_engine("openai-whisper")``, language
    detected per file.
``bare-faster`` / ``bare-openai``
    the libraries with their default settings and nothing of ours around them:
    ``faster_whisper.WhisperModel(<bundled ct2>, device="cpu", compute_type="int8")
    .transcribe(path)`` and ``whisper.load_model(<converted checkpoint>, device="cpu")
    .transcribe(path, fp16=False)``.

Each model is loaded once per run.  Scoring uses **one** normalisation (``normalise``),
applied identically to hypothesis and reference: ``[S1]``-style speaker tags,
punctuation, symbols and whitespace are removed, nothing else (no case folding for
Mandarin, no number spelling, no Traditional→Simplified).  Mandarin is scored per
character (CER), English per lower-cased word (WER): edits (Levenshtein) / reference
units, per clip and for the corpus (total edits / total reference units).

Because Whisper often answers Mandarin in Traditional characters, the bare systems also
get a second score after their output is converted to Simplified (OpenCC ``t2s``, as
the pipeline does), so the pipeline can be compared with both.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import platform
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import click

# --- normalisation and scoring -----------------------------------------------------------

CHAR_LANGUAGES = frozenset({"zh", "yue", "cmn", "ja"})  # scored per character (CER)
FILLER_CLIP = "zh_wenet_nst_ID003.wav"  # "哦嗯": must not come out as English words

_SPEAKER_TAG = re.compile(r"\[\s*(?:s|spk|speaker)[\s_-]*\d+\s*\]", re.IGNORECASE)
_APOSTROPHES = "'\u2019\u02bc"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)*")


def normalise(text: str) -> str:
    """The one scoring normalisation, for hypotheses and references alike.

    Removes ``[S1]``-style speaker tags, then every punctuation (Unicode ``P*``) and
    symbol (``S*``) character; apostrophes are dropped inside words ("don't" -> "dont"),
    every other punctuation or symbol separates words.  Whitespace is collapsed to
    single spaces (it only marks English word boundaries; Mandarin ignores it).
    Nothing else changes: no case folding here, no script conversion, no numbers.
    """
    text = _SPEAKER_TAG.sub(" ", text or "")
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        out.append(" " if cat[0] in "PSZ" or ch.isspace() else ch)
    return " ".join("".join(out).split())


def is_char_language(language: str) -> bool:
    return language.lower().split("-")[0] in CHAR_LANGUAGES


def units(text: str, language: str) -> list[str]:
    """Scoring units: characters (Mandarin, whitespace removed) or lower-cased words."""
    norm = normalise(text)
    if is_char_language(language):
        return [c for c in norm if not c.isspace()]
    return norm.lower().split()


def metric_name(language: str) -> str:
    return "CER" if is_char_language(language) else "WER"


@dataclass(frozen=True)
class EditCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def total(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def edit_counts(ref: Sequence, hyp: Sequence) -> EditCounts:
    """Minimum edits turning ``ref`` into ``hyp`` (Levenshtein), split by kind.

    Among alignments of equal total cost, the one with the most substitutions (fewest
    insertions + deletions) is kept, as the usual WER tools do.
    """
    # each cell: (total, -substitutions, substitutions, deletions, insertions)
    prev = [(j, 0, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            t, _, s, d, n = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                best = (t, -s, s, d, n)
            else:
                best = (t + 1, -(s + 1), s + 1, d, n)
            t, _, s, d, n = prev[j]
            best = min(best, (t + 1, -s, s, d + 1, n))
            t, _, s, d, n = cur[j - 1]
            best = min(best, (t + 1, -s, s, d, n + 1))
            cur.append(best)
        prev = cur
    _, _, s, d, n = prev[-1]
    return EditCounts(s, d, n)


def levenshtein(ref: Sequence, hyp: Sequence) -> int:
    return edit_counts(ref, hyp).total


def error_rate(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edits, reference units) under the scoring normalisation: CER or WER."""
    ref = units(reference, language)
    return levenshtein(ref, units(hypothesis, language)), len(ref)


def rate(edits: int, n: int) -> float | None:
    return edits / n if n else None


def cjk_chars(text: str) -> list[str]:
    return _CJK.findall(text or "")


def traditional_chars(text: str) -> list[str]:
    """Chinese characters that OpenCC t2s would change (each counted on its own)."""
    from .. import textnorm

    return [c for c in cjk_chars(text) if textnorm.to_simplified(c) != c]


def latin_words(text: str) -> list[str]:
    return _LATIN_WORD.findall(text or "")


# --- manifest -----------------------------------------------------------------------------

REQUIRED_COLUMNS = ("file", "language", "reference_transcript")
TEL8K_FOLDER = "audio_tel8k_sim"


class EvalError(RuntimeError):
    """The evaluation cannot run (missing manifest, bad columns, missing audio)."""


@dataclass(frozen=True)
class Clip:
    name: str  # file name as shown in reports
    path: Path
    language: str
    reference: str
    kind: str = ""
    set: str = "clean"


def default_manifest() -> Path | None:
    """``../shared/realspeech/manifest.tsv`` beside the repository, when it exists."""
    repo_root = Path(__file__).resolve().parents[2]
    for root in (repo_root, Path.cwd()):
        candidate = (root / ".." / "shared" / "realspeech" / "manifest.tsv").resolve()
        if candidate.is_file():
            return candidate
    return None


def read_manifest(path: Path, set_name: str = "clean") -> list[Clip]:
    """Read a tab-separated manifest (header row; ``file`` relative to its folder)."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"manifest not found: {path}")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EvalError(f"{path}: missing column(s) {', '.join(missing)} "
                            f"(need {', '.join(REQUIRED_COLUMNS)}, tab-separated, with a header)")
        clips = []
        for lineno, row in enumerate(reader, start=2):
            file = (row.get("file") or "").strip()
            if not file:
                continue
            language = (row.get("language") or "").strip()
            if not language:
                raise EvalError(f"{path}:{lineno}: no language for {file}")
            audio = (path.parent / file)
            if not audio.is_file():
                raise EvalError(f"{path}:{lineno}: audio file not found: {audio}")
            clips.append(Clip(name=Path(file).name, path=audio, language=language,
                              reference=row.get("reference_transcript") or "",
                              kind=(row.get("transcript_kind") or "").strip(), set=set_name))
    if not clips:
        raise EvalError(f"{path}: no clips listed")
    return clips


def tel8k_clips(clips: Iterable[Clip], folder: Path, set_name: str = "tel8k") -> list[Clip]:
    """The telephone-band copies of ``clips`` found in ``folder``.

    A copy is named like its original (``x.wav``) or with ``_tel8k`` after the stem
    (``x_tel8k.wav``, any audio extension).  Clips without a copy are left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for c in clips:
        stem = Path(c.name).stem
        candidates = [folder / c.name, *sorted(folder.glob(f"{glob_escape(stem)}_tel8k.*"))]
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None:
            out.append(Clip(name=found.name, path=found, language=c.language, reference=c.reference,
                            kind=c.kind, set=set_name))
    return out


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)


# --- systems ------------------------------------------------------------------------------

@dataclass
class Hypothesis:
    text: str
    language: str | None = None


class System:
    """One way of transcribing: loads its model once, then ``transcribe(path)``."""

    name = ""
    description = ""

    def load(self) -> None: ...

    def transcribe(self, path: Path) -> Hypothesis:
        raise NotImplementedError

    def versions(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class PipelineSystem(System):
    def __init__(self, engine_name: str, engine=None, cache_dir: Path | None = None):
        self.engine_name = engine_name
        self.name = "pipeline-" + engine_name.split("-")[0]
        self.description = (f"flow.transcribe_path(load_engine({engine_name!r}), path, "
                            "language=None)")
        self._engine = engine
        self.cache_dir = cache_dir

    def load(self) -> None:
        if self._engine is None:
            from ..engines import load_engine

            self._engine = load_engine(self.engine_name)

    def transcribe(self, path: Path) -> Hypothesis:
        from ..flow import transcribe_path

        t = transcribe_path(self._engine, path, language=None, cache_dir=self.cache_dir)
        return Hypothesis(" ".join(s.text for s in t.segments), t.language)

    def versions(self) -> dict:
        v = {"engine": self.engine_name}
        if self._engine is not None:
            v["engine_version"] = self._engine.version()
            v["model"] = self._engine.model_name
            v["model_sha256"] = self._engine.model_sha256
            if hasattr(self._engine, "settings"):
                v["settings"] = self._engine.settings()
        return v

    def close(self) -> None:
        self._engine = None


class BareFasterWhisper(System):
    name = "bare-faster"
    description = ('faster_whisper.WhisperModel(bundled_ct2_dir(), device="cpu", '
                   'compute_type="int8").transcribe(path)  (library defaults)')

    def __init__(self, model=None):
        self._model = model

    def load(self) -> None:
        if self._model is None:
            from faster_whisper import WhisperModel

            from .. import models

            self._model = WhisperModel(str(models.bundled_ct2_dir()), device="cpu", compute_type="int8")

    def transcribe(self, path: Path) -> Hypothesis:
        segments, info = self._model.transcribe(str(path))
        return Hypothesis("".join(s.text for s in segments).strip(), info.language)

    def versions(self) -> dict:
        import faster_whisper

        return {"faster_whisper": faster_whisper.__version__}

    def close(self) -> None:
        self._model = None


class BareOpenAIWhisper(System):
    name = "bare-openai"
    description = ('whisper.load_model(openai_checkpoint(bundled_ct2_dir()), device="cpu")'
                   ".transcribe(path, fp16=False)  (library defaults)")

    def __init__(self, model=None):
        self._model = model

    def load(self) -> None:
        if self._model is None:
            import whisper

            from .. import models

            ckpt = models.openai_checkpoint(models.bundled_ct2_dir())
            self._model = whisper.load_model(str(ckpt), device="cpu")

    def transcribe(self, path: Path) -> Hypothesis:
        result = self._model.transcribe(str(path), fp16=False)
        return Hypothesis(str(result.get("text", "")).strip(), result.get("language"))

    def versions(self) -> dict:
        import whisper

        return {"openai_whisper": whisper.__version__}

    def close(self) -> None:
        self._model = None


SYSTEMS = ("pipeline-faster", "pipeline-openai", "bare-faster", "bare-openai")
BARE = ("bare-faster", "bare-openai")
PIPELINES = ("pipeline-faster", "pipeline-openai")


def make_system(name: str, cache_dir: Path | None = None) -> System:
    if name == "pipeline-faster":
        return PipelineSystem("faster-whisper", cache_dir=cache_dir)
    if name == "pipeline-openai":
        return PipelineSystem("openai-whisper", cache_dir=cache_dir)
    if name == "bare-faster":
        return BareFasterWhisper()
    if name == "bare-openai":
        return BareOpenAIWhisper()
    raise EvalError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")


# --- evaluation ---------------------------------------------------------------------------

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


def evaluate(clips: Sequence[Clip], systems: Sequence[System],
             log: Callable[[str], None] | None = None) -> Report:
    """Transcribe every clip with every system (each model loaded once) and score them."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    results: list[ClipResult] = []
    meta_systems = {}
    for system in systems:
        log(f"[{system.name}] loading model ...")
        t0 = time.perf_counter()
        system.load()
        load_s = time.perf_counter() - t0
        meta_systems[system.name] = {"call": system.description, "load_seconds": round(load_s, 2),
                                     **system.versions()}
        for i, clip in enumerate(clips, start=1):
            t0 = time.perf_counter()
            error = None
            try:
                hyp = system.transcribe(clip.path)
            except Exception as e:  # one clip's failure must not end the run
                hyp, error = Hypothesis(""), f"{type(e).__name__}: {e}"
            dt = time.perf_counter() - t0
            r = score_clip(system.name, clip, hyp, dt, error)
            results.append(r)
            shown = f"ERROR {error}" if error else repr(hyp.text[:60])
            log(f"[{system.name}] {i}/{len(clips)} {clip.set}/{clip.name} {dt:.1f}s "
                f"{metric_name(clip.language)} {_pct(r.rate)} {shown}")
        system.close()
        gc.collect()
    sets = list(dict.fromkeys(c.set for c in clips))
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "systems": meta_systems}
    return Report(results=results, systems=[s.name for s in systems], sets=sets, meta=meta)


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


# --- reports ------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
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
    s = f"{_pct(r.rate)} ({r.edits}/{r.ref_units})"
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
                     f"{_pct(a.rate)} ({a.edits}/{a.ref_units})",
                     f"{_pct(a.rate_simplified)} ({a.edits_simplified}/{a.ref_units})",
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
                 _pct(r["pipeline_rate"]),
                 f"{_ratio_s(r['ratio_raw'])} (vs {r['best_bare_raw']} {_pct(r['best_bare_raw_rate'])})",
                 f"{_ratio_s(r['ratio_simplified'])} (vs {r['best_bare_simplified']} t2s "
                 f"{_pct(r['best_bare_simplified_rate'])})"]
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


def run_eval(manifest: Path, systems: Sequence[str] = SYSTEMS, tel8k: bool = True,
             tel8k_dir: Path | None = None, cache_dir: Path | None = None,
             log: Callable[[str], None] | None = None,
             prebuilt: dict[str, System] | None = None) -> Report:
    """Read ``manifest`` (and its telephone-band copies), run ``systems``, return the report."""
    manifest = Path(manifest)
    clips = read_manifest(manifest)
    if tel8k:
        clips += tel8k_clips(clips, tel8k_dir or manifest.parent / TEL8K_FOLDER)
    built = [(prebuilt or {}).get(s) or make_system(s, cache_dir=cache_dir) for s in systems]
    report = evaluate(clips, built, log=log)
    report.meta["manifest"] = str(manifest)
    report.meta["clips"] = {s: sum(1 for c in clips if c.set == s) for s in report.sets}
    return report


# --- command ------------------------------------------------------------------------------

@click.command("eval-asr")
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@click.option("--system", "systems", multiple=True, type=click.Choice(SYSTEMS),
              help="System(s) to run (repeatable; default: all four).")
@click.option("--tel8k/--no-tel8k", default=True, show_default=True,
              help="Also score the telephone-band copies (audio_tel8k_sim/ beside the manifest).")
@click.option("--tel8k-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of telephone-band copies (default: <manifest folder>/audio_tel8k_sim).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where the pipeline systems cache normalised audio (default: the usual cache).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write every number (per clip and overall) as JSON to this file.")
@click.option("--markdown", "markdown_path", type=click.Path(path_type=Path), default=None,
              help="Write a markdown section (for docs/accuracy.md) to this file.")
def eval_asr_command(manifest, systems, tel8k, tel8k_dir, cache_dir, json_path, markdown_path):
    """Score transcription accuracy against MANIFEST's reference transcripts.

    MANIFEST is a tab-separated file with a header and the columns file (relative to the
    manifest's folder), language and reference_transcript; default:
    ../shared/realspeech/manifest.tsv beside the repository.  Runs the pipeline with
    both engines and bare faster-whisper / openai-whisper with their default settings,
    all on the bundled Whisper base, and prints CER (Mandarin) and WER (English) per
    clip and overall.  Progress goes to stderr.
    """
    if manifest is None:
        manifest = default_manifest()
        if manifest is None:
            raise click.ClickException(
                "no manifest given and the default ../shared/realspeech/manifest.tsv (beside the "
                "repository) does not exist; pass one: call-evidence eval-asr PATH/manifest.tsv")
    try:
        report = run_eval(manifest, systems=list(systems) or list(SYSTEMS), tel8k=tel8k,
                          tel8k_dir=tel8k_dir, cache_dir=cache_dir)
    except EvalError as e:
        raise click.ClickException(str(e)) from e
    click.echo(format_text(report))
    if json_path:
        write_json(report, json_path)
        click.echo(f"JSON written to {json_path}", err=True)
    if markdown_path:
        Path(markdown_path).write_text(format_markdown(report), encoding="utf-8")
        click.echo(f"Markdown written to {markdown_path}", err=True)
    if any(r.error for r in report.results):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    eval_asr_command()
