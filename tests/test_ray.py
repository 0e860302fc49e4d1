"""``--executor ray``: the same database as the local executor, and no file lost to a dead worker.

The slow tests start a real Ray cluster on this machine (a head with no CPUs
and two worker nodes of one CPU each, so the two worker actors are separate
processes on separate Ray nodes) and run the real Whisper model in each.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from pipeline import flow
from pipeline.flow import FileFailed, FlowError, Options, Pipeline
from pipeline.scale import LocalExecutor, RayOptions, make_executor

from .conftest import FIXTURES, make_broken_files

ROUND = 2  # decimals: times "within rounding"


# ---------------------------------------------------------------- fast, no cluster
def test_local_is_the_default_executor(tmp_path):
    pipe = Pipeline(Options(cache_dir=tmp_path, workers=1))
    ex = make_executor(pipe)
    assert isinstance(ex, LocalExecutor) and ex.slots == 1
    assert ex.shutdown() == []


def test_options_cross_process_boundaries():
    opts = Options(executor="ray", ray=RayOptions(address="auto", workers=3, ship_bytes="always"))
    assert pickle.loads(pickle.dumps(opts)) == opts


def test_file_failed_needs_the_plain_form_to_cross_processes():
    """Why workers return ``Failed``: the exception itself does not unpickle."""
    from pipeline.scale.worker import Failed

    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(FileFailed({"id": "x"}, "bad audio")))
    assert pickle.loads(pickle.dumps(Failed({"id": "x"}, "bad audio"))) == Failed({"id": "x"}, "bad audio")


def test_missing_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    pipe = Pipeline(Options(cache_dir=tmp_path, executor="ray"))
    with pytest.raises(FlowError, match=r"pip install 'call-evidence\[ray\]'"):
        make_executor(pipe)


def test_cli_maps_the_ray_options(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pipeline.cli import cli

    seen = {}

    def fake_run(self, folder, db_path, progress=True, should_stop=None):
        seen["options"] = self.options
        return flow.Summary(workers=[{"name": "w1", "host": "h", "pid": 1, "device": "cpu", "files": 2,
                                      "failed": 0, "audio_seconds": 20.0, "busy_seconds": 4.0,
                                      "realtime_factor": 5.0, "shipped_files": 0, "died": None}])

    monkeypatch.setattr(Pipeline, "run", fake_run)
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(FIXTURES / "audio" / "en_short_call.wav", folder)
    res = CliRunner().invoke(cli, ["transcribe", str(folder), "--db", str(tmp_path / "e.db"),
                                   "--executor", "ray", "--address", "auto", "--ray-workers", "3",
                                   "--shared-path"])
    assert res.exit_code == 0, res.output
    o = seen["options"]
    assert o.executor == "ray"
    assert o.ray == RayOptions(address="auto", workers=3, ship_bytes="never")
    assert "worker w1 on h (cpu, pid 1): 2 files, 20 s audio in 4 s busy, 5.0x real time" in res.output


# ---------------------------------------------------------------- the worker, in this process
def _worker_and_file(tmp_path: Path):
    """A worker (stand-in engine) and a recording only the driver can see (then deleted)."""
    from pipeline.calls.ingest import describe
    from pipeline.detect import Detector
    from pipeline.scale.worker import TranscribeWorker, worker_options

    from .test_resilience import StandInEngine, tone_wav

    worker = TranscribeWorker(worker_options(Options(cache_dir=tmp_path / "worker-cache"), 1, "cpu"),
                              Detector(), {})
    worker.pipe._engine = StandInEngine()
    path = tone_wav(tmp_path / "driver" / "13812345678_20261102223015.wav", seconds=2.0)
    src = describe(path, tmp_path / "driver")
    data = path.read_bytes()
    return worker, src, data


def test_worker_asks_for_the_bytes_when_it_cannot_see_the_original(tmp_path):
    from pipeline.scale.worker import NEED_BYTES

    worker, src, data = _worker_and_file(tmp_path)
    src.path.unlink()  # as on a node without the shared folder
    assert worker.prepare(src, 1, None, None, "auto").result == NEED_BYTES
    with pytest.raises(FlowError, match="mount the recordings at the same path"):
        worker.prepare(src, 1, None, None, "never")
    out = worker.prepare(src, 1, None, data, "auto")
    assert isinstance(out.result, flow.Prepared)
    rec = out.result.rec
    assert (rec["path"], rec["file_name"], rec["phone_number"]) == (
        str(src.path), src.path.name, "+8613812345678")  # the driver's path, not the worker's copy
    assert out.result.findings and out.stage_seconds["transcribe"] >= 0
    assert not any((tmp_path / "worker-cache" / "incoming").iterdir())  # private copy removed


def test_worker_refuses_bytes_that_are_not_the_fingerprinted_file(tmp_path):
    from pipeline.scale.worker import Failed

    worker, src, data = _worker_and_file(tmp_path)
    out = worker.prepare(src, 1, None, data[:-10] + b"0123456789", "always")
    assert isinstance(out.result, Failed) and "do not match the file's sha256" in out.result.message
    src.path.write_bytes(data[:-10] + b"0123456789")  # the shared copy changed after hashing
    out = worker.prepare(src, 1, None, None, "auto")
    assert isinstance(out.result, Failed) and "changed after it was fingerprinted" in out.result.message


# ---------------------------------------------------------------- a real local cluster
@pytest.fixture(scope="module")
def ray_cluster():
    """Head (no CPUs: schedules nothing) + two one-CPU worker nodes, all on this machine."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _folder(tmp_path: Path, names: list[str] | None = None, broken: bool = True) -> Path:
    folder = tmp_path / "recordings"
    if names is None:
        shutil.copytree(FIXTURES / "audio", folder)
    else:
        folder.mkdir()
        for n in names:
            shutil.copy(FIXTURES / "audio" / n, folder / n)
    if broken:
        make_broken_files(folder)
    return folder


