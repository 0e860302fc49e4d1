"""The one place that knows the order: ingest -> normalise -> transcribe -> detect -> store.

Every other module does one stage and knows nothing of the others.  A file
that fails at any stage is recorded with its error and the batch goes on;
each recording is committed whole, so a killed run resumes cleanly: files
already ``done`` (by content hash) are skipped, everything else is redone.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, ingest, models
from .detect import Detector, Finding, TimedText, TimedWord
from .engines import Engine, EngineError, Transcript, load_engine
from .normalise import NormaliseError, load_wav, normalise
from .store import FindingRow, SegmentRow, Store, StoreError

CHANNEL_LABELS = {0: "channel 1 (left)", 1: "channel 2 (right)"}


class FlowError(RuntimeError):
    """The run as a whole cannot proceed (not one file's problem)."""


@dataclass
class Options:
    engine: str = "faster-whisper"
    model: str | None = None
    language: str | None = None  # None = detect per file
    device: str = "auto"
    threads: int = 0
    split_stereo: bool = True
    rules: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None
    retry_failed: bool = True


@dataclass
class Summary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    findings: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    run_id: int | None = None
    # wall seconds per stage (ingest, normalise, transcribe, detect, store), for benchmarks
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def line(self) -> str:
        return (f"processed {self.processed}, skipped {self.skipped} (already done), "
                f"failed {self.failed}, findings {self.findings}")


@contextmanager
def run_lock(db_path: Path):
    """One pipeline run per database; a second one exits with a clear message."""
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise FlowError(f"another call-evidence run is writing {db_path}; "
                            "wait for it to finish and run again") from e
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _to_rows(transcript: Transcript, speakers: dict[int | None, str | None]) -> list[SegmentRow]:
    return [
        SegmentRow(idx=i, start=s.start, end=s.end, text=s.text, channel=s.channel,
                   speaker=speakers.get(s.channel), avg_logprob=s.avg_logprob,
                   no_speech_prob=s.no_speech_prob, compression_ratio=s.compression_ratio,
                   words=[(w.start, w.end, w.text, w.probability) for w in s.words])
        for i, s in enumerate(transcript.segments)
    ]


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
                      citations=f.citations, note=f.note)


def transcribe_audio(engine: Engine, audio, language: str | None) -> Transcript:
    return engine.transcribe(load_wav(audio), language=language)


def transcribe_path(engine: Engine, path: Path, language: str | None = None,
                    cache_dir: Path | None = None, split_stereo: bool = True) -> Transcript:
    """The pipeline's transcription of one file (normalise + engine + clean-up), no database.

    Used by evaluation and benchmarks so they measure exactly what ``transcribe`` stores.
    """
    from .ingest import sha256_of

    cache = cache_dir or (models.cache_root() / "audio")
    norm = normalise(Path(path), sha256_of(Path(path)), cache, split_stereo)
    return _transcribe_normalised(engine, norm, language)[0]


def _transcribe_normalised(engine: Engine, norm, language: str | None) -> tuple[Transcript, dict]:
    """Mono: one pass.  Split stereo: one pass per channel, merged by time."""
    if not norm.channel_paths:
        return transcribe_audio(engine, norm.mix, language), {None: None}
    parts = []
    for ch, path in enumerate(norm.channel_paths):
        t = transcribe_audio(engine, path, language)
        for s in t.segments:
            s.channel = ch
        parts.append(t)
    main = max(parts, key=lambda t: sum(len(s.text) for s in t.segments))
    merged = sorted((s for t in parts for s in t.segments), key=lambda s: (s.start, s.channel))
    return Transcript(main.language, main.language_probability, merged), dict(CHANNEL_LABELS)


