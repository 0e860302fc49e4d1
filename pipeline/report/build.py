"""Assemble an evidence package: report (HTML + PDF, Chinese and English), clips,
transcripts, originals, draft complaints, manifest with hashes, and a zip.

Order matters for the chain of custody: every original is hashed and checked
against its recording id before anything is cut from it, and the manifest is
written last, over the files as they are on disk.
"""

from __future__ import annotations

import html
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
import yaml
from markupsafe import Markup, escape

from .. import __version__, clips, reviewers
from ..calls import callstore, ingest
from ..calls.jurisdiction import reason_text
from ..detect.rules import load_rules
from ..flagged import meaning_ran
from ..hashing import sha256_file
from ..readonly import read_only_store
from ..store import Store, StoreError
from . import chart, complaint, fonts, manifest, provisions, staging, subtitles
from .complaint import at, span
from .data import (
    FindingItem,
    Incident,
    PatternItem,
    Recording,
    ReportData,
    ReportError,
    Scope,
    ScopeError,
    load,
)
from .groups import counterparties, lender_labels
from .messages import MessageItem
from .pdf import PdfError, html_to_pdf

LANGUAGES = ("zh", "en")


@dataclass
class ReportOptions:
    languages: tuple[str, ...] = LANGUAGES
    channels: list[str] | None = None  # None: the defaults in complaints.yaml
    include_originals: bool = True
    pdf: bool = True
    make_zip: bool = True
    complainant: str | None = None
    jurisdiction: str | None = None
    # One package for everything in scope, whatever counterparties and jurisdictions it
    # mixes (page one says what it mixes); else a package holds one jurisdiction.
    all_in_one: bool = False