def _ray_pipeline(tmp_path: Path, **ray_kw) -> Pipeline:
    ray_kw.setdefault("workers", 2)
    return Pipeline(Options(cache_dir=tmp_path / "cache", executor="ray", ray=RayOptions(**ray_kw)),
                    log=lambda m: print(m, file=sys.stderr))


def _contents(db: Path) -> dict[str, dict]:
    """Per recording (by content hash): its row, segments and findings, times rounded."""
    c = sqlite3.connect(db)
    out = {}
    for sha, name, status, error, lang, dur, codec, ch, n_seg, n_find, model in c.execute(
            "select id, file_name, status, error, language, duration, codec, channels, n_segments,"
            " n_findings, model from recordings order by id"):
        segs = c.execute("select idx, round(start, ?), round(end, ?), text, channel, speaker from segments"
                         " where recording_id = ? order by idx", [ROUND, ROUND, sha]).fetchall()
        words = c.execute("select count(*) from words where recording_id = ?", [sha]).fetchone()[0]
        finds = c.execute("select rule_id, category, severity, round(start, ?), round(end, ?), matched_text"
                          " from findings where recording_id = ? order by start, rule_id",
                          [ROUND, ROUND, sha]).fetchall()
        out[sha] = {"recording": (name, status, error, lang, round(dur or 0, ROUND), codec, ch, n_seg,
                                  n_find, model), "segments": segs, "words": words, "findings": finds}
    c.close()
    return out


