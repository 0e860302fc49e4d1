"""Throughput of ``--executor ray`` with 1 and 2 local workers (and the local executor, for scale).

The input is the committed fixtures, each made into ``--copies`` distinct files
(decoded and stored as FLAC with a different comment tag: the same audio, so
the same work, but a different sha256, so none is skipped as a duplicate).
Every configuration gets a fresh database and a fresh audio cache.  Start-up
(Ray workers loading the model) is timed apart from processing, because a
long caseload pays it once.

    .venv/bin/python benchmarks/ray_scale.py [--copies 3] [--cpus 2]

Prints a Markdown table for docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import flow  # noqa: E402
from pipeline.flow import Options, Pipeline  # noqa: E402
from pipeline.scale import RayOptions  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"


def make_inputs(folder: Path, copies: int) -> None:
    """``copies`` FLAC versions of every fixture, identical audio, distinct bytes."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    folder.mkdir(parents=True)
    for src in sorted(FIXTURES.iterdir()):
        for k in range(copies):
            out = folder / f"{src.stem}.copy{k}.flac"
            subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-map_metadata", "-1",
                            "-metadata", f"comment=copy {k}", "-c:a", "flac", str(out)], check=True)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def run_one(label: str, folder: Path, work: Path, options: Options) -> dict:
    """One configuration, fresh cache and database; start-up and processing timed apart."""
    made: list[float] = []
    real_make = flow.make_executor

    def timed_make(pipe):
        ex = real_make(pipe)
        made.append(time.perf_counter())  # workers are up (Ray: each has loaded its model)
        return ex

    flow.make_executor = timed_make
    try:
        cache, db = work / f"{label}-cache", work / f"{label}.db"
        options.cache_dir = cache
        t0 = time.perf_counter()
        summary = Pipeline(options, log=lambda m: None).run(folder, db, progress=False)
        t1 = time.perf_counter()
    finally:
        flow.make_executor = real_make
    import sqlite3

    audio = sqlite3.connect(db).execute("select sum(duration) from recordings").fetchone()[0] or 0.0
    busy = t1 - made[0]
    return {"label": label, "files": summary.processed, "failed": summary.failed, "audio": audio,
            "startup": made[0] - t0, "wall": busy, "xrt": audio / busy,
            "files_per_min": 60 * summary.processed / busy, "workers": summary.workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs the local Ray cluster offers")
    args = ap.parse_args()

    import ray

    load0 = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ray-scale-"))
    try:
        folder = work / "recordings"
        make_inputs(folder, args.copies)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="WARNING")
        configs = [
            ("ray, 1 worker x 1 CPU", Options(executor="ray", ray=RayOptions(workers=1))),
            ("ray, 2 workers x 1 CPU", Options(executor="ray", ray=RayOptions(workers=2))),
            ("ray, 1 worker x 2 CPUs", Options(executor="ray", ray=RayOptions(workers=1, cpus_per_worker=2))),
            ("local executor (default: 2 threads x 1)", Options()),
        ]
        results = [run_one(f"c{i}", folder, work, o) | {"label": name}
                   for i, (name, o) in enumerate(configs)]
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()

    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"ray {ray.__version__}; load average {load0[0]:.2f} before, {load1[0]:.2f} after.")
    r0 = results[0]
    print(f"Input: {r0['files']} files, {r0['audio']:.0f} s of audio "
          f"({args.copies} copies of the {len(list(FIXTURES.iterdir()))} fixtures).\n")
    print("| configuration | start-up (s) | processing (s) | audio / processing | files / min | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['label']} | {r['startup']:.1f} | {r['wall']:.1f} | {r['xrt']:.2f}x | "
              f"{r['files_per_min']:.1f} | {r['xrt'] / r0['xrt']:.2f} |")
    for r in results:
        for w in r["workers"]:
            print(f"  {r['label']}: {w['name']} {w['files']} files, {w['audio_seconds']:.0f} s audio, "
                  f"{w['busy_seconds']:.0f} s busy, {w['realtime_factor']}x")


if __name__ == "__main__":
    main()
