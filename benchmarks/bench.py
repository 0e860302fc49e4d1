"""Speed and memory of the pipeline against the bare Whisper engines, and index latency.

One run measures, on the same input files:

* ``pipeline``: ``Pipeline(Options(cache_dir=<fresh>))`` with its own engine (default workers)
  .run(folder, <fresh db>)``, end to end, split by stage (``Summary.stage_seconds``);
* ``faster-whisper``: bare ``WhisperModel(<bundled base>, device="cpu", compute_type="int8")
  .transcribe(path)`` with default settings, generator consumed;
* ``openai-whisper``: bare ``whisper.load_model(<same weights>, device="cpu")
  .transcribe(path, fp16=False)`` with default settings.

Each contender runs on each input set in its own subprocess, so peak RSS (``wait4``) is
that contender's alone.  Model loading is timed separately and is not part of the wall
time.  Then a synthetic evidence database (default 100k segments / 1M words) is built
with the real schema and Datasette's full-text search and findings page are timed.

    .venv/bin/python benchmarks/bench.py                  # full run (quiet machine!)
    .venv/bin/python benchmarks/bench.py --quick          # a couple of minutes, to validate
    .venv/bin/python benchmarks/bench.py --out docs/benchmarks.md

Ratios are printed last.  Targets (from the issue): pipeline <= 1.0x bare faster-whisper,
at least 2x faster than bare openai-whisper, detect+store < 5 % of the pipeline's time
(3 % before the meaning layer, issue 13),
search and findings page < 200 ms.

The parts: ``bench_engines.py`` (input sets, one subprocess per contender),
``bench_index.py`` (the synthetic database and Datasette latency) and
``bench_report.py`` (machine, tables, ratios); this file parses the arguments and
runs them in order.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import make_long_call
from bench_engines import CONTENDERS, InputSet, input_sets, log, run_worker, worker
from bench_index import index_bench
from bench_report import engine_table, index_table, machine, markdown_report, ratio_lines

# ---------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny inputs (2 fixtures, 3-minute call, 10k segments) to validate")
    ap.add_argument("--skip-openai", action="store_true", help="do not run bare openai-whisper")
    ap.add_argument("--skip-engines", action="store_true", help="index latency only")
    ap.add_argument("--skip-index", action="store_true", help="transcription only")
    ap.add_argument("--out", type=Path, help="also write a markdown report here")
    ap.add_argument("--note", default="", help="a line for the markdown report (e.g. machine state)")
    ap.add_argument("--minutes", type=float, help="length of the generated call (default 30; quick 3)")
    ap.add_argument("--format", choices=["amr", "wav"], default="amr",
                    help="generated call: AMR-NB 8 kHz (default) or 16 kHz wav")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--segments", type=int, help="index scale: segments (default 100000; quick 10000),"
                    " 10 words each")
    ap.add_argument("--index-runs", type=int, default=7, help="timed requests per URL (median)")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes per contender (median)")
    ap.add_argument("--timeout", type=float, help="seconds after which one contender's run on one "
                    "input set is stopped and reported as failed (default: no limit)")
    ap.add_argument("--realspeech", type=Path, default=make_long_call.REALSPEECH)
    ap.add_argument("--cache-dir", type=Path, default=make_long_call.CACHE,
                    help="where the generated call is kept (default benchmarks/.cache, git-ignored)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_spec", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_result", type=Path, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        res = worker(args._worker, json.loads(args._spec.read_text()))
        args._result.write_text(json.dumps(res))
        return 0
    t_start = time.perf_counter()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['usable_cores']}/{mach['cores']} cores, "
          f"{mach['ram_gb']:.1f} GiB RAM, load {mach['loadavg_start'][0]:.2f}; Python {mach['python']}; "
          + ", ".join(f"{k} {v}" for k, v in mach["libs"].items()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="call-evidence-bench-"))
    contenders = [c for c in CONTENDERS if not (args.skip_openai and c == "openai-whisper")]
    sets: list[InputSet] = []
    results: dict[str, dict] = {}
    failed = False
    try:
        if not args.skip_engines:
            sets = input_sets(args, work)
            prep = run_worker("prepare", {"files": [], "folder": "", "work": str(work), "repeat": 1,
                                          "openai": "openai-whisper" in contenders}, work)
            if "error" in prep:
                raise SystemExit("model preparation failed:\n" + "\n".join(prep["log_tail"]))
            for s in sets:
                log(f"== {s.name}: {len(s.files)} file(s), {s.audio_seconds:.1f} s of audio")
                results[s.name] = {}
                spec = {"set": s.name, "files": [str(f) for f in s.files], "folder": str(s.folder),
                        "work": str(work), "repeat": args.repeat}
                for c in contenders:
                    log(f"   {c} ... (started {datetime.now():%H:%M:%S})")
                    r = run_worker(c, spec, work, args.timeout)
                    log(f"   {c}: " + (r["error"] if "error" in r else
                                       f"{r['wall_seconds']:.1f} s, peak {r['peak_rss_mb']:.0f} MB"))
                    failed |= "error" in r or bool(r.get("failed"))
                    results[s.name][c] = r
                print(f"\n## {s.name} — {s.note}\n" + engine_table(s, results[s.name], False),
                      flush=True)
        ix = None
        if not args.skip_index:
            n = args.segments or (10_000 if args.quick else 100_000)
            ix = index_bench(work, n, args.index_runs, "employer")
            print("\n## index scale\n" + index_table(ix, False), flush=True)
        mach["loadavg_end"] = os.getloadavg()
        ratios = ratio_lines(sets, results, ix)
        print("\n## ratios (pipeline / bare engine; lower is better)")
        for line in ratios:
            print(line)
        took = time.perf_counter() - t_start
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(markdown_report(args, mach, sets, results, ix, ratios, started, took),
                                encoding="utf-8")
            log(f"report written to {args.out}")
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
