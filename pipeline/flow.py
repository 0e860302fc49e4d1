"""The one place that knows the order: ingest -> normalise -> transcribe -> detect -> store.

Every other module does one stage and knows nothing of the others.  A file
that fails at any stage is recorded with its error and the batch goes on;
each recording is committed whole, so a killed run resumes cleanly: files
already ``done`` (by content hash) are skipped, everything else is redone.

Problems that are not one file's fault (disk full, cache or database not
writable) stop the run with ``FlowError``/``StoreError`` instead of marking
every remaining file as failed.  See docs/reliability.md.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, callstore, ingest, models
from .calllog import CallLogError, read_call_log
from .callpattern import analyse, load_call_rules, merge_calls
from .detect import Detector, Finding, TimedText, TimedWord
from .engines import Engine, Transcript, load_engine
from .normalise import NormaliseError, normalise
from .scale import RayOptions, make_executor
from .store import FindingRow, SegmentRow, Store, StoreError
from .textnorm import to_traditional
from .transcribe import (  # noqa: F401 (re-exported: the pipeline's public names)
    CHANNEL_LABELS,
    NO_SPEECH_NOTE,
    SILENT_NOTE,
    WINDOW_SECONDS,
    transcribe_normalised_noted,
    transcribe_path,
)

# Test-only: print stage events to stderr so a test can kill the process at a known point.
TRACE_ENV = "CALL_EVIDENCE_TEST_TRACE"

_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


class FlowError(RuntimeError):
    """The run as a whole cannot proceed (not one file's problem)."""


class FileFailed(RuntimeError):
    """One file could not be processed; ``message`` is what the user reads."""

    def __init__(self, rec: dict, message: str):
        super().__init__(message)
        self.rec, self.message = rec, message


@dataclass
class Prepared:
    """A file ready to be written: everything but the database transaction."""

    shown: str
    rec: dict
    rows: list
    findings: list
    derived: list


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
    script: str = "simplified"  # Chinese output: "simplified" or "traditional"
    workers: int = 0  # files transcribed at once; 0: automatic (one per 1-2 cores, faster-whisper)
    jurisdiction: str | None = None  # call-pattern thresholds (data/call_rules.yaml); None: default
    call_log: Path | None = None  # a phone call-log CSV to import before the call-pattern check
    diarize: bool = False  # mono: estimated two-speaker split (pipeline/diarize.py), labels say so
    executor: str = "local"  # "local": threads here; "ray": Ray workers (docs/scale-out.md)
    ray: RayOptions = field(default_factory=RayOptions)  # used with executor "ray"


@dataclass
class Summary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    findings: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # links left out, with why
    handled: list[Path] = field(default_factory=list)  # files looked at (not left by a stop)
    stopped: bool = False  # a stop was requested and honoured between two recordings
    run_id: int | None = None
    pattern_findings: int = 0  # call-pattern findings (night calls, caps...) after this run
    # wall seconds per stage (ingest, normalise, transcribe, detect, store), for benchmarks
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    workers: list[dict] = field(default_factory=list)  # per-worker throughput (Ray executor)
    detection_notice: str | None = None  # why the meaning layer did not run, when it did not

    def line(self) -> str:
        return (f"processed {self.processed}, skipped {self.skipped} (already done), "
                f"failed {self.failed}, findings {self.findings}")

    def add(self, other: Summary) -> None:
        self.processed += other.processed
        self.skipped += other.skipped
        self.failed += other.failed
        self.findings += other.findings
        self.failures += other.failures
        self.ignored += other.ignored


@contextmanager
def run_lock(db_path: Path):
    """One pipeline run per database; a second one exits with a clear message."""
    lock_path = Path(str(db_path) + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock_path, "a+")  # not "w": that would wipe the holder's pid before we know
    except OSError as e:
        raise FlowError(f"cannot create the lock file {lock_path}: {e.strerror}. "
                        "Is the database folder writable?") from e
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            f.seek(0)
            holder = f.read().strip()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise FlowError(f"another call-evidence run{who} is writing {db_path}; "
                            "wait for it to finish and run again") from e
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    conduct = [f for f in kept if f.category not in ("legal_claim", "stop_request")]
    if early or sum(r.end - r.start for r in speech) < 3.0 or not conduct:
        return kept
    first = speech[0]
    return kept + [FindingRow(
        segment_idx=first.idx, rule_id="NO_IDENTIFICATION_FIRST_45S", category="identity",
        severity="low", matched_text="", quote=" ".join(r.text for r in speech[:3])[:120],
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
                      score=f.score)


# ---------------------------------------------------------------------- environment
def _disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(t in str(e) for t in _DISK_FULL_TEXT)


def _trace(msg: str) -> None:
    if os.environ.get(TRACE_ENV):
        print(f"TEST: {msg}", file=sys.stderr, flush=True)


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
        self.remote_engine = None  # Ray executor: what the workers loaded, for the run record

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            o = self.options
            self.log(f"loading {o.engine} with model {o.model or models.BUNDLED_MODEL} ...")
            workers = self.workers()
            threads = o.threads or (max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0)
            self._engine = load_engine(o.engine, o.model, device=o.device, threads=threads,
                                       workers=workers)
        return self._engine

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

    def settings(self) -> dict:
        o = self.options
        s = {"engine": o.engine, "model": o.model or models.BUNDLED_MODEL,
             "language": o.language or "auto", "split_stereo": o.split_stereo,
             "rules": [str(p) for p in self.detector.pack.sources], "diarize": o.diarize}
        if o.diarize:  # which voice model made the estimated speaker labels
            from .diarize import DiarizeError, model_description

            try:  # asked at the start of a run, so a missing model stops it before any file
                s["diarize_model"] = model_description()
            except DiarizeError as e:
                raise FlowError(str(e)) from e
        if o.executor != "local":
            s["executor"] = o.executor
        engine = self._engine if self._engine is not None else self.remote_engine
        if engine is not None and hasattr(engine, "settings"):
            s["engine_settings"] = engine.settings()
        return s

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
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
            raise FlowError(self._cache_message(e)) from e

    def _cache_message(self, e: BaseException) -> str:
        why = getattr(e, "strerror", None) or str(e)
        if _disk_full(e):
            return (f"the disk holding the audio cache {self.cache_dir} is full ({why}). "
                    "Nothing was half-written; finished recordings are saved. "
                    "Free some space and run again.")
        return (f"the audio cache {self.cache_dir} is not writable ({why}). "
                "Make it writable or set CALL_EVIDENCE_CACHE to a writable folder, then run again.")

    def _is_cache_problem(self, e: BaseException) -> bool:
        """Disk full, or the cache folder refusing writes: no file's fault, so stop the run."""
        if _disk_full(e):
            return True
        if isinstance(e, OSError) and e.errno in _ENVIRONMENT_ERRNOS:
            return str(self.cache_dir) in str(getattr(e, "filename", "") or "")
        return isinstance(e, NormaliseError) and str(self.cache_dir) in str(e) and (
            "Permission denied" in str(e) or "Read-only file system" in str(e))

    # ------------------------------------------------------------------ one file
    def process_file(self, store: Store, src: ingest.SourceFile, run_id: int) -> int:
        """Normalise, transcribe, detect and store one file; returns its finding count.

        A problem with the file itself is recorded as the recording's error and
        re-raised; a problem with the machine (disk full, cache not writable) is
        raised as ``FlowError`` and records nothing, so the file is retried.
        """
        return self.commit(store, self.prepare(src, run_id))

    def prepare(self, src: ingest.SourceFile, run_id: int) -> Prepared:
        """Everything but the database write (safe to run in a worker thread)."""
        shown = ingest.display_path(src.path)
        rec = self.record_for(src, run_id)
        stage = "normalise"
        try:
            with self._stage("normalise"), self._readable_name(src) as readable:
                norm = normalise(readable, src.sha256, self.cache_dir, self.options.split_stereo)
            info = norm.info
            rec.update(container=info.container, codec=info.codec, sample_rate=info.sample_rate,
                       channels=info.channels, duration=info.duration)
            engine = self.engine  # loaded outside the timed stage: model load is not transcription
            stage = "transcription"
            _trace(f"transcribing {shown}")
            with self._stage("transcribe"):
                transcript, speakers, note = transcribe_normalised_noted(
                    engine, norm, file_language(src.path, self.options.language),
                    diarize=self.options.diarize)
            stage = "detection"
            with self._stage("detect"):
                rows = _to_rows(transcript, speakers, self.options.script)
                findings = identity_check(detect_rows(self.detector, rows, transcript.language), rows)
            stage = "hashing the normalised audio"
            with self._stage("normalise"):
                derived = [("normalised audio", str(p), ingest.sha256_of(p), p.stat().st_size)
                           for p in [norm.mix, *norm.channel_paths]]
        except (StoreError, FlowError, KeyboardInterrupt):
            raise
        except Exception as e:
            if self._is_cache_problem(e):
                raise FlowError(self._cache_message(e)) from e
            if isinstance(e, NormaliseError):
                message = str(e)
            elif stage == "transcription":
                message = f"transcription failed: {type(e).__name__}: {e}"
            else:
                message = f"{stage} failed: {type(e).__name__}: {e}"
            raise FileFailed(rec, message[:1000]) from e
        rec.update(language=transcript.language, language_probability=transcript.language_probability,
                   engine=self.options.engine, model=engine.model_name, note=note)
        return Prepared(shown, rec, rows, findings, derived)

    def record_for(self, src: ingest.SourceFile, run_id: int) -> dict:
        """The recording's row as far as the fingerprint knows it (all a failure stores)."""
        return {"id": src.sha256, "path": ingest.display_path(src.path),
                "file_name": ingest.display_path(src.path.name), "size": src.size, "mtime": src.mtime,
                "phone_number": src.meta.phone_number, "call_time": src.meta.call_time,
                "run_id": run_id}

    def commit(self, store: Store, p: Prepared | FileFailed) -> int:
        """The database write for a prepared file (main thread only)."""
        if isinstance(p, FileFailed):
            store.save_failure(p.rec, p.message)
            raise p
        with self._stage("store"):
            store.save_recording(p.rec, p.rows, p.findings, p.rec["run_id"], derived=p.derived)
        _trace(f"committed {p.shown}")
        return len(p.findings)

    @contextmanager
    def _readable_name(self, src: ingest.SourceFile) -> Iterator[Path]:
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

    # ------------------------------------------------------------------ runs
    def run(self, folder: Path, db_path: Path, progress: bool = True,
            should_stop: Callable[[], bool] | None = None) -> Summary:
        folder = Path(folder)
        if not folder.is_dir():
            raise FlowError(f"recordings folder not found: {folder}")
        with run_lock(db_path):
            self.check_cache_writable()
            store = Store(db_path)
            try:
                ignored: list[tuple[Path, str]] = []
                paths = ingest.discover(folder, ignored)
                summary = self.run_batch(store, folder, paths, progress, should_stop)
                summary.ignored = [(ingest.display_path(p), why) for p, why in ignored]
                summary.pattern_findings = analyse_calls(
                    store, self.options.jurisdiction, summary.run_id, self.options.call_log)
                return summary
            finally:
                store.close()

    def run_batch(self, store: Store, folder: Path, paths: list[Path], progress: bool = False,
                  should_stop: Callable[[], bool] | None = None) -> Summary:
        """Process ``paths`` (found in ``folder``) as one run; the caller holds the run lock."""
        from tqdm import tqdm

        summary = Summary()
        self.stage_seconds = summary.stage_seconds
        known = store.known_statuses()
        run_id = store.start_run(tool_version=__version__, engine=self.options.engine,
                                 model=self.options.model or models.BUNDLED_MODEL,
                                 folder=ingest.display_path(Path(folder).resolve()),
                                 settings=self.settings(), detection=self.detector.describe())
        summary.run_id = run_id
        summary.detection_notice = self.detector.meaning_notice
        bar = tqdm(paths, unit="file", disable=not progress, file=sys.stderr,
                   desc="transcribing")
        say = (lambda m: bar.write(m, file=sys.stderr)) if progress else self.log
        status = "finished"
        # Files are prepared (normalised, transcribed, scanned) by the executor: threads
        # here, or Ray workers (pipeline/scale); this thread alone writes the database,
        # in the order files were found.
        executor = None
        pending: deque = deque()
        try:
            executor = make_executor(self)
            workers = executor.slots
            for path in bar:
                while pending and len(pending) >= workers:
                    self._settle(store, pending.popleft(), known, summary, say)  # wait for a slot
                if should_stop is not None and should_stop():
                    summary.stopped = True
                    status = "stopped"
                    break
                bar.set_postfix_str(ingest.display_path(path.name)[-40:], refresh=False)
                job = self._start(store, folder, path, known, run_id, summary, say, executor)
                if job is not None:
                    pending.append(job)
            while pending:
                self._settle(store, pending.popleft(), known, summary, say)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except (StoreError, FlowError):
            status = "failed"
            raise
        finally:
            if executor is not None:
                summary.workers = executor.shutdown()
            bar.close()
            self._finish(store, run_id, status, summary)
        return summary

    def _finish(self, store: Store, run_id: int, status: str, summary: Summary) -> None:
        engine_info = {}
        engine = self._engine if self._engine is not None else self.remote_engine
        if engine is not None:
            engine_info = {"engine_version": engine.version(),
                           "model_sha256": engine.model_sha256,
                           "settings": json.dumps(self.settings(), ensure_ascii=False)}
        try:
            store.finish_run(run_id, status=status, processed=summary.processed,
                             skipped=summary.skipped, failed=summary.failed,
                             findings=summary.findings, **engine_info)
        except StoreError as e:
            # The database refused the bookkeeping write (disk full...). The run row
            # stays 'running' and the next run marks it 'interrupted'; do not hide
            # the error that stopped this run behind this one.
            if status in ("finished", "stopped"):
                raise
            self.log(f"(could not record the end of run {run_id}: {e})")

    def _start(self, store, folder, path, known, run_id, summary, say, executor):
        """Fingerprint one file (main thread) and start preparing it; None when skipped."""
        shown = ingest.display_path(path)
        summary.handled.append(path)
        try:
            with self._stage("ingest"):
                src = ingest.describe(path, folder)
        except OSError as e:
            # Not recorded in the database: without its content there is no hash to key it.
            summary.failed += 1
            summary.failures.append((shown, f"cannot read file: {e.strerror or e}"))
            say(f"FAILED {shown}: cannot read file: {e.strerror or e}")
            return None
        store.note_file(src.sha256, shown, src.size, src.mtime)
        status = known.get(src.sha256)
        if status in ("done", "failed-this-run", "in-flight") or (
                status == "failed" and not self.options.retry_failed):
            summary.skipped += 1
            return None
        known[src.sha256] = "in-flight"  # the same content under another name waits for this one
        return path, src, executor.submit(src, run_id)

    def _prepare_or_failure(self, src, run_id) -> Prepared | FileFailed:
        try:
            return self.prepare(src, run_id)
        except FileFailed as e:
            return e

    def _settle(self, store, job, known, summary, say) -> None:
        """Write one prepared file (or its failure) to the database."""
        path, src, result = job
        if isinstance(result, Future):
            result = result.result()  # FlowError/StoreError from the worker propagate here
        try:
            n = self.commit(store, result)
        except FileFailed as e:
            known[src.sha256] = "failed-this-run"  # the same content under another name: no retry
            summary.failed += 1
            summary.failures.append((ingest.display_path(path), e.message))
            say(f"FAILED {ingest.display_path(path.name)}: {e.message}")
            return
        known[src.sha256] = "done"
        summary.processed += 1
        summary.findings += n


def analyse_calls(store: Store, jurisdiction: str | None = None, run_id: int | None = None,
                  call_log: Path | None = None) -> int:
    """Import ``call_log`` (if given), then recompute every call-pattern finding."""
    callstore.ensure_tables(store)
    if call_log is not None:
        try:
            calls = read_call_log(Path(call_log))
        except (OSError, CallLogError) as e:
            raise FlowError(f"cannot read the call log {call_log}: {e}") from e
        callstore.replace_call_log(store, calls, str(Path(call_log).resolve()))
    rules = load_call_rules(jurisdiction)
    calls = merge_calls(callstore.stored_calls(store), callstore.recordings_with_stop_requests(store))
    findings = analyse(calls, rules)
    callstore.replace_pattern_findings(store, findings, rules["jurisdiction"], run_id)
    return len(findings)


def redetect(db_path: Path, rules: list[Path] | None = None,
             jurisdiction: str | None = None, detector: Detector | None = None) -> tuple[int, int]:
    """Re-run detection on stored transcripts (after a rule change); no re-transcription.

    Returns (recordings re-scanned, findings); call-pattern findings are recomputed too.
    """
    detector = detector or Detector(rule_paths=rules)
    with run_lock(db_path):
        store = Store(db_path)
        try:
            run_id = store.start_run(tool_version=__version__, engine="(detect only)",
                                     settings={"rules": detector.pack.sources},
                                     detection=detector.describe())
            recs = store.conn.execute(
                "select id, language from recordings where status = 'done'").fetchall()
            total = 0
            for sha, language in recs:
                rows = store.load_segments(sha)
                findings = identity_check(detect_rows(detector, rows, language), rows)
                store.replace_findings(sha, findings, run_id)
                total += len(findings)
            analyse_calls(store, jurisdiction, run_id)
            store.finish_run(run_id, processed=len(recs), findings=total)
            return len(recs), total
        finally:
            store.close()
