"""Watch mode: process recordings as they are dropped into the folder.

Polling (no extra dependency, works on network shares and phone-sync folders
where inotify does not).  A file is processed only once its size and mtime
have stayed the same for ``stable_polls`` consecutive polls, because phones
and sync tools write slowly.  A folder that disappears (unmounted share,
unplugged phone) is waited for; when it comes back everything in it is looked
at again (content already ``done`` is recognised by hash and skipped).

Ctrl-C (or SIGTERM) asks the watcher to stop *between* recordings: the
current one is finished and committed, then the watcher exits with code 0.
A second Ctrl-C stops at once; committed recordings are kept either way.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .calls import ingest
from .flow import Pipeline, Summary, analyse_calls, run_lock
from .store import Store

DEFAULT_INTERVAL = 2.0
DEFAULT_STABLE_POLLS = 3


class StopFlag:
    """Set from a signal handler or another thread; read between recordings.

    A plain attribute, not ``threading.Event``: setting an Event takes a lock,
    which a signal handler must not do.
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested


@dataclass
class WatchSummary:
    totals: Summary = field(default_factory=Summary)
    polls: int = 0
    batches: int = 0
    unavailable: int = 0  # times the folder went away

    def line(self) -> str:
        return self.totals.line()


class Watcher:
    def __init__(self, pipeline: Pipeline, folder: Path, db_path: Path,
                 interval: float = DEFAULT_INTERVAL, stable_polls: int = DEFAULT_STABLE_POLLS,
                 stop: StopFlag | None = None, log: Callable[[str], None] | None = None):
        self.pipeline = pipeline
        self.folder = Path(folder)
        self.db_path = Path(db_path)
        self.interval = interval
        self.stable_polls = max(1, stable_polls)
        self.stop = stop or StopFlag()
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.summary = WatchSummary()
        self._seen: dict[Path, tuple[tuple[int, int], int]] = {}  # path -> (size, mtime), polls
        self._handled: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime) when processed
        self._available: bool | None = None

    # ------------------------------------------------------------------ loop
    def run(self) -> WatchSummary:
        """Hold the run lock and poll until stopped."""
        with run_lock(self.db_path):
            self.pipeline.check_cache_writable()
            store = Store(self.db_path)
            try:
                self.log(f"Watching {self.folder}/ (every {self.interval:g} s; Ctrl-C to stop)")
                while not self.stop.is_set():
                    self.poll_once(store)
                    self._sleep(self.interval)
            finally:
                store.close()
        return self.summary

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop.is_set() and (left := end - time.monotonic()) > 0:
            time.sleep(min(0.2, left))

    # ------------------------------------------------------------------ one poll
    def poll_once(self, store: Store) -> Summary | None:
        """Look at the folder once; process every file that has become stable."""
        self.summary.polls += 1
        try:
            available = self.folder.is_dir()
            paths = ingest.discover(self.folder) if available else []
        except OSError:
            available, paths = False, []
        if not available:
            if self._available is not False:
                self.log(f"The folder {self.folder}/ is not available; waiting for it to come back.")
                self.summary.unavailable += 1
            self._available = False
            self._seen.clear()
            self._handled.clear()  # look at everything again when it is back (hash decides)
            return None
        if self._available is False:
            self.log(f"The folder {self.folder}/ is back.")
        self._available = True
        ready = self._stable(paths)
        if not ready or self.stop.is_set():
            return None
        batch = self.pipeline.run_batch(store, self.folder, ready, progress=False,
                                        should_stop=self.stop.is_set)
        self.summary.batches += 1
        self.summary.totals.add(batch)
        for p in batch.handled:
            if p in self._seen:
                self._handled[p] = self._seen[p][0]
        if batch.processed:
            batch.pattern_findings = analyse_calls(store, self.pipeline.options.jurisdiction,
                                                   batch.run_id)
        if batch.processed or batch.failed:
            self.log(f"{time.strftime('%H:%M:%S')} {batch.line()}")
        return batch

    def _stable(self, paths: list[Path]) -> list[Path]:
        """Paths whose size and mtime have not changed for ``stable_polls`` polls."""
        ready = []
        current = set(paths)
        for p in list(self._seen):
            if p not in current:
                del self._seen[p]
                self._handled.pop(p, None)
        for p in paths:
            key = ingest.file_state(p)  # the same test transcribe's settle check uses
            if key is None:
                continue  # vanished between listing and looking; seen next time if back
            if self._handled.get(p) == key:
                continue
            prev = self._seen.get(p)
            count = prev[1] + 1 if prev and prev[0] == key else 1
            self._seen[p] = (key, count)
            if count >= self.stable_polls:
                ready.append(p)
        return ready


def install_signal_handlers(stop: StopFlag, log: Callable[[str], None]) -> None:
    """First Ctrl-C/SIGTERM: stop between recordings.  Second Ctrl-C: stop now."""

    def handler(signum, frame):
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()
        log("\nStopping after the current recording (Ctrl-C again to stop at once) ...")

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
