"""Soak test: many short recordings, some bad, runs killed with SIGKILL, then a check.

    .venv/bin/python scripts/soak.py                 # 500 files, 5% bad, 3 kills
    make soak ARGS="--files 200 --kills 0"

It generates ``--files`` short recordings in a work folder (real audio in wav,
m4a, mp3, ogg, flac and amr, some with unicode names, some the same content
under two names) of which ``--bad-fraction`` are broken (empty, truncated,
text named .mp3, video without sound, random bytes).  It then runs the real
pipeline (real ffmpeg, real SQLite) in a child process, kills it with
SIGKILL ``--kills`` times at random moments, and finishes with a plain run.
Finally it checks, file by file, against the database:

* processed: good files whose recording is ``done``;
* failed-with-error: bad files recorded ``failed`` with a non-empty error;
* lost: any file with no outcome in the database, a good file not ``done``, a
  failed one without an error message, or an original ``verify`` finds changed
  (must be 0);
* duplicates: a (path, content) recorded twice, a segment stored twice, or a
  recording whose stored rows disagree with its counts (must be 0).

The engine is a stand-in by default (``--engine stand-in``: instant, one
segment with a threat phrase per file), because the soak is about files, kills
and the database; ``--engine faster-whisper`` runs the real model instead.
Exit code 1 if anything was lost or duplicated.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.engines import Segment, Transcript, Word  # noqa: E402
from pipeline.normalise import ffmpeg_exe, save_wav  # noqa: E402

BAD_KINDS = ["empty", "truncated", "text", "video", "random"]
GOOD_FORMATS = ["wav", "wav", "wav", "m4a", "mp3", "ogg", "flac", "amr"]
TEXTS = ["你这个老赖，明天我们就上门找你家人", "您好，这里是银行客服，提醒您按时还款",
         "we will call your employer and tell everyone", "this is a reminder about your payment"]


class StandInEngine:
    """Whisper's interface without Whisper: one segment over the loud part of the audio."""

    name = model_name = "stand-in"
    model_sha256 = None

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def version(self) -> str:
        return "0"

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        if self.delay:
            time.sleep(self.delay)
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        if not len(loud):
            return Transcript(language, None, [])
        a, b = round(loud[0] / 16000, 3), round(loud[-1] / 16000, 3)
        text = TEXTS[int(np.abs(audio).sum()) % len(TEXTS)]
        mid = round((a + b) / 2, 3)
        words = [Word(a, mid, text[: len(text) // 2], 0.9), Word(mid, b, text[len(text) // 2:], 0.9)]
        return Transcript("zh" if ord(text[0]) > 127 else "en", 0.9, [Segment(a, b, text, words=words)])


# ---------------------------------------------------------------------- generation
def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True)


def _tone(path: Path, rng: random.Random) -> None:
    rate = 8000
    seconds = rng.uniform(0.8, 2.5)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 1200) * t)
    x += 0.01 * np.random.default_rng(rng.randrange(1 << 30)).standard_normal(len(t))
    x[: int(rng.uniform(0.05, 0.3) * rate)] = 0  # a little silence first
    save_wav(path, x, rate)


def _name(i: int, ext: str, rng: random.Random) -> str:
    style = i % 5
    if style == 0:
        return f"1{rng.randrange(30, 99)}{i:04d}{rng.randrange(10**4):04d}_2026{rng.randrange(1, 13):02d}" \
               f"{rng.randrange(1, 29):02d}{rng.randrange(24):02d}{rng.randrange(60):02d}00.{ext}"
    if style == 1:
        return f"通话录音 “催收” {i:04d} 😀.{ext}"
    if style == 2:
        return f"sub{i % 7}/call '{i:04d}'.{ext}"
    return f"rec_{i:04d}.{ext}"


