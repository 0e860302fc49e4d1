"""The transcription half of ``bench.py``: input sets and one subprocess per contender.

Each contender (the pipeline, bare faster-whisper, bare openai-whisper) runs on each
input set in a fresh interpreter (``bench.py --_worker``), so the peak RSS that
``wait4`` reports is that contender's alone.  Model loading is timed apart from
the timed passes.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import make_long_call

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "audio"
CONTENDERS = ("pipeline", "faster-whisper", "openai-whisper")
QUICK_FIXTURES = ("13812345678_20261102223015.amr", "en_short_call.wav")
BENCH = Path(__file__).resolve().with_name("bench.py")  # the worker's entry point (--_worker)
T = TypeVar("T")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- input sets


@dataclass
class InputSet:
    name: str
    folder: Path  # holds exactly ``files`` (staged copies), handed to the pipeline
    files: list[Path]
    audio_seconds: float
    note: str = ""


def decoded_seconds(path: Path) -> float:
    return len(make_long_call.decode(path)) / make_long_call.SR


def stage(name: str, sources: list[Path], work: Path, note: str = "") -> InputSet:
    """Copy ``sources`` into a folder of their own, so every contender sees the same files."""
    folder = work / "inputs" / name
    folder.mkdir(parents=True)
    files = []
    for src in sources:
        dst = folder / src.name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        files.append(dst)
    seconds = sum(decoded_seconds(f) for f in files)
    return InputSet(name, folder, files, seconds, note)


def input_sets(args, work: Path) -> list[InputSet]:
    sets: list[InputSet] = []
    if args.quick:
        sets.append(stage("fixtures-2", [FIXTURES / n for n in QUICK_FIXTURES], work,
                          "2 committed fixture scenes (zh AMR-NB, en wav)"))
    else:
        clips = make_long_call.realspeech_clips(args.realspeech)
        if clips:
            sets.append(stage("realspeech", clips, work,
                              f"{len(clips)} real-speech clips from {args.realspeech}/manifest.tsv"))
        else:
            log(f"SKIPPED realspeech set: no {args.realspeech}/manifest.tsv (or none of its clips); "
                "only the generated call is measured")
    minutes = args.minutes if args.minutes is not None else (3 if args.quick else 30)
    call = make_long_call.long_call(minutes, args.seed, args.format, args.cache_dir,
                                    use_realspeech=True, realspeech=args.realspeech, log=log)
    sidecar = json.loads((args.cache_dir / f"{call.parent.name}.json").read_text())
    st = sidecar["stats"]
    sets.append(stage(f"call-{minutes:g}min", [call], work,
                      f"generated {minutes:g}-minute {args.format} call: {st['utterances']} utterances, "
                      f"{st['speech_seconds']:.0f} s speech, {st['holds']} holds "
                      f"({st['hold_seconds']:.0f} s)"))
    return sets


# ---------------------------------------------------------------- workers (subprocesses)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ffmpeg_on_path(work: Path) -> None:
    """openai-whisper runs ``ffmpeg`` from PATH; fall back to the pipeline's ffmpeg."""
    if shutil.which("ffmpeg"):
        return
    from pipeline.normalise import ffmpeg_exe

    bindir = work / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    link = bindir / "ffmpeg"
    if not link.exists():
        link.symlink_to(ffmpeg_exe())
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def _load(out: dict, load: Callable[[], T]) -> T:
    """Load a model, timed apart from the passes (``load_seconds``, then the RSS it holds)."""
    t0 = time.perf_counter()
    model = load()
    out["load_seconds"] = time.perf_counter() - t0
    out["rss_after_load_mb"] = _rss_mb()
    return model


def _bare_passes(out: dict, files: list[Path], repeat: int,
                 segments_of: Callable[[Path], int]) -> list[float]:
    """``repeat`` timed passes over ``files`` with a bare engine; ``segments_of`` transcribes
    one file and returns its segment count.  The same loop for both bare engines, so they
    are timed exactly alike."""
    walls: list[float] = []
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        for path in files:
            n += segments_of(path)
        walls.append(time.perf_counter() - t0)
        out["segments"] = n
    return walls


