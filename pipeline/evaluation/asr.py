"""``eval-asr``: score the pipeline's transcription against reference transcripts.

One run transcribes every clip of a manifest with up to four *systems*, all on the
same bundled Whisper base weights:

``pipeline-faster`` / ``pipeline-openai``
    exactly what ``call-evidence transcribe`` stores: ``flow.transcribe_path`` with
    ``load_engine("faster-whisper")`` / ``load_engine("openai-whisper")``, language
    detected per file.
``bare-faster`` / ``bare-openai``
    the libraries with their default settings and nothing of ours around them:
    ``faster_whisper.WhisperModel(<bundled ct2>, device="cpu", compute_type="int8")
    .transcribe(path)`` and ``whisper.load_model(<converted checkpoint>, device="cpu")
    .transcribe(path, fp16=False)``.

Each model is loaded once per run.  Scoring uses **one** normalisation (``normalise``),
applied identically to hypothesis and reference: ``[S1]``-style speaker tags,
punctuation, symbols and whitespace are removed, nothing else (no case folding for
Mandarin, no number spelling, no Traditional→Simplified).  Mandarin is scored per
character (CER), English per lower-cased word (WER): edits (Levenshtein) / reference
units, per clip and for the corpus (total edits / total reference units).

Because Whisper often answers Mandarin in Traditional characters, the bare systems also
get a second score after their output is converted to Simplified (OpenCC ``t2s``, as
the pipeline does), so the pipeline can be compared with both.

This module runs an evaluation (``evaluate``, ``run_eval``, the ``eval-asr`` command);
its parts live beside it: ``asr_clips`` (the manifest), ``asr_systems`` (the four
systems), ``errorrate`` (normalisation, CER/WER) and ``asr_report`` (scores, totals,
tables, JSON).
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import click

# The parts of eval-asr, each in its own module; their public names are re-exported
# here because ``pipeline.evaluation.asr`` is the command's one documented entry point.
from .asr_clips import (  # noqa: F401
    REQUIRED_COLUMNS,
    TEL8K_FOLDER,
    Clip,
    EvalError,
    default_manifest,
    read_manifest,
    tel8k_clips,
)
from .asr_report import (  # noqa: F401
    FILLER_CLIP,
    Aggregate,
    ClipResult,
    Report,
    format_markdown,
    format_text,
    pct,
    report_from_dict,
    score_clip,
    write_json,
)
from .asr_systems import (  # noqa: F401
    BARE,
    PIPELINES,
    SYSTEMS,
    BareFasterWhisper,
    BareOpenAIWhisper,
    Hypothesis,
    PipelineSystem,
    System,
    make_system,
)
from .errorrate import (  # noqa: F401
    CHAR_LANGUAGES,
    EditCounts,
    cjk_chars,
    edit_counts,
    error_rate,
    is_char_language,
    latin_words,
    levenshtein,
    metric_name,
    normalise,
    rate,
    traditional_chars,
    units,
)


def evaluate(clips: Sequence[Clip], systems: Sequence[System],
             log: Callable[[str], None] | None = None) -> Report:
    """Transcribe every clip with every system (each model loaded once) and score them."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    results: list[ClipResult] = []
    meta_systems = {}
    for system in systems:
        log(f"[{system.name}] loading model ...")
        t0 = time.perf_counter()
        system.load()
        load_s = time.perf_counter() - t0
        meta_systems[system.name] = {"call": system.description, "load_seconds": round(load_s, 2),
                                     **system.versions()}
        for i, clip in enumerate(clips, start=1):
            t0 = time.perf_counter()
            error = None
            try:
                hyp = system.transcribe(clip.path)
            except Exception as e:  # one clip's failure must not end the run
                hyp, error = Hypothesis(""), f"{type(e).__name__}: {e}"
            dt = time.perf_counter() - t0
            r = score_clip(system.name, clip, hyp, dt, error)
            results.append(r)
            shown = f"ERROR {error}" if error else repr(hyp.text[:60])
            log(f"[{system.name}] {i}/{len(clips)} {clip.set}/{clip.name} {dt:.1f}s "
                f"{metric_name(clip.language)} {pct(r.rate)} {shown}")
        system.close()
        gc.collect()
    sets = list(dict.fromkeys(c.set for c in clips))
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "systems": meta_systems}
    return Report(results=results, systems=[s.name for s in systems], sets=sets, meta=meta)


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info



def run_eval(manifest: Path, systems: Sequence[str] = SYSTEMS, tel8k: bool = True,
             tel8k_dir: Path | None = None, cache_dir: Path | None = None,
             log: Callable[[str], None] | None = None,
             prebuilt: dict[str, System] | None = None) -> Report:
    """Read ``manifest`` (and its telephone-band copies), run ``systems``, return the report."""
    manifest = Path(manifest)
    clips = read_manifest(manifest)
    if tel8k:
        clips += tel8k_clips(clips, tel8k_dir or manifest.parent / TEL8K_FOLDER)
    built = [(prebuilt or {}).get(s) or make_system(s, cache_dir=cache_dir) for s in systems]
    report = evaluate(clips, built, log=log)
    report.meta["manifest"] = str(manifest)
    report.meta["clips"] = {s: sum(1 for c in clips if c.set == s) for s in report.sets}
    return report


# --- command ------------------------------------------------------------------------------

@click.command("eval-asr")
@click.argument("manifest", required=False, type=click.Path(path_type=Path))
@click.option("--system", "systems", multiple=True, type=click.Choice(SYSTEMS),
              help="System(s) to run (repeatable; default: all four).")
@click.option("--tel8k/--no-tel8k", default=True, show_default=True,
              help="Also score the telephone-band copies (audio_tel8k_sim/ beside the manifest).")
@click.option("--tel8k-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of telephone-band copies (default: <manifest folder>/audio_tel8k_sim).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where the pipeline systems cache normalised audio (default: the usual cache).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write every number (per clip and overall) as JSON to this file.")
@click.option("--markdown", "markdown_path", type=click.Path(path_type=Path), default=None,
              help="Write a markdown section (for docs/accuracy.md) to this file.")
def eval_asr_command(manifest, systems, tel8k, tel8k_dir, cache_dir, json_path, markdown_path):
    """Score transcription accuracy against MANIFEST's reference transcripts.

    MANIFEST is a tab-separated file with a header and the columns file (relative to the
    manifest's folder), language and reference_transcript; default:
    ../shared/realspeech/manifest.tsv beside the repository.  Runs the pipeline with
    both engines and bare faster-whisper / openai-whisper with their default settings,
    all on the bundled Whisper base, and prints CER (Mandarin) and WER (English) per
    clip and overall.  Progress goes to stderr.
    """
    if manifest is None:
        manifest = default_manifest()
        if manifest is None:
            raise click.ClickException(
                "no manifest given and the default ../shared/realspeech/manifest.tsv (beside the "
                "repository) does not exist; pass one: call-evidence eval-asr PATH/manifest.tsv")
    try:
        report = run_eval(manifest, systems=list(systems) or list(SYSTEMS), tel8k=tel8k,
                          tel8k_dir=tel8k_dir, cache_dir=cache_dir)
    except EvalError as e:
        raise click.ClickException(str(e)) from e
    click.echo(format_text(report))
    if json_path:
        write_json(report, json_path)
        click.echo(f"JSON written to {json_path}", err=True)
    if markdown_path:
        Path(markdown_path).write_text(format_markdown(report), encoding="utf-8")
        click.echo(f"Markdown written to {markdown_path}", err=True)
    if any(r.error for r in report.results):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    eval_asr_command()
