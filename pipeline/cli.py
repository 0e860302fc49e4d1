"""``call-evidence``: a thin Click face over the library (no logic lives here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

LANG_CHOICES = click.Choice(["auto", "zh", "en", "yue"])


@click.group()
@click.version_option(__version__, prog_name="call-evidence")
def cli() -> None:
    """Turn phone-call recordings into a searchable, timestamped evidence index.

    Everything runs on this machine; nothing is uploaded anywhere.
    """


@cli.command()
@click.argument("folder", default="recordings", type=click.Path(path_type=Path))
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True, help="SQLite evidence database to create or update.")
@click.option("--engine", type=click.Choice(["faster-whisper", "openai-whisper"]),
              default="faster-whisper", show_default=True)
@click.option("--model", default=None,
              help="Model name or path (default: the bundled multilingual Whisper base).")
@click.option("--language", type=LANG_CHOICES, default="auto", show_default=True,
              help="Spoken language; 'auto' detects it per file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--threads", type=int, default=0, help="CPU threads for the engine (0: automatic).")
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Extra rule file or folder (YAML), in addition to the bundled rules.")
@click.option("--no-split-stereo", is_flag=True,
              help="Transcribe stereo files as one mix instead of one pass per channel.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def transcribe(folder, db_path, engine, model, language, device, threads, rules,
               no_split_stereo, quiet):
    """Hash, normalise, transcribe and scan every new recording in FOLDER.

    Originals are never modified.  Files already in the database (same
    content hash) are skipped, so re-running is cheap and adds nothing.
    Exit code 1 when some files failed (they are recorded with their error).
    """
    from .flow import FlowError, Options, Pipeline
    from .models import ModelError
    from .store import StoreError

    if not folder.is_dir():
        raise click.ClickException(f"recordings folder not found: {folder}")
    from .ingest import discover

    if not discover(folder):
        click.echo(f"No recordings found in {folder}/. Drop call recordings there "
                   "(amr, m4a, mp3, wav, aac, 3gp, opus, flac, mp4), or try `make demo`.")
        return
    opts = Options(engine=engine, model=model, language=None if language == "auto" else language,
                   device=device, threads=threads, rules=list(rules),
                   split_stereo=not no_split_stereo)
    try:
        summary = Pipeline(opts).run(folder, db_path, progress=not quiet)
    except (FlowError, ModelError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        click.echo("\nInterrupted: finished recordings are saved; run again to continue.", err=True)
        sys.exit(130)
    click.echo(summary.line())
    for path, err in summary.failures:
        click.echo(f"  failed: {path}: {err}", err=True)
    click.echo(f"Evidence database: {db_path}   (browse it with: make browse)")
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path))
def detect(db_path, rules):
    """Re-run detection on stored transcripts (after editing rules); no re-transcription."""
    from .flow import redetect

    if not db_path.exists():
        raise click.ClickException(f"database not found: {db_path}")
    n, total = redetect(db_path, list(rules))
    click.echo(f"re-scanned {n} recordings: {total} findings")


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Keep 127.0.0.1 unless you mean to share on a network.")
@click.option("--port", default=8001, type=int, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open a web browser.")
def browse(db_path, host, port, open_browser):
    """Open the evidence index in Datasette (read-only, on this machine)."""
    from .browse import serve_command

    if not db_path.exists():
        raise click.ClickException(f"database not found: {db_path}; run `make transcribe` first")
    args = serve_command(db_path, host=host, port=port, open_browser=open_browser)
    click.echo(f"Evidence index: http://{host}:{port}/   (Ctrl-C to stop)")
    import os

    os.execvp(args[0], args)


if __name__ == "__main__":  # pragma: no cover
    cli()