def worker(contender: str, spec: dict) -> dict:
    """Runs inside the subprocess: load (timed apart), then ``repeat`` timed passes."""
    files = [Path(p) for p in spec["files"]]
    folder = Path(spec["folder"])
    work = Path(spec["work"])
    repeat = spec["repeat"]
    walls: list[float] = []
    out: dict = {"contender": contender}
    if contender == "prepare":
        from pipeline.models import bundled_ct2_dir, openai_checkpoint

        ct2 = bundled_ct2_dir()
        if spec.get("openai"):
            openai_checkpoint(ct2)
        return {"contender": contender, "model_dir": str(ct2)}
    if contender == "pipeline":
        from pipeline.flow import Options, Pipeline

        # the pipeline's own engine (its default workers/threads), loaded outside the timing
        engine = _load(out, lambda: Pipeline(Options(cache_dir=work / "warm"), log=log).engine)
        out["engine_settings"] = engine.settings()
        stages: list[dict] = []
        for i in range(repeat):
            run_dir = Path(tempfile.mkdtemp(prefix=f"pipeline{i}-", dir=work))
            pipe = Pipeline(Options(cache_dir=run_dir / "cache"), engine=engine, log=log)
            db = run_dir / "bench.db"
            t0 = time.perf_counter()
            summary = pipe.run(folder, db, progress=False)
            walls.append(time.perf_counter() - t0)
            stages.append({k: float(v) for k, v in summary.stage_seconds.items()})
            with sqlite3.connect(db) as conn:
                out["segments"] = conn.execute("select count(*) from segments").fetchone()[0]
            out.update(processed=summary.processed, failed=summary.failed,
                       findings=summary.findings, failures=summary.failures)
            shutil.rmtree(run_dir, ignore_errors=True)
        order = sorted(range(repeat), key=walls.__getitem__)
        out["stage_seconds"] = stages[order[len(order) // 2]]  # the median pass's split
    elif contender == "faster-whisper":
        from faster_whisper import WhisperModel

        from pipeline.models import bundled_ct2_dir

        model_dir = str(bundled_ct2_dir())
        model = _load(out, lambda: WhisperModel(model_dir, device="cpu", compute_type="int8"))
        # the generator is consumed: faster-whisper decodes lazily
        walls = _bare_passes(out, files, repeat,
                             lambda path: sum(1 for _ in model.transcribe(str(path))[0]))
    elif contender == "openai-whisper":
        import whisper

        from pipeline.models import bundled_ct2_dir, openai_checkpoint

        _ffmpeg_on_path(work)
        ckpt = str(openai_checkpoint(bundled_ct2_dir()))  # converted by the prepare step
        model = _load(out, lambda: whisper.load_model(ckpt, device="cpu"))
        out["torch_threads"] = __import__("torch").get_num_threads()
        walls = _bare_passes(out, files, repeat,
                             lambda path: len(model.transcribe(str(path), fp16=False)["segments"]))
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    out["walls"] = walls
    out["wall_seconds"] = statistics.median(walls)
    out["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_worker(contender: str, spec: dict, work: Path, timeout: float | None = None) -> dict:
    """Start one contender in a fresh interpreter; peak RSS comes from its own rusage."""
    tag = f"{contender}-{spec.get('set', 'prep')}"
    spec_path = work / f"{tag}.spec.json"
    result_path = work / f"{tag}.result.json"
    log_path = work / f"{tag}.log"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(BENCH), "--_worker", contender,
           "--_spec", str(spec_path), "--_result", str(result_path)]
    t0 = time.perf_counter()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout and not timed_out:
                proc.kill()  # only this worker, which we started
                timed_out = True
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    if timed_out or proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        why = f"timed out after {timeout:g} s" if timed_out else f"exit {proc.returncode}"
        return {"contender": contender, "error": why, "log_tail": tail}
    res = json.loads(result_path.read_text())
    res["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    res["process_seconds"] = elapsed
    return res


