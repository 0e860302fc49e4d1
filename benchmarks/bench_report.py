"""The report half of ``bench.py``: the machine, the tables, the ratios against the targets."""

from __future__ import annotations

import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import unicodedata
from importlib import metadata as importlib_metadata
from pathlib import Path

from bench_engines import CONTENDERS, InputSet

STAGES = ("ingest", "normalise", "transcribe", "detect", "store")
TARGET_VS_FASTER = 1.0
TARGET_VS_OPENAI = 0.5
TARGET_DETECT_STORE = 0.05  # issue 13: the meaning layer may take detection up to 5 %
TARGET_INDEX_MS = 200.0


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from pipeline.normalise import ffmpeg_exe

        ffmpeg = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True,
                                check=False).stdout.splitlines()[0]
    except Exception as e:  # only for the report
        ffmpeg = f"unavailable ({e})"
    libs = {d: _version(d) for d in ("faster-whisper", "ctranslate2", "openai-whisper", "torch",
                                     "numpy", "datasette", "sqlite-utils", "call-evidence")}
    libs["sqlite"] = sqlite3.sqlite_version
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gb": ram_gb,
            "python": platform.python_version(), "os": platform.platform(), "ffmpeg": ffmpeg,
            "libs": libs, "loadavg_start": os.getloadavg()}



def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def fmt_rows(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) if rows else _width(h)
              for i, h in enumerate(headers)]
    out = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def engine_table(s: InputSet, results: dict, markdown: bool) -> str:
    headers = ["contender", "files", "audio s", "load s", "wall s", "RTF", "peak RSS MB", "segments"]
    rows = []
    for c, r in results.items():
        if "error" in r:
            rows.append([c, str(len(s.files)), f"{s.audio_seconds:.1f}", "-", "FAILED", "-", "-",
                         r["error"]])
            continue
        rows.append([c, str(len(s.files)), f"{s.audio_seconds:.1f}", f"{r['load_seconds']:.2f}",
                     f"{r['wall_seconds']:.2f}", f"{r['wall_seconds'] / s.audio_seconds:.3f}",
                     f"{r['peak_rss_mb']:.0f}", str(r.get("segments", "-"))])
    text = fmt_rows(headers, rows, markdown)
    p = results.get("pipeline")
    if p and "stage_seconds" in p:
        st = p["stage_seconds"]
        total = p["wall_seconds"] or 1.0
        split = ", ".join(f"{k} {st.get(k, 0.0):.2f} s ({100 * st.get(k, 0.0) / total:.1f} %)"
                          for k in STAGES)
        other = total - sum(st.get(k, 0.0) for k in STAGES)
        text += ("\n\n" if markdown else "\n") + f"pipeline stages: {split}; other {other:.2f} s"
        text += (f"; processed {p.get('processed')}, failed {p.get('failed')}, "
                 f"findings {p.get('findings')}")
    for c, r in results.items():
        if "error" in r:
            text += f"\n{c} FAILED ({r['error']})"
            if r.get("log_tail"):
                text += ":\n    " + "\n    ".join(r["log_tail"])
    return text


def index_table(ix: dict, markdown: bool) -> str:
    rows = [[label, f"{v['median_ms']:.1f}", f"{v['max_ms']:.1f}", f"{v['cold_ms']:.1f}",
             str(v["status"]), "-" if v["rows"] is None else str(v["rows"])]
            for label, v in ix["latency"].items()]
    head = (f"{ix['recordings']:,} recordings, {ix['segments']:,} segments, {ix['words']:,} words, "
            f"{ix['findings']:,} findings; database {ix['db_mb']:.0f} MB, built in "
            f"{ix['build_seconds']:.1f} s (text, insert, full-text index)")
    return head + "\n" + ("\n" if markdown else "") + fmt_rows(
        ["request", f"median ms (n={ix['runs']})", "max ms", "first (cold) ms", "status", "rows"],
        rows, markdown)


