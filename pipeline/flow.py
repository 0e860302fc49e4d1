"""The one place that knows the order: ingest -> normalise -> transcribe -> detect -> store.

Every other module does one stage and knows nothing of the others.  A file
that fails at any stage is recorded with its error and the batch goes on;
each recording is committed whole, so a killed run resumes cleanly: files
already ``done`` (by content hash) are skipped, everything else is redone.

Problems that are not one file's fault (disk full, cache or database not
writable) stop the run with ``FlowError``/``StoreError`` instead of marking
every remaining file as failed (``pipeline.errors`` tells the two apart).  See
docs/reliability.md.

The middle of the order for one file (normalise, transcribe, detect: all but
the database write) is ``pipeline.filework.FileWork.prepare``, which ``Pipeline``
extends: the executors (``pipeline.scale``) run it too, in threads or on Ray
workers, so it sits below both this module and them, and imports only point down.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, models
from .calls import callstore, ingest
from .calls.calllog import CallLogError, read_call_log
from .calls.callmeta import CallMeta, best_reading
from .calls.callpattern import analyse_by_number, merge_calls
from .calls.jurisdiction import JurisdictionError, load_number_rules
from .detect import Detector
from .errors import FileFailed, FlowError
from .filework import (  # noqa: F401 (re-exported: the per-file work is part of the pipeline's names)
    IDENTITY_WINDOW_SECONDS,
    LANGUAGE_SIDECAR,
    TRACE_ENV,
    FileWork,
    Prepared,
    detect_rows,
    file_language,
    identity_check,
    trace,
)
from .options import Options, RayOptions  # noqa: F401 (re-exported)
from .scale import make_executor
from .store import Store, StoreError
from .transcribe import (  # noqa: F401 (re-exported: the pipeline's public names)
    CHANNEL_LABELS,
    NO_SPEECH_NOTE,
    SILENT_NOTE,
    WINDOW_SECONDS,
    transcribe_normalised_noted,
    transcribe_path,
)


@dataclass
class Summary:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    findings: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # links left out, with why
    copying: list[str] = field(default_factory=list)  # still being copied: left for the next run
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (truncated copy, its whole)
    handled: list[Path] = field(default_factory=list)  # files looked at (not left by a stop)
    stopped: bool = False  # a stop was requested and honoured between two recordings
    run_id: int | None = None
    pattern_findings: int = 0  # call-pattern findings (night calls, caps...) after this run
    # wall seconds per stage (ingest, normalise, transcribe, detect, store), for benchmarks
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    workers: list[dict] = field(default_factory=list)  # per-worker throughput (Ray executor)
    detection_notice: str | None = None  # why the meaning layer did not run, when it did not

    def line(self) -> str:
        copying = (f", {len(self.copying)} still being copied, skipped (run again to process)"
                   if self.copying else "")
        return (f"processed {self.processed}, skipped {self.skipped} (already done){copying}, "
                f"failed {self.failed}, findings {self.findings}")

    def add(self, other: Summary) -> None:
        self.processed += other.processed
        self.skipped += other.skipped
        self.failed += other.failed
        self.findings += other.findings
        self.failures += other.failures
        self.ignored += other.ignored
        self.copying += other.copying
        self.superseded += other.superseded


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


class Pipeline(FileWork):
    """A run over a folder: ``FileWork`` (engine, detector, one file's preparation) plus
    what only the driver does: fingerprint files in order, hand them to an executor,
    write each result to the database, and keep the run's record."""

    def settings(self) -> dict:
        o = self.options
        s = {"engine": o.engine, "model": o.model or models.BUNDLED_MODEL,
             "language": o.language or "auto", "split_stereo": o.split_stereo,
             "rules": [str(p) for p in self.detector.pack.sources], "diarize": o.diarize,
             "jurisdiction": o.jurisdiction}  # the default for numbers numbers.yaml does not place
        if o.diarize:  # which voice model made the estimated speaker labels
            from .diarize import DiarizeError, model_description

            try:  # asked at the start of a run, so a missing model stops it before any file
                s["diarize_model"] = model_description()
            except DiarizeError as e:
                raise FlowError(str(e)) from e
        if o.executor != "local":
            s["executor"] = o.executor
        engine = self.loaded_engine
        if engine is not None and hasattr(engine, "settings"):
            s["engine_settings"] = engine.settings()
        return s

    # ------------------------------------------------------------------ one file
    def process_file(self, store: Store, src: ingest.SourceFile, run_id: int) -> int:
        """Normalise, transcribe, detect and store one file; returns its finding count.

        A problem with the file itself is recorded as the recording's error and
        re-raised; a problem with the machine (disk full, cache not writable) is
        raised as ``FlowError`` and records nothing, so the file is retried.
        """
        return self.commit(store, self.prepare(src, run_id))

    def commit(self, store: Store, p: Prepared | FileFailed) -> int:
        """The database write for a prepared file (main thread only)."""
        if isinstance(p, FileFailed):
            store.save_failure(p.rec, p.message)
            raise p
        with self.stage("store"):
            store.save_recording(p.rec, p.rows, p.findings, p.rec["run_id"], derived=p.derived)
        trace(f"committed {p.shown}")
        return sum(f.tier == "finding" for f in p.findings)  # listen suggestions apart

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
                # a file still arriving (a phone's folder being copied) waits for the next run
                paths, copying = ingest.settled(ingest.discover(folder, ignored))
                summary = self.run_batch(store, folder, paths, progress, should_stop)
                summary.ignored = [(ingest.display_path(p), why) for p, why in ignored]
                summary.copying = [ingest.display_path(p) for p in copying] + summary.copying
                summary.pattern_findings = analyse_calls(
                    store, self.options.jurisdiction, summary.run_id, self.options.call_log)
                return summary
            finally:
                store.close()

    def run_batch(self, store: Store, folder: Path, paths: list[Path], progress: bool = False,
                  should_stop: Callable[[], bool] | None = None) -> Summary:
        """Process ``paths`` (found in ``folder``) as one run; the caller holds the run lock."""
        from tqdm import tqdm

        # every table before the first write, for `transcribe` and `watch` alike: a schema
        # change in the middle of a run makes a browser reading beside it fail ("vtable
        # constructor failed"); on a database that has them this changes nothing
        callstore.ensure_tables(store)
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
        engine = self.loaded_engine
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
        try:
            with self.stage("ingest"):
                before = ingest.file_state(path)
                src = ingest.describe(path, folder)
                if ingest.file_state(path) != before or before is None or before[0] != src.size:
                    summary.copying.append(shown)  # it grew while being hashed: next run
                    return None
        except OSError as e:
            summary.handled.append(path)
            # Not recorded in the database: without its content there is no hash to key it.
            summary.failed += 1
            summary.failures.append((shown, f"cannot read file: {e.strerror or e}"))
            say(f"FAILED {shown}: cannot read file: {e.strerror or e}")
            return None
        summary.handled.append(path)
        store.note_file(src.sha256, shown, src.size, src.mtime)
        self._supersede_truncated(store, src, shown, known, summary, say)
        status = known.get(src.sha256)
        if status == "done":
            self._better_reading(store, src.sha256)  # another name of the same bytes
        if status in ("done", "superseded", "failed-this-run", "in-flight") or (
                status == "failed" and not self.options.retry_failed):
            summary.skipped += 1
            return None
        known[src.sha256] = "in-flight"  # the same content under another name waits for this one
        return path, src, executor.submit(src, run_id)

    def _supersede_truncated(self, store, src, shown, known, summary, say) -> None:
        """A recording whose bytes are the start of this longer file (the same path or the
        same call, read from the name) was a copy taken before the file was complete: it is
        marked superseded by this one and no longer counted."""
        relatives = callstore.shorter_relatives(store, shown, src.size, src.meta.phone_number,
                                                src.meta.call_time)
        for old, size, _status in relatives:
            if not size or ingest.prefix_sha256(src.path, size) != old:
                continue
            callstore.supersede(store, old, src.sha256, f"a truncated copy ({size:,} bytes) of"
                                f" {shown}, which replaces it ({src.sha256[:12]})")
            known[old] = "superseded"
            summary.superseded.append((old, shown))
            say(f"superseded: an earlier, truncated copy of {ingest.display_path(src.path.name)}")

    def _better_reading(self, store: Store, sha: str, rec: dict | None = None) -> dict | None:
        """The reading of the name, among all names of these bytes, that tells the most:
        written to ``rec`` (before its first write) or to the stored row."""
        current = CallMeta(**{k: v for k, v in (rec or callstore.reading_of(store, sha)).items()
                              if k in ("phone_number", "call_time", "contact", "direction")
                              and v is not None})
        best = best_reading(callstore.paths_of(store, sha))
        if best.score() <= current.score():
            return None
        columns = best.columns()
        if best.call_time is None and current.call_time is not None:  # a container tag's time
            columns = {k: v for k, v in columns.items() if k not in ("call_time", "time_source")}
        if rec is not None:
            rec.update(columns)
        else:
            callstore.set_reading(store, sha, columns)
        return columns

    def _settle(self, store, job, known, summary, say) -> None:
        """Write one prepared file (or its failure) to the database."""
        path, src, result = job
        if isinstance(result, Future):
            result = result.result()  # FlowError/StoreError from the worker propagate here
        if not isinstance(result, FileFailed):
            self._better_reading(store, src.sha256, result.rec)  # a duplicate noted meanwhile
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
    try:  # each call judged by its number's jurisdiction (numbers.yaml beside the database)
        judge = load_number_rules(store.path, jurisdiction)
    except JurisdictionError as e:
        raise FlowError(str(e)) from e
    calls = merge_calls(callstore.stored_calls(store), callstore.recordings_with_stop_requests(store))
    findings = analyse_by_number(calls, judge.of)
    callstore.replace_pattern_findings(store, findings, judge.default, run_id)
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
                                     settings={"rules": detector.pack.sources,
                                               "jurisdiction": jurisdiction},
                                     detection=detector.describe())
            recs = store.conn.execute(
                "select id, language from recordings where status = 'done'").fetchall()
            total = 0
            for sha, language in recs:
                rows = store.load_segments(sha)
                findings = identity_check(detect_rows(detector, rows, language), rows)
                store.replace_findings(sha, findings, run_id)
                total += sum(f.tier == "finding" for f in findings)
            analyse_calls(store, jurisdiction, run_id)
            store.finish_run(run_id, processed=len(recs), findings=total)
            return len(recs), total
        finally:
            store.close()