@dataclass
class ReportResult:
    folder: Path
    zip_path: Path | None
    html: list[Path] = field(default_factory=list)
    pdf: list[Path] = field(default_factory=list)
    findings: int = 0
    recordings: int = 0
    warnings: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def labels() -> dict:
    path = Path(str(resources.files("pipeline") / "data" / "report_labels.yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _slug(text: str) -> str:
    return re.sub(r"[^\w+-]+", "-", text).strip("-")[:40] or "all"  # a lender's name may be Chinese


def _package_name(scope: Scope) -> str:
    what = scope.name or ("_".join(scope.numbers) if scope.numbers
                          else f"no-number-{scope.only_jurisdiction or ''}" if scope.unnumbered
                          else "all")
    return f"evidence_{_slug(what)}_{datetime.now():%Y%m%d-%H%M%S}"


def open_database(db_path: Path) -> Store:
    """The database, read-only; a file that is not one is refused in one line."""
    try:
        return read_only_store(db_path)
    except StoreError as e:
        raise ReportError(str(e)) from e


def locate_original(rec: Recording) -> Path | None:
    """The original file, only if its content still hashes to the recording id."""
    for text in rec.candidate_paths:
        p = ingest.fs_path(text)
        if p.is_file() and p.stat().st_size == (rec.size or p.stat().st_size):
            if sha256_file(p) == rec.id:
                return p
    return None


def build_report(db_path: Path, out_dir: Path, scope: Scope, options: ReportOptions | None = None,
                 log: Callable[[str], None] = lambda m: None) -> ReportResult:
    """Make the package in a new folder under ``out_dir``; returns where and what."""
    options = options or ReportOptions()
    for lang in options.languages:
        if lang not in LANGUAGES:
            raise ReportError(f"unknown report language {lang!r}; use zh and/or en")
    unknown = [c for c in options.channels or [] if c not in complaint.channels()]
    if unknown:
        raise ReportError(f"unknown complaint channel(s) {', '.join(unknown)}; known: "
                          f"{', '.join(complaint.channels())}")
    store = open_database(db_path)
    try:
        data = load(store, scope, options.jurisdiction)
        has_call_log = callstore.call_log_size(store) > 0
    finally:
        store.close()
    provisions.apply(data, load_rules().citations)  # each provision only where its condition shows
    codes = data.codes
    if len(codes) > 1 and not options.all_in_one:
        which = "; ".join(
            f"{j}: {', '.join(n or 'no number' for n, k, _ in data.number_jurisdictions if k == j)}"
            for j in codes)
        raise ScopeError(f"these calls and messages are judged under different jurisdictions ({which}); "
                         "one report covers one jurisdiction: report each counterparty apart (leave "
                         "out --number to get one package each), or add --all-in-one to mix them")
    groups_in = counterparties(data, lender_labels(db_path))
    if options.all_in_one and (len(codes) > 1 or len(groups_in) > 1):
        data.mixes = [(g.label or ", ".join(g.numbers), g.jurisdiction) for g in groups_in]
    channels, warnings = complaint.channels_for(codes, options.channels)
    with staging.staged(Path(out_dir), _package_name(scope)) as stage:
        result = _assemble(data, stage.work, options, channels, has_call_log, log)
        result.warnings[:0] = warnings
        if options.make_zip:
            result.zip_path = _zip(result.folder)
        final = stage.commit((f"{stage.name}.zip",))
    result.html = [final / p.name for p in result.html]
    result.pdf = [final / p.name for p in result.pdf]
    result.folder = final
    if result.zip_path:
        result.zip_path = final.with_suffix(".zip")
    return result


def _assemble(data: ReportData, folder: Path, options: ReportOptions, channels: list[str],
              has_call_log: bool, log: Callable[[str], None]) -> ReportResult:
    """Write every file of the package into ``folder`` (a temporary one), manifest last."""
    folder.mkdir()
    result = ReportResult(folder, None, findings=len(data.findings), recordings=len(data.recordings))
    log(f"report: {_n(len(data.recordings), 'recording')}, {_n(len(data.findings), 'finding')}, "
        f"{_n(len(data.messages), 'message')} ({data.dismissed + data.messages_dismissed} dismissed,"
        " left out)")
    originals = _originals(data, folder, options.include_originals, result.warnings, log)
    clip_paths = _clips(data, folder, originals, result.warnings, log)
    _transcripts(data, folder)
    result.html, font_note = _write_html(data, folder, options.languages, clip_paths, originals,
                                         options.complainant)
    for path in result.html:
        if options.pdf:
            pdf = path.with_suffix(".pdf")
            log(f"printing {pdf.name} ...")
            try:
                html_to_pdf(path, pdf)
                result.pdf.append(pdf)
            except PdfError as e:
                result.warnings.append(str(e))
    drafts = folder / "complaint-drafts"
    drafts.mkdir()
    copied = sum(1 for p in originals.values() if folder in p.parents)
    attachments = {"originals": copied, "hashes_only": len(data.recordings) - copied,
                   "clips": len(clip_paths), "transcripts": len(data.recordings),
                   "messages": len(data.messages), "reports": [p.name for p in [*result.html, *result.pdf]]}
    for ch in channels:
        (drafts / f"{ch}.txt").write_text(
            complaint.draft(ch, data, options.complainant, has_call_log, data.codes, attachments),
            encoding="utf-8")

    result.manifest = manifest.write(
        folder,
        originals=[{"sha256": r.id, "file_name": r.file_name, "recorded_path": r.path,
                    "size": r.size, "duration_s": r.duration, "phone_number": r.phone_number,
                    "call_time": r.call_time, "container": r.container, "codec": r.codec,
                    "sample_rate": r.sample_rate, "channels": r.channels,
                    "verified_at_export": r.id in originals,
                    "copy": originals[r.id].relative_to(folder).as_posix()
                    if r.id in originals and options.include_originals else None}
                   for r in data.recordings],
        runs=data.runs, scope=data.scope.describe(), complainant=options.complainant,
        created_at=data.generated_at,
        settings={"languages": list(options.languages), "channels": channels,
                  "include_originals": options.include_originals, "pdf": options.pdf,
                  "jurisdiction": data.jurisdiction, "numbers_file": data.numbers_file,
                  "number_jurisdictions": [{"number": n or None, "jurisdiction": j, "why": why}
                                           for n, j, why in data.number_jurisdictions],
                  "dismissed_left_out": data.dismissed,
                  "period": [data.days[0].day, data.days[-1].day] if data.days else None,
                  "clip_padding_s": [clips.PAD_S, clips.PAD_S]},
        notes=[*result.warnings, font_note],
        reviews=data.reviews,
        findings=[_finding_entry(f) for f in [*data.findings, *data.context]],
        detection_runs=data.detection_runs, messages=_message_entries(data.messages),
        clips=[{"file": rel, "incident": n, "recording_sha256": inc.recording.id,
                "clip_span_s": [a, b], "sentence_span_s": [inc.start, inc.end],
                "words_span_s": [inc.words_start, inc.words_end],
                "finding_ids": [f.id for f in inc.findings]}
               for n, inc in enumerate(data.incidents, 1) if n in clip_paths
               for rel, a, b in [clip_paths[n]]])
    return result


def _originals(data: ReportData, folder: Path, copy: bool, warnings: list[str],
               log: Callable[[str], None]) -> dict[str, Path]:
    """Recording id -> verified original (the copy in the package when ``copy``)."""
    out: dict[str, Path] = {}
    target = folder / "originals"
    for rec in data.recordings:
        src = locate_original(rec)
        if src is None:
            warnings.append(f"original of {rec.file_name} (sha256 {rec.id[:12]}...) not found with "
                            "matching content; its hash is listed, the file is not included")
            continue
        if not copy:
            out[rec.id] = src
            continue
        target.mkdir(exist_ok=True)
        dest = target / f"{rec.id[:12]}_{_safe_name(rec.file_name)}"
        shutil.copyfile(src, dest)
        if sha256_file(dest) != rec.id:  # a copy that differs is no evidence: say so loudly
            dest.unlink()
            raise ReportError(f"copying {src} changed its content (disk problem?); nothing was "
                              "left in the package for it")
        out[rec.id] = dest
    log(f"originals: {len(out)} of {len(data.recordings)} verified")
    return out


def _n(n: int, word: str) -> str:
    """``1 recording``, ``2 recordings``: a count that agrees with its noun (log lines)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _safe_name(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name)


def _clip_name(f: Incident, n: int) -> str:
    when = (f.recording.call_time or "unknown").replace(":", "").replace("-", "")[:13]
    num = re.sub(r"\D", "", f.recording.phone_number or "") or "unknown"
    return f"clips/{n:03d}_{when}_{num}_{int((f.start or 0) * 1000):07d}.mp3"


def _clips(data: ReportData, folder: Path, originals: dict[str, Path], warnings: list[str],
           log: Callable[[str], None]) -> dict[int, tuple[str, float, float]]:
    """Incident number -> (clip path (relative), start, end in the recording), cut from the
    verified original when there is one.  A clip holds the whole sentence with padding
    either side (an incident's start/end are its sentence's), never just the matched words."""
    out: dict[int, tuple[str, float, float]] = {}
    scratch = folder / ".clips-tmp"
    for n, f in enumerate(data.incidents, 1):
        if f.start is None or f.end is None:
            continue
        a, b = clips.padded(f.start, f.end, f.recording.duration)
        original = originals.get(f.recording.id)
        try:
            cut = clips.cut(f.recording.id, a, b, original=str(original) if original else None,
                            out_dir=scratch, prefer_original=True)
        except clips.ClipError as e:
            warnings.append(f"no clip for #{n} ({f.recording.file_name} at {at(f.start)}): {e}")
            continue
        rel = _clip_name(f, n)
        (folder / rel).parent.mkdir(exist_ok=True)
        shutil.move(cut, folder / rel)  # the scratch copy is not kept
        (folder / rel).chmod(0o644)  # as every other file in the package (the cut is 0600)
        out[n] = (rel, a, b)
    shutil.rmtree(scratch, ignore_errors=True)
    log(f"clips: {len(out)}")  # a count of files, as "originals: 2 of 2 verified"
    return out


def _transcript_stem(rec: Recording) -> str:
    when = (rec.call_time or "unknown").replace(":", "").replace("-", "")[:13]
    return f"transcripts/{when}_{re.sub(r'[^0-9]', '', rec.phone_number or '') or 'unknown'}_{rec.id[:8]}"


def _transcripts(data: ReportData, folder: Path) -> None:
    if not data.recordings:  # messages only: no transcript (and no empty folder)
        return
    (folder / "transcripts").mkdir()
    names = {lang: labels()[lang]["jurisdiction_names"] for lang in LANGUAGES}
    for rec in data.recordings:
        stem = folder / _transcript_stem(rec)
        j = rec.jurisdiction
        header = [f"录音文件 / file: {rec.file_name}", f"SHA-256: {rec.id}",
                  f"号码 / number: {rec.phone_number or '未知 / unknown'}",
                  f"通话时间 / call time: {rec.call_time or '未知 / unknown'}",
                  f"适用规则 / rules applied: {names['zh'].get(j, j)} / {names['en'].get(j, j)}",
                  f"语言 / language: {rec.language or '?'}; 转写 / engine: {rec.engine} / {rec.model}",
                  "机器转写，请对照录音核实 / machine transcript: check against the recording"]
        stem.with_suffix(".txt").write_text(subtitles.text(rec, header), encoding="utf-8")
        stem.with_suffix(".srt").write_text(subtitles.srt(rec), encoding="utf-8")
        stem.with_suffix(".vtt").write_text(subtitles.vtt(rec), encoding="utf-8")


def _marked(utterance: str, matched: list[str]) -> str:
    """The utterance, escaped, with each matched phrase in <mark>."""
    text = utterance.strip()
    spans = []
    for m in matched:
        at = text.find(m) if m else -1
        if at >= 0:
            spans.append((at, at + len(m)))
    out, pos = [], 0
    for a, b in sorted(spans):
        if a < pos:  # overlapping matches: extend the open mark
            if b > pos:
                out[-1] = out[-1][:-len("</mark>")] + html.escape(text[pos:b]) + "</mark>"
                pos = b
            continue
        out.append(html.escape(text[pos:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)


# Designations a line must never split: "§1692c(a)(1)", "第1692c条(a)(1)项", "Art. 1033(1)",
# "15 U.S.C.", "12 CFR", "9 p.m.", "第一千零三十三条第（一）项".
_NOBREAK = re.compile(
    r"§\s?[0-9][0-9A-Za-z.()\-]*[0-9A-Za-z)]"
    r"|第[0-9A-Za-z一二三四五六七八九十百千零]+条(?:[（(][0-9a-z一二三四五六七八九十]+[）)])*"
    r"(?:第?[（(]?[0-9一二三四五六七八九十]+[）)]?[项款])?"
    r"|\b(?:Art\.|Arts\.|Article)\s[0-9][0-9A-Za-z()]*"
    r"|\b[0-9]+\s(?:U\.S\.C\.|CFR)"
    r"|\b[0-9]{1,2}(?::[0-9]{2})?\s?[ap]\.m\."
    r"|\bCONC\s[0-9.]+")


def unbreakable(text: str) -> Markup:
    """``text`` escaped, each legal designation in it kept on one line (a span that does
    not wrap, its spaces non-breaking)."""
    out, pos = [], 0
    for m in _NOBREAK.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append(Markup('<span class="nb">{}</span>').format(m.group(0).replace(" ", "\u00a0")))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def file_name(name: str) -> Markup:
    """A file name that may wrap only after an underscore or a space, never inside a date,
    a time or a number (each part between them is kept whole)."""
    parts = re.split(r"(?<=[_ /])", name or "")
    return Markup("<wbr>").join(Markup('<span class="nb">{}</span>').format(p) for p in parts if p)


def _pattern_html(pattern: str) -> Markup:
    """A rule's pattern, escaped, with a place to break after each ``|`` (a long pattern
    wraps between its alternatives, never inside a word)."""
    return Markup("|<wbr>").join(escape(part) for part in pattern.split("|"))


def _detection_lines(data: ReportData, L: dict) -> list[str]:
    """How the runs that made the report's findings detected, each kind said once."""
    keys = {True: "detection_meaning", False: "detection_rules_only", None: "detection_unknown"}
    return list(dict.fromkeys(L[keys[meaning_ran(r["detection"])]] for r in data.detection_runs))


def _finding_entry(f: FindingItem) -> dict:
    """A finding as the manifest lists it: what it is, and why it was flagged."""
    return {"finding_id": f.id, "recording_sha256": f.recording.id, "rule_id": f.rule_id,
            "category": f.category, "severity": f.severity, "method": f.method or "rule",
            "found_by_meaning": f.why.by_meaning, "matched_by_sound": f.why.by_sound,
            "pattern": f.pattern, "score": f.score, "confidence": f.confidence,
            "matched_text": f.matched_text, "sentence_start_s": f.sentence_start,
            "words_span_s": [f.start, f.end], "review_status": f.review_status,
            "run_id": f.run_id, "detection": f.detection}


def _message_entries(messages: list[MessageItem]) -> list[dict]:
    """Each message in the report as the manifest lists it, with the sha256 of the export
    it was imported from where that file is still there (so the recipient can check the
    text against the phone's export)."""
    hashes: dict[str, str | None] = {}
    for m in messages:
        if m.source not in hashes:
            p = Path(m.source)
            hashes[m.source] = sha256_file(p) if p.is_file() else None
    return [{"message_id": m.id, "source": m.source, "source_sha256": hashes[m.source],
             "line": m.line, "sent_at": m.sent_at, "phone_number": m.phone_number, "text": m.text,
             "jurisdiction": m.jurisdiction, "jurisdiction_why": m.jurisdiction_reason,
             "findings": [{"message_finding_id": f.id, "rule_id": f.rule_id, "category": f.category,
                           "severity": f.severity, "matched_text": f.matched_text,
                           "method": f.method or "rule", "found_by_meaning": f.why.by_meaning,
                           "pattern": f.pattern, "score": f.score, "review_status": f.review_status}
                          for f in m.findings]}
            for m in messages]


def _write_html(data: ReportData, folder: Path, languages: tuple[str, ...],
                clip_paths: dict[int, tuple[str, float, float]],
                originals: dict[str, Path], complainant: str | None = None) -> tuple[list[Path], str]:
    """Write report-<lang>.html for each language; returns them and a note on the font.

    Each page is rendered once without the font to learn which characters it shows,
    then one font subset covering all the pages is embedded in each (the CJK font
    file is read and cut once per package, not once per language).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("pipeline") / "report" / "templates")),
        autoescape=True)
    template = env.get_template("report.html")
    contexts = {lang: {**_context(data, lang, clip_paths, originals), "complainant": complainant}
                for lang in languages}
    shown = "".join(re.sub(r"<[^>]+>", "", template.render(**c)) for c in contexts.values())
    font = fonts.embed(shown)
    paths = []
    for lang, context in contexts.items():
        out = folder / f"report-{lang}.html"
        out.write_text(template.render(**{**context, "font_css": font.css}), encoding="utf-8")
        paths.append(out)
    return paths, f"font: {font.note}"


def _context(data: ReportData, lang: str, clip_paths: dict[int, tuple[str, float, float]],
             originals: dict[str, Path]) -> dict:
    """What the report template needs, in one language (every word it adds from labels)."""
    L = labels()[lang]
    days = [d.day for d in data.days]

    def cat_label(cat: str) -> str:
        c = data.categories.get(cat, {})
        return c.get(lang) or cat

    def plural(key: str, n: int, **more) -> str:
        forms = L[key]
        return (forms[0] if n == 1 else forms[1]).format(n=n, **more)

    def cite(items: list[dict]) -> list[Markup]:
        """Citation labels in this language (the items are already this call's law, verified,
        their conditions applied: ``provisions``), each unbreakable inside, with its
        condition when it has one."""
        out = []
        for c in items:
            label = c.get(lang) or f"{c.get('instrument', '')} {c.get('article', '')}".strip()
            text = Markup('<span class="cite">{}</span>').format(unbreakable(label))
            if c.get("condition"):
                text += Markup('<br><span class="meta condition">{}</span>').format(c["condition"][lang])
            out.append(text)
        return out

    def who(speaker: str | None) -> str:
        return L["speakers"].get(speaker, speaker) if speaker else L["unknown"]

    def jurisdiction(code: str, reason: str | None = None) -> str:
        text = L["jurisdiction_names"].get(code, code)  # the place's name: never a bare code
        if reason is None:
            return text
        why = _reason(L, reason)
        return f"{text}, {why}" if lang == "en" else f"{text}，{why}"

    def confidence(x: FindingItem) -> str:
        return L["not_applicable"] if x.confidence is None else f"{x.confidence:.2f}"

    incidents = []
    for n, inc in enumerate(data.incidents, 1):
        clip = clip_paths.get(n)
        incidents.append({"inc": inc, "clip": clip[0] if clip else None,
                          "clip_span": span(clip[1], clip[2]) if clip else None,
                          "utterance_html": _marked(inc.utterance, inc.matched),
                          "opening_lines": _opening_lines(inc)})
    messages = [{"item": m, "text_html": _marked(m.text, m.matched)} for m in data.messages]
    per_category = sorted(data.per_category.items(), key=lambda kv: (-kv[1], kv[0]))
    by_jurisdiction: dict[str, list[str]] = {}
    for number, code, reason in data.number_jurisdictions:
        shown = number or L["no_number"]
        by_jurisdiction.setdefault(code, []).append(
            f"{shown} ({_reason(L, reason)})" if lang == "en" else f"{shown}（{_reason(L, reason)}）")
    context = dict(
        L=L, d=data, incidents=incidents, per_category=per_category, messages=messages,
        messages_findings=sum(len(m.findings) for m in data.messages),
        why=lambda x: x.why.sentence(L["why_text"], cat_label(x.category), pattern=False),
        why_message=lambda x: x.why.sentence({**L["why_text"], **L["why_message"]},
                                             cat_label(x.category), pattern=False),
        pattern_html=_pattern_html, detection_lines=_detection_lines(data, L),
        cat_label=cat_label, plural=plural, cite=cite, file_name=file_name, who=who,
        jurisdiction=jurisdiction,
        reviewer=lambda stored: reviewers.describe(stored, L["reviewers"]),
        confidence=confidence, at=at, span=span, clock=complaint.clock,
        pattern_detail=lambda p: _pattern_text(L["pattern_details"], p, L),
        pattern_threshold=lambda p: _pattern_text(L["pattern_thresholds"], p, L),
        by_jurisdiction=by_jurisdiction, night_window=_night_windows(data, L),
        generated=_generated(data.generated_at),
        first_day=days[0] if days else None, last_day=days[-1] if days else None,
        recorded_minutes=sum(r.duration or 0 for r in data.recordings) / 60,
        recordings=[{"rec": r, "copied": r.id in originals} for r in data.recordings],
        chart=chart.calls_per_day(data.days, L), version=__version__, pad=clips.PAD_S,
        font_family=fonts.FAMILY, font_css="")
    return context


def _night_windows(data: ReportData, L: dict) -> str:
    """The night hours of the jurisdictions in the report: "22:00–08:00", or per jurisdiction."""
    windows = data.jurisdictions
    if len(set(windows.values())) == 1:
        return next(iter(windows.values())) or L["no_night_window"]
    sep = "；" if L["lang"].startswith("zh") else "; "
    return sep.join(f"{L['jurisdiction_names'].get(j, j)} {w or L['no_night_window']}"
                    for j, w in windows.items()) or "—"


def _generated(iso: str) -> str:
    """2026-11-29T12:18:58+08:00 -> 2026-11-29 12:18 (UTC+08:00)."""
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    offset = t.strftime("%z")
    return f"{t:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})" if offset else f"{t:%Y-%m-%d %H:%M}"


def _reason(L: dict, reason: str) -> str:
    """Why a number is judged under a jurisdiction, in the report's language."""
    return reason_text(reason, L["jurisdiction_reasons"], L["language_names"])


def _pattern_text(templates: dict, p: PatternItem, L: dict) -> str:
    """A call-pattern finding's detail or threshold, in the report's language, from its facts."""
    template = templates.get(p.kind)
    if template is None:  # a pattern this version cannot word: the stored text, as made
        return p.detail if templates is L["pattern_details"] else (p.threshold or "")
    facts = dict(p.facts)
    if p.kind == "night":
        facts["what"] = templates.get("night_connected" if facts.get("connected") else "night_attempt", "")
    if isinstance(facts.get("numbers"), list):
        facts["numbers"] = ("、" if L["lang"].startswith("zh") else ", ").join(facts["numbers"])
    if isinstance(template, list):  # [one, many]: agrees with the count
        template = template[0] if facts.get("count") == 1 else template[1]
    try:
        return template.format(**facts)
    except (KeyError, IndexError):
        return p.detail


def _opening_lines(inc: Incident) -> list:
    """The transcript of a call's opening, shown for a finding about the opening."""
    if not inc.opening:
        return []
    end = inc.end if inc.end is not None else 0
    return [s for s in inc.recording.segments if s.start <= end + 0.01]


def _zip(folder: Path) -> Path:
    zpath = folder.with_suffix(".zip")
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, arcname=f"{folder.name}/{p.relative_to(folder).as_posix()}")
    return zpath
