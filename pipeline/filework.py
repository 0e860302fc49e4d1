"""One file's work, without the database: normalise, transcribe, detect.

``FileWork.prepare`` turns a fingerprinted file into a ``Prepared`` (its
recording row, segments, findings and derived files) or raises ``FileFailed``.
It is the part of the pipeline that can run anywhere: in a thread of this
process (``pipeline.scale.LocalExecutor``) or in a Ray worker on another
machine (``pipeline.scale.worker``).  ``flow.Pipeline`` builds on it and adds
what only the driver does: the stage order over a batch, and the database writes.

Keeping it here, below both ``flow`` and ``scale``, is what lets the flow choose
an executor while the executors run this very code, with no import back up.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import models
from .calls import container, ingest
from .calls.callmeta import CallMeta, from_container_tag
from .detect import Detector, Finding, TimedText, TimedWord
from .detect.quote import opening
from .engines import Engine, EngineError, Transcript, kernels, load_engine
from .errors import FileFailed, FlowError, cache_message, is_cache_problem
from .normalise import NormaliseError, normalise
from .options import Options
from .store import FindingRow, SegmentRow, StoreError
from .textnorm import to_traditional
from .transcribe import transcribe_normalised_noted

# Test-only: print stage events to stderr so a test can kill the process at a known point.
TRACE_ENV = "CALL_EVIDENCE_TEST_TRACE"


def trace(msg: str) -> None:
    if os.environ.get(TRACE_ENV):
        print(f"TEST: {msg}", file=sys.stderr, flush=True)


@dataclass
class Prepared:
    """A file ready to be written: everything but the database transaction."""

    shown: str
    rec: dict
    rows: list
    findings: list
    derived: list


def _to_rows(transcript: Transcript, speakers: dict[int | None, str | None],
             script: str = "simplified") -> list[SegmentRow]:
    """Segments as stored; Chinese in Simplified unless the user asked for Traditional
    (engines always answer in Simplified; detection folds to Simplified either way)."""
    conv = to_traditional if script == "traditional" else (lambda t: t)
    return [
        SegmentRow(idx=i, start=s.start, end=s.end, text=conv(s.text), channel=s.channel,
                   speaker=s.speaker or speakers.get(s.channel), avg_logprob=s.avg_logprob,
                   no_speech_prob=s.no_speech_prob, compression_ratio=s.compression_ratio,
                   words=[(w.start, w.end, conv(w.text), w.probability) for w in s.words])
        for i, s in enumerate(transcript.segments)
    ]


LANGUAGE_SIDECAR = ".lang"  # "call.amr.lang" holding "en" overrides the language for call.amr
IDENTITY_WINDOW_SECONDS = 45.0


def file_language(path: Path, default: str | None) -> str | None:
    """Per-file language override: a text file next to the recording named
    ``<file name>.lang`` containing a code such as ``zh``, ``en`` or ``yue``."""
    side = path.with_name(path.name + LANGUAGE_SIDECAR)
    try:
        code = side.read_text(encoding="utf-8").strip().lower()
    except OSError:
        return default
    return code or default


def identity_check(findings: list[FindingRow], rows: list[SegmentRow]) -> list[FindingRow]:
    """Failure to identify: no caller identification heard in the first 45 seconds.

    Identification phrases are rules of category ``identification`` (a signal, not a
    violation); they are used here and not stored.
    """
    early = [f for f in findings if f.category == "identification"
             and (f.start is None or f.start <= IDENTITY_WINDOW_SECONDS)]
    kept = [f for f in findings if f.category != "identification"]
    speech = [r for r in rows if r.start <= IDENTITY_WINDOW_SECONDS and r.text.strip()]
    # Checked only on calls that already hold another possible violation: there the
    # missing identification is part of the conduct; a polite reminder is left alone.
    conduct = [f for f in kept if f.category not in ("legal_claim", "stop_request") and f.tier == "finding"]
    if early or sum(r.end - r.start for r in speech) < 3.0 or not conduct:
        return kept
    first = speech[0]
    return kept + [FindingRow(
        segment_idx=first.idx, rule_id="NO_IDENTIFICATION_FIRST_45S", category="identity",
        severity="low", matched_text="", quote=opening([r.text for r in speech[:3]]),
        start=first.start, end=speech[min(2, len(speech) - 1)].end, confidence=None,
        speaker=first.speaker,
        citations=[{"id": "NIFA2018_15", "jurisdiction": "CN",
                    "instrument": "互联网金融逾期债务催收自律公约（试行） (NIFA 2018)", "article": "Art. 15"},
                   {"id": "FDCPA_1692E11", "jurisdiction": "US", "instrument": "FDCPA 15 U.S.C.",
                    "article": "§1692e(11), §1692d(6)"}],
        note="possible violation — for human review; no institution or collector "
             "identification was recognised in the first 45 seconds (the recording may "
             "start late, or the words may have been misheard)")]


def detect_rows(detector: Detector, rows: list[SegmentRow], language: str | None) -> list[FindingRow]:
    """Run detection over stored/just-made segments (used by transcribe and re-detect)."""
    utterances = [
        TimedText(text=r.text, start=r.start, end=r.end, speaker=r.speaker, language=language,
                  words=[TimedWord(*w) for w in r.words], ref=r.idx)
        for r in rows
    ]
    return [_finding_row(f) for f in detector.detect(utterances)]


def _finding_row(f: Finding) -> FindingRow:
    return FindingRow(segment_idx=f.ref, rule_id=f.rule_id, category=f.category,
                      severity=f.severity, matched_text=f.matched_text, quote=f.quote,
                      start=f.start, end=f.end, confidence=f.confidence, speaker=f.speaker,
                      citations=f.citations, note=f.note, method=f.method, pattern=f.pattern,
                      score=f.score, tier=f.tier)


class FileWork:
    """What one file's work needs, loaded once: the engine (lazily) and the detector."""

    def __init__(self, options: Options, engine: Engine | None = None,
                 log: Callable[[str], None] | None = None):
        self.options = options
        self._engine = engine
        self.detector = Detector(rule_paths=options.rules)
        self.cache_dir = options.cache_dir or (models.cache_root() / "audio")
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.stage_seconds: dict[str, float] = defaultdict(float)
        self.remote_engine = None  # Ray executor: what the workers loaded, for the run record

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            o = self.options
            self.log(f"loading {o.engine} with model {o.model or models.BUNDLED_MODEL} ...")
            workers = self.workers()
            threads = o.threads or (max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0)
            if o.engine == "faster-whisper":
                try:  # before the model loads: CTranslate2 reads it once per process
                    kernels.force_isa(o.cpu_isa)
                except EngineError as e:
                    raise FlowError(str(e)) from e
            self._engine = load_engine(o.engine, o.model, device=o.device, threads=threads,
                                       workers=workers)
        return self._engine

    @property
    def loaded_engine(self) -> Engine | None:
        """The engine if one is loaded (here, or on the Ray workers); never loads one."""
        return self._engine if self._engine is not None else self.remote_engine

    def workers(self) -> int:
        """How many files to transcribe at once.

        On a 2-core laptop two files at once with one thread each beat one file
        with two threads by about a third (short calls decode in small steps that
        do not spread over threads).  openai-whisper stays at one: PyTorch already
        uses every core and is not meant to be driven from several threads.
        """
        o = self.options
        if o.engine != "faster-whisper":
            return 1
        if o.workers:
            return max(1, o.workers)
        return 2 if (os.cpu_count() or 1) >= 2 else 1

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Adds the wall time of the ``with`` block to ``stage_seconds[name]`` (benchmarks)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] += time.perf_counter() - t0

    # ------------------------------------------------------------------ checks
    def check_cache_writable(self) -> None:
        """Fail the run up front, with a clear message, if decoded audio cannot be written."""
        probe = self.cache_dir / f".write-test-{os.getpid()}"
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise FlowError(cache_message(self.cache_dir, e)) from e

    # ------------------------------------------------------------------ one file
    def prepare(self, src: ingest.SourceFile, run_id: int) -> Prepared:
        """Everything but the database write (safe to run in a worker thread)."""
        shown = ingest.display_path(src.path)
        rec = self.record_for(src, run_id)
        stage = "normalise"
        try:
            with self.stage("normalise"), self.readable_name(src) as readable:
                # (a Ray worker's readable name is its private copy of the sent bytes)
                cut_note = container.check(readable)  # IncompleteFile: fails with its message
                norm = normalise(readable, src.sha256, self.cache_dir, self.options.split_stereo)
            info = norm.info
            rec.update(container=info.container, codec=info.codec, sample_rate=info.sample_rate,
                       channels=info.channels, duration=info.duration)
            if not rec.get("call_time") and info.creation_time:  # never the file's mtime
                rec.update(from_container_tag(CallMeta(**{**src.meta.__dict__}),
                                              info.creation_time).columns())
            engine = self.engine  # loaded outside the timed stage: model load is not transcription
            stage = "transcription"
            trace(f"transcribing {shown}")
            with self.stage("transcribe"):
                transcript, speakers, note = transcribe_normalised_noted(
                    engine, norm, file_language(src.path, self.options.language),
                    diarize=self.options.diarize)
            stage = "detection"
            with self.stage("detect"):
                rows = _to_rows(transcript, speakers, self.options.script)
                findings = identity_check(detect_rows(self.detector, rows, transcript.language), rows)
            stage = "hashing the normalised audio"
            with self.stage("normalise"):
                derived = [("normalised audio", str(p), ingest.sha256_of(p), p.stat().st_size)
                           for p in [norm.mix, *norm.channel_paths]]
        except (StoreError, FlowError, KeyboardInterrupt):
            raise
        except Exception as e:
            if is_cache_problem(self.cache_dir, e):
                raise FlowError(cache_message(self.cache_dir, e)) from e
            if isinstance(e, (NormaliseError, container.IncompleteFile)):
                message = str(e)
            elif stage == "transcription":
                message = f"transcription failed: {type(e).__name__}: {e}"
            else:
                message = f"{stage} failed: {type(e).__name__}: {e}"
            raise FileFailed(rec, message[:1000]) from e
        rec.update(language=transcript.language, language_probability=transcript.language_probability,
                   engine=self.options.engine, model=engine.model_name,
                   note="; ".join(n for n in (cut_note, note) if n) or None)
        return Prepared(shown, rec, rows, findings, derived)

    def record_for(self, src: ingest.SourceFile, run_id: int) -> dict:
        """The recording's row as far as the fingerprint knows it (all a failure stores)."""
        return {"id": src.sha256, "path": ingest.display_path(src.path),
                "file_name": ingest.display_path(src.path.name), "size": src.size, "mtime": src.mtime,
                **src.meta.columns(), "run_id": run_id}

    @contextmanager
    def readable_name(self, src: ingest.SourceFile) -> Iterator[Path]:
        """The path to hand to ffmpeg: the file itself, or a link with a plain name.

        A name that is not valid UTF-8 cannot be passed through ffmpeg's Python
        wrapper; a temporary link in the cache (named by content hash) can.
        """
        if ingest.name_is_text(src.path):
            yield src.path
            return
        suffix = src.path.suffix if ingest.name_is_text(Path(src.path.suffix)) else ""
        link = self.cache_dir / f"{src.sha256}.link{suffix}"
        link.unlink(missing_ok=True)
        os.symlink(os.path.abspath(src.path), link)
        try:
            yield link
        finally:
            link.unlink(missing_ok=True)

    def prepare_or_failure(self, src: ingest.SourceFile, run_id: int) -> Prepared | FileFailed:
        """``prepare``, with a file's own failure returned rather than raised (for executors)."""
        try:
            return self.prepare(src, run_id)
        except FileFailed as e:
            return e