def ratio_lines(sets: list[InputSet], results: dict, ix: dict | None) -> list[str]:
    lines = []

    def ok(flag: bool) -> str:
        return "OK" if flag else "MISSED"

    tot = {c: 0.0 for c in CONTENDERS}
    complete = {c: True for c in CONTENDERS}
    ds_total = 0.0
    for s in sets:
        res = results[s.name]
        p = res.get("pipeline", {})
        if "wall_seconds" not in p:
            lines.append(f"{s.name}: pipeline did not run, no ratios")
            complete = {c: False for c in CONTENDERS}
            continue
        parts = []
        for c, target, word in (("faster-whisper", TARGET_VS_FASTER, "<="),
                                ("openai-whisper", TARGET_VS_OPENAI, "<=")):
            r = res.get(c, {})
            if "wall_seconds" in r:
                ratio = p["wall_seconds"] / r["wall_seconds"]
                parts.append(f"pipeline/bare-{c} = {ratio:.2f}x (target {word} {target:g}x: "
                             f"{ok(ratio <= target)})")
                tot[c] += r["wall_seconds"]
            else:
                parts.append(f"pipeline/bare-{c}: not measured")
                complete[c] = False
        st = p.get("stage_seconds", {})
        share = (st.get("detect", 0.0) + st.get("store", 0.0)) / p["wall_seconds"]
        ds_total += st.get("detect", 0.0) + st.get("store", 0.0)
        tot["pipeline"] += p["wall_seconds"]
        parts.append(f"detect+store = {100 * share:.2f} % of pipeline (target < "
                     f"{100 * TARGET_DETECT_STORE:g} %: {ok(share < TARGET_DETECT_STORE)})")
        lines.append(f"{s.name}: " + "; ".join(parts))
    if len(sets) > 1 and complete["pipeline"] and tot["pipeline"]:
        parts = []
        for c in ("faster-whisper", "openai-whisper"):
            if complete[c] and tot[c]:
                parts.append(f"pipeline/bare-{c} = {tot['pipeline'] / tot[c]:.2f}x")
        parts.append(f"detect+store = {100 * ds_total / tot['pipeline']:.2f} %")
        lines.append("all sets (summed wall time): " + "; ".join(parts))
    if ix:
        worst = max(v["median_ms"] for v in ix["latency"].values())
        lines.append(f"index ({ix['segments']:,} segments): slowest median {worst:.1f} ms "
                     f"(target < {TARGET_INDEX_MS:g} ms: {ok(worst < TARGET_INDEX_MS)})")
    return lines


def markdown_report(args, mach: dict, sets, results, ix, ratios, started: str, took: float) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in mach["libs"].items())
    out = ["# Benchmarks", ""]
    if args.quick:
        out += ["> **Quick run (validation only).** Tiny inputs; these numbers check that the "
                "benchmark works and are not the benchmark. Run the full one on a quiet machine "
                "(see `benchmarks/README.md`).", ""]
    if args.note:
        out += [f"> **Note:** {args.note}", ""]
    command = ".venv/bin/python benchmarks/bench.py " + shlex.join(sys.argv[1:])
    out += [f"Run {started}, {took / 60:.1f} min in all: `{command}`",
            "",
            "## Machine", "",
            f"- CPU: {mach['cpu']}, {mach['cores']} logical cores ({mach['usable_cores']} usable)",
            f"- RAM: {mach['ram_gb']:.1f} GiB",
            f"- Load average at start: {' / '.join(f'{x:.2f}' for x in mach['loadavg_start'])}, "
            f"at end: {' / '.join(f'{x:.2f}' for x in mach['loadavg_end'])}",
            f"- Python {mach['python']} on {mach['os']}",
            f"- {libs}",
            f"- ffmpeg: {mach['ffmpeg']}", "",
            "## Transcription: pipeline vs bare engines", "",
            "Same files, each contender in its own process; `wall s` excludes model loading "
            "(`load s`); RTF = wall / audio; peak RSS is the whole process, model included. "
            f"Median of {args.repeat} pass(es). Bare engines use their default settings (bare "
            "faster-whisper: beam 5, no VAD, no word timestamps; bare openai-whisper: greedy with "
            "temperature fallback, no word timestamps); the pipeline adds VAD, word timestamps, "
            "normalisation, detection and storage.", ""]
    for s in sets:
        out += [f"### {s.name}", "", s.note, "", engine_table(s, results[s.name], True), ""]
    if ix:
        out += ["## Index scale (Datasette test client)", "", index_table(ix, True), ""]
    out += ["## Ratios", ""] + [f"- {line}" for line in ratios] + [""]
    return "\n".join(out)