@pytest.mark.slow
def test_ray_cluster_writes_the_same_database_as_the_local_executor(ray_cluster, e2e, tmp_path):
    folder = _folder(tmp_path)
    db = tmp_path / "ray.db"
    summary = _ray_pipeline(tmp_path).run(folder, db, progress=False)

    assert (summary.processed, summary.failed) == (e2e.first.processed, e2e.first.failed)
    assert summary.findings == e2e.first.findings
    assert summary.pattern_findings == e2e.first.pattern_findings
    local, remote = _contents(e2e.db), _contents(db)
    assert remote.keys() == local.keys()
    for sha in local:
        assert remote[sha] == local[sha], local[sha]["recording"][0]
    # the driver stored its own paths, and wrote one run row with what the workers loaded
    c = sqlite3.connect(db)
    assert {Path(p).parent for (p,) in c.execute("select path from recordings")} == {
        folder.resolve(), (folder / "broken").resolve()}
    run = c.execute("select status, processed, engine_version, model_sha256, settings from runs").fetchall()
    assert len(run) == 1 and run[0][:2] == ("finished", e2e.first.processed) and run[0][2] and run[0][3]
    assert '"executor": "ray"' in run[0][4]
    # each worker's CPU kernels are in the record, and here (one machine) they are the driver's
    from pipeline.engines import kernels

    recorded = json.loads(run[0][4])["engine_settings"]
    assert len(recorded["workers"]) == 2
    assert {w["kernels"]["cpu_isa"] for w in recorded["workers"]} == {kernels.cpu_isa()}
    assert recorded["kernels"]["cpu_isa"] == kernels.cpu_isa()
    # both workers did some of it; the driver's summary has their stage timings
    assert len(summary.workers) == 2 and all(w["files"] + w["failed"] > 0 for w in summary.workers)
    assert sum(w["files"] for w in summary.workers) == summary.processed
    assert summary.stage_seconds["transcribe"] > 0 and summary.stage_seconds["store"] > 0
    assert not any((tmp_path / "cache" / "incoming").glob("*"))  # shared path: nothing was copied


@pytest.mark.slow
@pytest.mark.long
def test_killing_a_worker_mid_run_loses_and_duplicates_nothing(ray_cluster, e2e, tmp_path, monkeypatch):
    """One worker is SIGKILLed while it transcribes; its file is redone on another worker.

    The bytes are sent from the driver here (``ship_bytes="always"``), which
    also covers workers without a shared path: the stored path is the driver's.
    """
    executors = []

    def remember(pipe):
        executors.append(make_executor(pipe))
        return executors[-1]

    monkeypatch.setattr(flow, "make_executor", remember)
    killed: list[int] = []

    class KillOnFirstCommit(Pipeline):
        def commit(self, store, p):
            if not killed:
                deadline = time.monotonic() + 30
                while not (busy := executors[0].busy_pids()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            return super().commit(store, p)

    folder = _folder(tmp_path)
    db = tmp_path / "killed.db"
    opts = _ray_pipeline(tmp_path, ship_bytes="always").options
    summary = KillOnFirstCommit(opts, log=lambda m: print(m, file=sys.stderr)).run(folder, db, progress=False)

    assert killed
    assert (summary.processed, summary.failed) == (e2e.first.processed, e2e.first.failed)
    local, remote = _contents(e2e.db), _contents(db)
    assert remote == local  # every file once, with the same segments and findings
    c = sqlite3.connect(db)
    assert c.execute("select count(*) from recordings").fetchone()[0] == len(local)
    assert c.execute("select count(*) from (select recording_id, idx from segments"
                     " group by recording_id, idx having count(*) > 1)").fetchone()[0] == 0
    died = [w for w in summary.workers if w["died"]]
    assert [w["pid"] for w in died] == killed
    assert len(summary.workers) == 3  # the replacement joined the run
    assert all(w["shipped_files"] >= w["files"] + w["failed"] for w in summary.workers)
    assert {Path(p).parent for (p,) in c.execute("select path from recordings")} == {
        folder.resolve(), (folder / "broken").resolve()}
    assert not any((tmp_path / "cache" / "incoming").glob("*"))  # private copies removed


@pytest.mark.slow
def test_a_file_that_kills_its_worker_twice_is_recorded_as_failed(ray_cluster, tmp_path, monkeypatch):
    from pipeline.scale.worker import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, "en_short_call")
    folder = _folder(tmp_path, ["en_short_call.wav", "zh_threat_harm.flac"], broken=False)
    db = tmp_path / "crash.db"
    summary = _ray_pipeline(tmp_path).run(folder, db, progress=False)

    assert (summary.processed, summary.failed) == (1, 1)
    [(name, error)] = summary.failures
    assert name.endswith("en_short_call.wav")
    assert error.startswith("failed on 2 Ray workers") and error.count("stopped") == 2
    c = sqlite3.connect(db)
    assert c.execute("select file_name, status, error from recordings order by file_name").fetchall() == [
        ("en_short_call.wav", "failed", error), ("zh_threat_harm.flac", "done", None)]
    assert sum(1 for w in summary.workers if w["died"]) == 2