def generate(folder: Path, n: int, bad_fraction: float, seed: int) -> dict[str, str]:
    """Write ``n`` files; returns {relative path: 'good' | 'bad:<kind>'}."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_bad = round(n * bad_fraction)
    bad_slots = set(rng.sample(range(n), n_bad))
    expected: dict[str, str] = {}
    tmp = folder.parent / "gen"
    tmp.mkdir(exist_ok=True)
    good_example: Path | None = None
    m4a_example: Path | None = None
    for i in range(n):
        if i in bad_slots:
            kind = BAD_KINDS[len([s for s in bad_slots if s < i]) % len(BAD_KINDS)]
            ext = {"empty": "amr", "truncated": "m4a", "text": "mp3", "video": "mp4",
                   "random": "amr"}[kind]
            path = folder / _name(i, ext, rng)
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "empty":
                path.write_bytes(b"")
            elif kind == "truncated":
                if m4a_example is None:
                    m4a_example = tmp / "example.m4a"
                    _tone(tmp / "t.wav", rng)
                    _ffmpeg("-i", str(tmp / "t.wav"), "-c:a", "aac", "-b:a", "32k", str(m4a_example))
                path.write_bytes(m4a_example.read_bytes()[: rng.randrange(200, 1500)])
            elif kind == "text":
                path.write_text(f"shopping list {i}\n" * 30)
            elif kind == "video":
                _ffmpeg("-f", "lavfi", "-i", f"color=c=red:s=32x32:d=0.{i % 9 + 1}", "-an",
                        "-c:v", "mpeg4", str(path))
            else:
                path.write_bytes(rng.randbytes(rng.randrange(500, 5000)))
            expected[str(path.relative_to(folder))] = f"bad:{kind}"
            continue
        ext = GOOD_FORMATS[i % len(GOOD_FORMATS)]
        path = folder / _name(i, ext, rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        if good_example is not None and i % 50 == 7:  # the same content under a second name
            path = path.with_suffix(good_example.suffix)
            shutil.copyfile(good_example, path)
        elif ext == "wav":
            _tone(path, rng)
        else:
            src = tmp / f"{i}.wav"
            _tone(src, rng)
            codec = {"m4a": ["-c:a", "aac", "-b:a", "24k"], "mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
                     "ogg": ["-c:a", "libopus", "-b:a", "16k"], "flac": ["-c:a", "flac"],
                     "amr": ["-ar", "8000", "-c:a", "libopencore_amrnb", "-b:a", "12.2k"]}[ext]
            try:
                _ffmpeg("-i", str(src), *codec, str(path))
            except subprocess.CalledProcessError:  # an ffmpeg without that encoder: keep wav
                path = path.with_suffix(".wav")
                shutil.copyfile(src, path)
            src.unlink()
        good_example = good_example or path
        expected[str(path.relative_to(folder))] = "good"
    shutil.rmtree(tmp)
    return expected


# ---------------------------------------------------------------------- running
def worker(folder: Path, db: Path, cache: Path, engine: str, delay: float) -> int:
    from pipeline.engines import load_engine
    from pipeline.flow import Options, Pipeline

    eng = StandInEngine(delay) if engine == "stand-in" else load_engine(engine)
    s = Pipeline(Options(cache_dir=cache), engine=eng, log=lambda m: None).run(
        folder, db, progress=False)
    print(json.dumps({"processed": s.processed, "skipped": s.skipped, "failed": s.failed}), flush=True)
    return 0


def run_with_kills(folder: Path, db: Path, cache: Path, args, rng: random.Random) -> list[str]:
    cmd = [sys.executable, __file__, "--worker", "--folder", str(folder), "--db", str(db),
           "--cache", str(cache), "--engine", args.engine, "--engine-delay", str(args.engine_delay)]
    events = []
    for k in range(args.kills):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait = rng.uniform(args.kill_after[0], args.kill_after[1])
        try:
            p.wait(wait)
            events.append(f"run {k + 1}: finished before the kill at {wait:.1f} s")
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            events.append(f"run {k + 1}: killed with SIGKILL after {wait:.1f} s")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"final run failed:\n{p.stderr[-3000:]}")
    events.append(f"final run: {p.stdout.strip()}")
    return events


# ---------------------------------------------------------------------- checking
def check(folder: Path, db: Path, expected: dict[str, str]) -> dict:
    from pipeline.calls.ingest import display_path
    from pipeline.verify import verify

    c = sqlite3.connect(db)
    current = {p: (status, error) for p, status, error in c.execute(
        "select f.path, r.status, r.error from recording_files f join recordings r"
        " on r.id = f.recording_id where f.superseded_at is null")}
    processed = failed_with_error = 0
    lost: list[str] = []
    wrong: list[str] = []
    for rel, kind in expected.items():
        outcome = current.get(display_path(folder / rel))
        if outcome is None:
            lost.append(f"{rel}: no outcome recorded")
            continue
        status, error = outcome
        if kind == "good":
            if status == "done":
                processed += 1
            else:
                lost.append(f"{rel}: good file is {status} ({error})")
        elif status == "failed" and error:
            failed_with_error += 1
        elif status == "done":
            wrong.append(f"{rel} ({kind}): accepted as audio")
        else:
            lost.append(f"{rel} ({kind}): {status} without an error")
    dup_files = c.execute("select count(*) from (select path, recording_id from recording_files"
                          " group by 1, 2 having count(*) > 1)").fetchone()[0]
    dup_segments = c.execute("select count(*) from (select recording_id, idx from segments"
                             " group by 1, 2 having count(*) > 1)").fetchone()[0]
    bad_counts = c.execute(
        "select count(*) from recordings r where r.status = 'done' and (r.n_segments !="
        " (select count(*) from segments s where s.recording_id = r.id) or r.n_findings !="
        " (select count(*) from findings f where f.recording_id = r.id))").fetchone()[0]
    orphans = c.execute("select count(*) from segments s join recordings r on r.id = s.recording_id"
                        " where r.status != 'done'").fetchone()[0]
    runs = c.execute("select status, count(*) from runs group by 1").fetchall()
    integrity = c.execute("pragma integrity_check").fetchone()[0]
    c.close()
    report = verify(db)
    changed = [p.line() for p in report.problems]
    return {
        "files": len(expected),
        "good": sum(k == "good" for k in expected.values()),
        "bad": sum(k != "good" for k in expected.values()),
        "processed": processed,
        "failed_with_error": failed_with_error,
        "lost": len(lost) + len(changed),
        "duplicates": dup_files + dup_segments + bad_counts + orphans,
        "bad_accepted_as_audio": len(wrong),
        "integrity": integrity,
        "verify": report.line(),
        "runs": dict(runs),
        "details": (lost + changed + wrong)[:20],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--bad-fraction", type=float, default=0.05)
    ap.add_argument("--kills", type=int, default=3, help="runs killed with SIGKILL before the final run")
    ap.add_argument("--kill-after", type=float, nargs=2, default=(3.0, 10.0), metavar=("MIN", "MAX"),
                    help="seconds after start at which a run is killed (random in this range)")
    ap.add_argument("--engine", default="stand-in", choices=["stand-in", "faster-whisper", "openai-whisper"])
    ap.add_argument("--engine-delay", type=float, default=0.0, help="stand-in: seconds per file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.folder, args.db, args.cache, args.engine, args.engine_delay)

    work = args.work or Path(tempfile.mkdtemp(prefix="call-evidence-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    folder, db, cache = work / "recordings", work / "soak.db", work / "cache"
    for p in (folder, cache):
        shutil.rmtree(p, ignore_errors=True)
    for p in work.glob("soak.db*"):
        p.unlink()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    expected = generate(folder, args.files, args.bad_fraction, args.seed)
    gen_s = time.perf_counter() - t0
    print(f"generated {len(expected)} files in {gen_s:.0f} s ({work})", flush=True)
    t0 = time.perf_counter()
    events = run_with_kills(folder, db, cache, args, rng)
    wall = time.perf_counter() - t0
    for e in events:
        print(e)
    result = check(folder, db, expected)
    print(f"machine: {os.cpu_count()} CPU cores; engine: {args.engine}")
    print(f"files: {result['files']} ({result['good']} good, {result['bad']} bad)")
    print(f"processed: {result['processed']}")
    print(f"failed-with-error: {result['failed_with_error']}")
    print(f"lost: {result['lost']}")
    print(f"duplicates: {result['duplicates']}")
    print(f"bad files accepted as audio: {result['bad_accepted_as_audio']}")
    print(f"runs: {result['runs']}; database integrity: {result['integrity']}")
    print(f"verify: {result['verify']}")
    print(f"wall time: {wall:.1f} s for processing ({wall / len(expected) * 1000:.0f} ms per file,"
          f" kills and restarts included)")
    for d in result["details"]:
        print("  " + d)
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if result["lost"] or result["duplicates"] else 0


if __name__ == "__main__":
    sys.exit(main())