class Pipeline:
    """Holds what is loaded once per run: the engine (lazily) and the detector."""

    def __init__(self, options: Options, engine: Engine | None = None,
                 log: Callable[[str], None] | None = None):
        self.options = options
        self._engine = engine
        self.detector = Detector(rule_paths=options.rules)
        self.cache_dir = options.cache_dir or (models.cache_root() / "audio")
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.stage_seconds: dict[str, float] = defaultdict(float)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            o = self.options
            self.log(f"loading {o.engine} with model {o.model or models.BUNDLED_MODEL} ...")
            self._engine = load_engine(o.engine, o.model, device=o.device, threads=o.threads)
        return self._engine

    def settings(self) -> dict:
        o = self.options
        s = {"engine": o.engine, "model": o.model or models.BUNDLED_MODEL,
             "language": o.language or "auto", "split_stereo": o.split_stereo,
             "rules": [str(p) for p in self.detector.pack.sources]}
        if self._engine is not None and hasattr(self._engine, "settings"):
            s["engine_settings"] = self._engine.settings()
        return s

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] += time.perf_counter() - t0

    def process_file(self, store: Store, src: ingest.SourceFile, run_id: int) -> int:
        """Normalise, transcribe, detect and store one file; returns its finding count."""
        rec = {"id": src.sha256, "path": str(src.path), "file_name": src.path.name,
               "size": src.size, "mtime": src.mtime, "phone_number": src.meta.phone_number,
               "call_time": src.meta.call_time, "run_id": run_id}
        try:
            with self._stage("normalise"):
                norm = normalise(src.path, src.sha256, self.cache_dir, self.options.split_stereo)
        except NormaliseError as e:
            store.save_failure(rec, str(e))
            raise
        info = norm.info
        rec.update(container=info.container, codec=info.codec, sample_rate=info.sample_rate,
                   channels=info.channels, duration=info.duration)
        engine = self.engine  # loaded outside the timed stage: model load is not transcription
        try:
            with self._stage("transcribe"):
                transcript, speakers = _transcribe_normalised(engine, norm, self.options.language)
        except Exception as e:
            store.save_failure(rec, f"transcription failed: {type(e).__name__}: {e}")
            raise
        with self._stage("detect"):
            rows = _to_rows(transcript, speakers)
            findings = detect_rows(self.detector, rows, transcript.language)
        rec.update(language=transcript.language, language_probability=transcript.language_probability,
                   engine=self.options.engine, model=engine.model_name)
        with self._stage("store"):
            store.save_recording(rec, rows, findings, run_id)
        return len(findings)

    def run(self, folder: Path, db_path: Path, progress: bool = True) -> Summary:
        folder = Path(folder)
        if not folder.is_dir():
            raise FlowError(f"recordings folder not found: {folder}")
        with run_lock(db_path):
            store = Store(db_path)
            try:
                return self._run(store, folder, progress)
            finally:
                store.close()

    def _run(self, store: Store, folder: Path, progress: bool) -> Summary:
        from tqdm import tqdm

        summary = Summary()
        self.stage_seconds = summary.stage_seconds
        paths = ingest.discover(folder)
        known = store.known_statuses()
        run_id = store.start_run(tool_version=__version__, engine=self.options.engine,
                                 model=self.options.model or models.BUNDLED_MODEL,
                                 folder=str(folder.resolve()), settings=self.settings())
        summary.run_id = run_id
        bar = tqdm(paths, unit="file", disable=not progress, file=sys.stderr,
                   desc="transcribing")
        status = "finished"
        try:
            for path in bar:
                bar.set_postfix_str(path.name[-40:], refresh=False)
                self._one(store, folder, path, known, run_id, summary, bar)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            bar.close()
            engine_info = {}
            if self._engine is not None:
                engine_info = {"engine_version": self._engine.version(),
                               "model_sha256": self._engine.model_sha256,
                               "settings": json.dumps(self.settings(), ensure_ascii=False)}
            store.finish_run(run_id, status=status, processed=summary.processed,
                             skipped=summary.skipped, failed=summary.failed,
                             findings=summary.findings, **engine_info)
        return summary

    def _one(self, store, folder, path, known, run_id, summary, bar) -> None:
        try:
            with self._stage("ingest"):
                src = ingest.describe(path, folder)
        except OSError as e:
            summary.failed += 1
            summary.failures.append((str(path), f"cannot read file: {e}"))
            bar.write(f"FAILED {path}: cannot read file: {e}")
            return
        store.note_file(src.sha256, str(src.path), src.size, src.mtime)
        status = known.get(src.sha256)
        if status == "done" or (status == "failed" and not self.options.retry_failed):
            summary.skipped += 1
            return
        try:
            n = self.process_file(store, src, run_id)
        except (NormaliseError, EngineError, OSError, RuntimeError, ValueError) as e:
            if isinstance(e, StoreError):
                raise
            summary.failed += 1
            summary.failures.append((str(path), str(e)))
            bar.write(f"FAILED {path.name}: {e}")
            return
        known[src.sha256] = "done"
        summary.processed += 1
        summary.findings += n


def redetect(db_path: Path, rules: list[Path] | None = None) -> tuple[int, int]:
    """Re-run detection on stored transcripts (after a rule change); no re-transcription."""
    detector = Detector(rule_paths=rules)
    with run_lock(db_path):
        store = Store(db_path)
        try:
            run_id = store.start_run(tool_version=__version__, engine="(detect only)",
                                     settings={"rules": detector.pack.sources})
            recs = store.conn.execute(
                "select id, language from recordings where status = 'done'").fetchall()
            total = 0
            for sha, language in recs:
                rows = store.load_segments(sha)
                findings = detect_rows(detector, rows, language)
                store.replace_findings(sha, findings, run_id)
                total += len(findings)
            store.finish_run(run_id, processed=len(recs), findings=total)
            return len(recs), total
        finally:
            store.close()
