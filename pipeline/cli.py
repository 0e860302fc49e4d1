"""``call-evidence``: a thin Click face over the library (no logic lives here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

LANG_CHOICES = click.Choice(["auto", "zh", "en", "yue"])
# The run's default; each number may have its own (numbers.yaml beside the database,
# docs/jurisdictions.md).  The list is call_rules.yaml's.
JURISDICTIONS = click.Choice(["CN", "US", "UK"])


@click.group()
@click.version_option(__version__, prog_name="call-evidence")
def cli() -> None:
    """Turn phone-call recordings into a searchable, timestamped evidence index.

    Everything runs on this machine; nothing is uploaded anywhere.
    """


def _engine_options(f):
    """The options ``transcribe`` and ``watch`` share (engine, model, language, rules...)."""
    for option in reversed([
        click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
                     show_default=True, help="SQLite evidence database to create or update."),
        click.option("--engine", type=click.Choice(["faster-whisper", "openai-whisper"]),
                     default="faster-whisper", show_default=True),
        click.option("--model", default=None,
                     help="Model name or path (default: the bundled multilingual Whisper base)."),
        click.option("--language", type=LANG_CHOICES, default="auto", show_default=True,
                     help="Spoken language; 'auto' detects it per file."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                     show_default=True),
        click.option("--threads", type=int, default=0,
                     help="CPU threads per transcribing worker (0: automatic)."),
        click.option("--cpu-isa", type=click.Choice(["auto", "GENERIC", "AVX", "AVX2", "AVX512"]),
                     default="auto", show_default=True,
                     help="CPU kernel path of faster-whisper (CT2_FORCE_CPU_ISA). Kernels round "
                          "differently, so machines must share one to give the same words "
                          "(docs/reliability.md); 'auto': CTranslate2's choice, recorded per run."),
        click.option("--workers", type=int, default=0,
                     help="Files transcribed at once (0: automatic, 2 on a 2-core machine; "
                          "openai-whisper always 1)."),
        click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path),
                     help="Extra rule file or folder (YAML), in addition to the bundled rules."),
        click.option("--no-split-stereo", is_flag=True,
                     help="Transcribe stereo files as one mix instead of one pass per channel."),
        click.option("--jurisdiction", type=JURISDICTIONS, default=None,
                     help="Default rules for calls (night hours, daily caps, citations) from numbers "
                          "not placed by numbers.yaml or their country code; default CN."),
        click.option("--script", type=click.Choice(["simplified", "traditional"]),
                     default="simplified", show_default=True,
                     help="Chinese characters in stored transcripts."),
        click.option("--diarize", is_flag=True,
                     help="Mono recordings: estimate who spoke (two voices at most) and label "
                          "segments 'speaker A (estimated)' / 'speaker B (estimated)'. Needs "
                          "pip install 'call-evidence[diarize]'. Stereo keeps its channel labels."),
    ]):
        f = option(f)
    return f


def _options(engine, model, language, device, threads, workers, rules, no_split_stereo,
             jurisdiction=None, script="simplified", call_log=None, diarize=False, cpu_isa="auto"):
    from .flow import Options

    if cpu_isa != "auto":
        from .engines import EngineError, kernels

        try:
            kernels.check_isa(cpu_isa)
        except EngineError as e:
            raise click.BadParameter(str(e).split(": ", 1)[-1], param_hint="--cpu-isa") from e
    return Options(engine=engine, model=model, language=None if language == "auto" else language,
                   device=device, threads=threads, workers=workers, rules=list(rules),
                   split_stereo=not no_split_stereo, jurisdiction=jurisdiction, script=script,
                   call_log=call_log, diarize=diarize,
                   cpu_isa=None if cpu_isa == "auto" else cpu_isa)


def _scale_options(f):
    """Where files are prepared: here (default) or on a Ray cluster (docs/scale-out.md)."""
    for option in reversed([
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
                     show_default=True,
                     help="'ray': normalise/transcribe/detect on Ray workers; this machine "
                          "still hashes and writes the database (pip install 'call-evidence[ray]')."),
        click.option("--address", default=None,
                     help="Ray cluster to join: 'auto' or HOST:PORT (default: start one here)."),
        click.option("--ray-workers", type=int, default=0,
                     help="Ray worker processes, each with its own model (0: one per CPU in the cluster)."),
        click.option("--cpus-per-worker", type=float, default=1.0, show_default=True,
                     help="CPUs each Ray worker reserves (and model threads it uses)."),
        click.option("--gpus-per-worker", type=float, default=0.0, show_default=True,
                     help="GPUs each Ray worker reserves (e.g. 1, or 0.5 to share); 0: CPU workers."),
        click.option("--ship-bytes/--shared-path", default=None,
                     help="Always send recordings to the Ray workers / only read them at the same "
                          "path on every node (default: read there when the bytes match, else send)."),
    ]):
        f = option(f)
    return f


def browse_hint(db_path: Path) -> str:
    """The command that opens this database in the browser (the default one needs no --db)."""
    if str(db_path) == "evidence.db":
        return "make browse"
    from shlex import quote

    return f"call-evidence browse --db {quote(str(db_path))}"


@cli.command()
@click.argument("folder", default="recordings", type=click.Path(path_type=Path))
@_engine_options
@click.option("--call-log", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A call-log CSV exported from the phone (attempted and connected calls).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_scale_options
def transcribe(folder, db_path, engine, model, language, device, threads, cpu_isa, workers, rules,
               diarize, no_split_stereo, jurisdiction, script, call_log, quiet, executor, address,
               ray_workers, cpus_per_worker, gpus_per_worker, ship_bytes):
    """Hash, normalise, transcribe and scan every new recording in FOLDER.

    Originals are never modified.  Files already in the database (same
    content hash) are skipped, so re-running is cheap and adds nothing.
    Exit code 1 when some files failed (they are recorded with their error).
    """
    from .flow import FlowError, Pipeline
    from .models import ModelError
    from .store import StoreError

    if not folder.is_dir():
        raise click.ClickException(f"recordings folder not found: {folder}")
    from .calls.ingest import discover

    if not discover(folder):
        click.echo(f"No recordings found in {folder}/. Drop call recordings there "
                   "(amr, m4a, mp3, wav, aac, 3gp, opus, flac, mp4), or try `make demo`.")
        return
    opts = _options(engine, model, language, device, threads, workers, rules, no_split_stereo,
                    jurisdiction, script, call_log, diarize=diarize, cpu_isa=cpu_isa)
    from .scale import RayOptions

    opts.executor = executor
    opts.ray = RayOptions(address=address, workers=ray_workers, cpus_per_worker=cpus_per_worker,
                          gpus_per_worker=gpus_per_worker,
                          ship_bytes={None: "auto", True: "always", False: "never"}[ship_bytes])
    try:
        summary = Pipeline(opts).run(folder, db_path, progress=not quiet)
    except (FlowError, ModelError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        click.echo("\nInterrupted: finished recordings are saved; run again to continue.", err=True)
        sys.exit(130)
    click.echo(summary.line() + f", call-pattern findings {summary.pattern_findings}")
    if summary.detection_notice:
        click.echo(f"note: {summary.detection_notice}", err=True)
    if summary.workers:
        from .scale.ray_executor import describe_workers

        click.echo("\n".join(describe_workers(summary.workers)), err=True)
    for path, err in summary.failures:
        click.echo(f"  failed: {path}: {err}", err=True)
    for path, why in summary.ignored:
        click.echo(f"  ignored: {path}: {why}", err=True)
    for path in summary.copying:
        click.echo(f"  still being copied, skipped: {path} (run again once the copy is done)",
                   err=True)
    for _old, path in summary.superseded:
        click.echo(f"  superseded: an earlier, truncated copy of {path} is no longer counted",
                   err=True)
    click.echo(f"Evidence database: {db_path}   (browse it with: {browse_hint(db_path)})")
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("folder", default="recordings", type=click.Path(path_type=Path))
@_engine_options
@click.option("--interval", type=float, default=2.0, show_default=True,
              help="Seconds between looks at the folder.")
@click.option("--stable-polls", type=int, default=3, show_default=True,
              help="A file is processed once its size and time are unchanged for this many looks.")
def watch(folder, db_path, engine, model, language, device, threads, cpu_isa, workers, rules,
          diarize, no_split_stereo, jurisdiction, script, interval, stable_polls):
    """Process recordings as they are dropped into FOLDER, until Ctrl-C.

    A file is taken only when it has stopped growing (phones sync slowly).
    If the folder goes away (unplugged phone, network share) the watcher waits
    for it.  Ctrl-C stops between two recordings and exits 0; a second Ctrl-C
    stops at once.  Committed recordings are never lost.
    """
    from .flow import FlowError, Pipeline
    from .models import ModelError
    from .store import StoreError
    from .watch import StopFlag, Watcher, install_signal_handlers

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    stop = StopFlag()
    install_signal_handlers(stop, log)
    opts = _options(engine, model, language, device, threads, workers, rules, no_split_stereo,
                    jurisdiction, script, diarize=diarize, cpu_isa=cpu_isa)
    pipeline = Pipeline(opts, log=log)
    watcher = Watcher(pipeline, folder, db_path, interval=interval, stable_polls=stable_polls,
                      stop=stop, log=log)
    try:
        summary = watcher.run()
    except (FlowError, ModelError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        click.echo("\nStopped at once: finished recordings are saved; the one in progress "
                   "will be redone next time.", err=True)
        sys.exit(130)
    click.echo(f"Stopped watching {folder}/: {summary.line()}")
    for path, err in summary.totals.failures:
        click.echo(f"  failed: {path}: {err}", err=True)


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--verbose", is_flag=True, help="Name every file as it is checked.")
def verify(db_path, verbose):
    """Re-hash every original and derived file; report anything changed or missing.

    The database is opened read-only.  Exit code 1 if any file changed, is
    missing or unreadable, or the database fails its integrity check.
    """
    from .verify import VerifyError
    from .verify import verify as run_verify

    try:
        report = run_verify(db_path, progress=(lambda m: click.echo(m, err=True)) if verbose else None)
    except VerifyError as e:
        raise click.ClickException(str(e)) from e
    for problem in report.problems:
        click.echo(problem.line())
    click.echo(report.line())
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--jurisdiction", type=JURISDICTIONS, default=None)
def detect(db_path, rules, jurisdiction):
    """Re-run detection on stored transcripts (after editing rules); no re-transcription.

    Call-pattern findings (night calls, daily caps...) are recomputed as well.
    """
    from .detect import Detector
    from .flow import FlowError, redetect
    from .store import StoreError

    if not db_path.exists():
        raise click.ClickException(f"database not found: {db_path}")
    detector = Detector(rule_paths=list(rules))
    try:
        n, total = redetect(db_path, list(rules), jurisdiction, detector=detector)
    except (FlowError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"re-scanned {n} recordings: {total} findings")
    if detector.meaning_notice:
        click.echo(f"note: {detector.meaning_notice}", err=True)


@cli.command("import-calls")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--jurisdiction", type=JURISDICTIONS, default=None)
def import_calls(csv_path, db_path, jurisdiction):
    """Import a call-log CSV from the phone and recompute call-pattern findings.

    Attempts that never connected, and numbers never recorded, count towards the
    daily caps and Reg F limits.  Re-importing the same file replaces it.
    """
    from .flow import FlowError, analyse_calls, run_lock
    from .store import Store, StoreError

    try:
        with run_lock(db_path):
            store = Store(db_path)
            try:
                n = analyse_calls(store, jurisdiction, None, csv_path)
            finally:
                store.close()
    except (FlowError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"imported {csv_path}: {n} call-pattern findings")


@cli.command("scan-text")
@click.argument("source", default="-", type=click.File("r", encoding="utf-8-sig"))
@click.option("--db", "db_path", default=None, type=click.Path(path_type=Path),
              help="Also store the messages and findings in this evidence database.")
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path))
def scan_text(source, db_path, rules):
    """Scan SMS or chat text (one message per line, or a CSV export with date, number and
    text columns) and print findings as JSON lines."""
    import json

    from .detect import Detector
    from .textscan import read_messages, scan

    messages = read_messages(source.read())
    detector = Detector(rule_paths=list(rules))
    findings = scan(messages, detector)
    for f in findings:
        click.echo(json.dumps(f, ensure_ascii=False))
    if detector.meaning_notice:
        click.echo(f"note: {detector.meaning_notice}", err=True)
    if db_path is not None:
        from .calls import callstore
        from .flow import FlowError, run_lock
        from .store import Store, StoreError

        name = "<stdin>" if source.name == "<stdin>" else str(Path(source.name).resolve())
        try:
            with run_lock(db_path):
                store = Store(db_path)
                try:
                    callstore.ensure_tables(store)
                    callstore.save_messages(store, name, messages, findings)
                finally:
                    store.close()
        except (FlowError, StoreError) as e:
            raise click.ClickException(str(e)) from e
        listen = sum(f.get("tier") == "listen" for f in findings)
        click.echo(f"stored {len(messages)} messages, {len(findings) - listen} findings and "
                   f"{listen} listen suggestions (worth a listen) in {db_path}", err=True)


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Keep 127.0.0.1 unless you mean to share on a network.")
@click.option("--port", default=8001, type=int, show_default=True)
@click.option("--password", "use_password", is_flag=True,
              help="Require a login (user 'caseworker'); the password is asked for, or read "
                   "from $CALL_EVIDENCE_PASSWORD. Required when --host is not local.")
@click.option("--open", "open_browser", is_flag=True, help="Open a web browser.")
def browse(db_path, host, port, use_password, open_browser):
    """Open the evidence index in Datasette (read-only, on this machine)."""
    import os

    from .browse import ACCOUNT, password_env, serve_command, server_url
    from .readonly import connect_read_only
    from .store import StoreError

    if not db_path.exists():
        raise click.ClickException(f"database not found: {db_path}; run `make transcribe` first")
    try:  # refuse a file that is not an evidence database before serving (or writing) anything
        connect_read_only(db_path, any_version=True).close()
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    env = dict(os.environ)
    if host not in ("127.0.0.1", "localhost", "::1") and not use_password:
        raise click.ClickException(
            f"serving on {host} makes the evidence reachable from the network; add --password")
    if use_password:
        password = os.environ.get("CALL_EVIDENCE_PASSWORD") or click.prompt(
            f"Password for user '{ACCOUNT}'", hide_input=True, confirmation_prompt=True)
        env.update(password_env(password))
    args = serve_command(db_path, host=host, port=port, open_browser=open_browser,
                         password=use_password)
    url = server_url(host, port)
    click.echo(f"Evidence index: {url}   (Ctrl-C to stop)")
    if use_password:
        click.echo(f"Log in at {url}-/login as '{ACCOUNT}'.")
    os.execvpe(args[0], args, env)



def _numbers(ctx, param, values):
    """Each --number must be a phone number: a typo never widens a report to every number."""
    from .report.data import ScopeError, check_number

    try:  # "--number a,b" is "--number a --number b"
        return tuple(check_number(v) for text in values for v in text.split(",") if v.strip()
                     or not text.strip())
    except ScopeError as e:
        raise click.BadParameter(str(e)) from e


def _date(ctx, param, value):
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-02") from e


@cli.command()
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--out", "out_dir", default="reports", type=click.Path(path_type=Path),
              show_default=True, help="Folder in which the package folder and zip are made.")
@click.option("--number", "numbers", multiple=True, callback=_numbers,
              help="One counterparty: only calls and messages from this number; repeat (or "
                   "separate with commas) for the numbers one collector uses. Without it, one "
                   "package per counterparty (numbers.yaml may group a lender's numbers).")
@click.option("--name", default=None, help="Who the report is about (e.g. the collection company).")
@click.option("--from", "date_from", callback=_date, help="First day (YYYY-MM-DD), inclusive.")
@click.option("--to", "date_to", callback=_date, help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--lang", "languages", type=click.Choice(["zh", "en"]), multiple=True,
              help="Report language(s); default both.")
@click.option("--channel", "channels", multiple=True,
              help="Draft complaint for this channel (12378, 12363, 12315, 12321, nifa, "
                   "local_regulator, police, court, cfpb, fos); default 12378, 12321, police.")
@click.option("--complainant", default=None, help="Your name and contact, for the drafts.")
@click.option("--no-originals", is_flag=True, help="List the originals' hashes but do not copy them.")
@click.option("--no-pdf", is_flag=True, help="HTML only (no Chromium needed).")
@click.option("--jurisdiction", type=JURISDICTIONS, default=None)
@click.option("--all-in-one", is_flag=True,
              help="One package for everything in scope, even several counterparties or "
                   "jurisdictions (page one says what it mixes). Default: one package each.")
def report(db_path, out_dir, numbers, name, date_from, date_to, languages, channels, complainant,
           no_originals, no_pdf, jurisdiction, all_in_one):
    """Make a complaint-ready evidence package: report (HTML + PDF, Chinese and English),
    clips, transcripts (text, SRT, VTT), original recordings, draft complaints and a
    manifest with every file's SHA-256.  Findings dismissed with `review` are left out.
    """
    from .report import ReportError, ReportOptions, Scope, build_reports
    from .report.data import ScopeError
    from .store import StoreError

    if date_from and date_to and date_from > date_to:
        raise click.BadParameter("--from is after --to")
    options = ReportOptions(languages=tuple(languages) or ("zh", "en"),
                            channels=list(channels) or None, include_originals=not no_originals,
                            pdf=not no_pdf, complainant=complainant, jurisdiction=jurisdiction,
                            all_in_one=all_in_one)
    scope = Scope(numbers=list(numbers), date_from=date_from, date_to=date_to, name=name)
    try:
        batch = build_reports(db_path, out_dir, scope, options, log=lambda m: click.echo(m, err=True))
    except ScopeError as e:  # an empty or invalid scope: a usage error (exit 2), no package
        raise click.UsageError(str(e)) from e
    except (ReportError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    for w in [*batch.warnings, *(w for r in batch.packages for w in r.warnings)]:
        click.echo(f"warning: {w}", err=True)
    if batch.index:
        click.echo(f"{len(batch.packages)} packages, one per counterparty; index: {batch.index}")
    for result in batch.packages:
        messages = result.manifest.get("messages", [])
        in_messages = sum(len(m["findings"]) for m in messages)
        click.echo(f"{result.findings} finding(s) in {result.recordings} recording(s), "
                   f"{in_messages} in {len(messages)} message(s)")
        click.echo(f"package: {result.folder}")
        if result.zip_path:
            click.echo(f"zip:     {result.zip_path}")


@cli.command()
@click.argument("finding_ids", nargs=-1, type=int)
@click.option("--db", "db_path", default="evidence.db", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--confirm", "status", flag_value="confirmed", help="A person checked it: keep it.")
@click.option("--dismiss", "status", flag_value="dismissed",
              help="Not a violation (a misheard word, the borrower speaking...): leave it out of reports.")
@click.option("--reset", "status", flag_value="unreviewed", help="Take a verdict back.")
@click.option("--own-words", is_flag=True,
              help="Dismiss because these are the borrower's own words (repeating or quoting the "
                   "collector); implies --dismiss.")
@click.option("--note", default=None, help="Why (kept with the verdict, at most 2000 characters).")
@click.option("--list", "list_status", type=click.Choice(["unreviewed", "confirmed", "dismissed", "all"]),
              default=None, help="List findings with this review status instead.")
@click.option("--messages", is_flag=True,
              help="The ids are text-message findings (the browser's message findings table).")
def review(finding_ids, db_path, status, own_words, note, list_status, messages):
    """Mark findings confirmed or dismissed (ids as shown in the browser's findings table).

    Verdicts survive re-transcription and re-detection: they are kept apart from
    the findings and applied again to the rebuilt ones (same recording and rule,
    start within 2 s).  With --messages, the same for text-message findings, whose
    verdicts survive a re-scan of the export (same number, time, text and rule).
    """
    from .readonly import read_only_store
    from .store import Store, StoreError

    if not db_path.exists():
        raise click.ClickException(f"database not found: {db_path}")
    if own_words:
        if status not in (None, "dismissed"):
            raise click.UsageError("--own-words is a reason to dismiss; it cannot go with "
                                   f"--{'confirm' if status == 'confirmed' else 'reset'}")
        status = "dismissed"
    if list_status is None and (not finding_ids or status is None):
        raise click.UsageError("give finding ids and one of --confirm, --dismiss, --reset "
                               "(or --list STATUS)")
    try:
        # --list only reads: the database is opened read-only (a foreign file is refused)
        store = read_only_store(db_path) if list_status is not None else Store(db_path)
        try:
            if messages:
                n = _review_messages(store, list(finding_ids), status, note, own_words, list_status)
                if n is None:
                    return
            elif list_status is not None:
                where = "" if list_status == "all" else " where f.review_status = ?"
                from .flagged import kind
                from .report.build import labels
                from .report.complaint import at

                badges = labels()["en"]["why_text"]["badge"]
                # A finding's time is its sentence's start (the segment), as in the report;
                # why it was flagged as the report's short marker, the rule and the score.
                rows = store.conn.execute(
                    "select f.id, f.review_status, f.category, r.file_name,"
                    " coalesce(s.start, f.start), f.quote, f.rule_id, f.method, f.note, f.score,"
                    " f.tier"
                    " from findings f join recordings r on r.id = f.recording_id"
                    " left join segments s on s.id = f.segment_id" + where
                    + " order by r.call_time, r.file_name, coalesce(s.start, f.start), f.start",
                    [] if list_status == "all" else [list_status])
                for fid, st, cat, file_name, start, quote, rule, method, fnote, score, tier in rows:
                    why = badges[kind(method, fnote)] + ("" if score is None else f" {score:.2f}")
                    if tier == "listen":  # not a finding until confirmed
                        why = f"worth a listen, {why}"
                    click.echo(f"{fid:>6}  {st:<10}  {cat:<14}  {file_name} @{at(start)}  "
                               f"[{why}: {rule}]  {quote}")
                return
            else:
                # No run lock: one short transaction, safe beside a running `watch`, and
                # a recording committed later gets the verdict applied in its own write.
                n = store.set_review(list(finding_ids), status, note, reviewed_by=_who(),
                                     reason="own_words" if own_words else None)
        finally:
            store.close()
    except (ValueError, StoreError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{n} {'message ' if messages else ''}finding(s) marked {status}")


def _review_messages(store, ids: list[int], status, note, own_words, list_status) -> int | None:
    """``review --messages``: list text-message findings, or give them a verdict."""
    from . import message_reviews

    if list_status is not None:
        has = store.conn.execute("select 1 from sqlite_master where name = 'message_findings'"
                                 ).fetchone()
        where = "" if list_status == "all" else " where coalesce(review_status, 'unreviewed') = ?"
        rows = store.conn.execute(
            "select id, coalesce(review_status, 'unreviewed'), category, sent_at, phone_number,"
            " quote, rule_id from message_findings" + where + " order by sent_at, id",
            [] if list_status == "all" else [list_status]) if has else []
        for fid, st, cat, sent, number, quote, rule in rows:
            click.echo(f"{fid:>6}  {st:<10}  {cat:<14}  {sent or '?'} {number or '-'}  [{rule}]  {quote}")
        return None
    return message_reviews.set_review(store, ids, status, note, reviewed_by=_who(),
                                      reason="own_words" if own_words else None)


def _who() -> str:
    """Who gives a verdict from the command line: ``cli:<system user>``, a neutral code the
    report and the browser word in their own language (``pipeline/reviewers.py``)."""
    import getpass

    from .reviewers import command_line

    try:
        return command_line(getpass.getuser())
    except (OSError, KeyError):
        return command_line(None)


def _register_extras() -> None:
    """Commands defined next to the code they drive (kept out of this thin face)."""
    from .evaluation.asr import eval_asr_command
    from .evaluation.detect import eval_detect_command
    from .evaluation.train_detect import train_detect_command

    cli.add_command(eval_asr_command)
    cli.add_command(eval_detect_command)
    cli.add_command(train_detect_command)


_register_extras()


if __name__ == "__main__":  # pragma: no cover
    cli()
