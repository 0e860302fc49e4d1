"""A report never writes where it should not: the database is opened read-only and a
file that is not a call-evidence database is refused (so are ``verify``, ``review
--list`` and ``browse``), and a package is written whole or not at all (a full disk
leaves nothing behind and says so in one line)."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

from .test_report import _small_db


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    return _small_db(tmp_path_factory.mktemp("safety"))


def _foreign(tmp_path: Path) -> list[Path]:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("create table notes (id integer primary key, body text)")
        c.execute("insert into notes (body) values ('mine')")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just a long enough text file " * 20)
    return [empty, other, text]


@pytest.mark.parametrize("command", [["report", "--no-pdf"], ["verify"], ["review", "--list", "all"],
                                     ["browse"]])
def test_read_only_commands_refuse_a_file_that_is_not_an_evidence_database(tmp_path, command):
    for db in _foreign(tmp_path):
        before = _sha(db)
        out = tmp_path / "out"
        res = CliRunner().invoke(cli, [*command, "--db", str(db),
                                       *(["--out", str(out)] if command[0] == "report" else [])])
        assert res.exit_code != 0, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and "not a call-evidence database" in lines[0], res.output
        assert _sha(db) == before  # not one byte written, no table added
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "notes.txt", "other.sqlite"]


def test_report_leaves_the_database_untouched(small_db, tmp_path):
    before = _sha(small_db)
    res = CliRunner().invoke(cli, ["report", "--db", str(small_db), "--no-pdf", "--lang", "en",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert _sha(small_db) == before
    # nothing temporary is left beside the package
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_disk_error_mid_package_leaves_nothing(small_db, tmp_path, monkeypatch):
    """Deterministic: the manifest write fails with ENOSPC (as on a full disk)."""
    import errno

    import pipeline.report.manifest as manifest

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(manifest, "write", full)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["report", "--db", str(small_db), "--no-pdf", "--out", str(out)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1:] == [
        f"Error: cannot write the package in {out}: the disk is full; nothing was left there "
        "(free some space or choose another --out and run again)"]
    assert not out.exists()


def test_a_full_tmpfs_leaves_nothing(small_db, tmp_path):
    """A real full disk: a 96 KiB tmpfs (needs root to mount; skipped otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        res = CliRunner().invoke(cli, ["report", "--db", str(small_db), "--no-pdf",
                                       "--out", str(mnt / "out")])
        assert res.exit_code == 1, res.output
        errors = [x for x in res.output.splitlines() if x.startswith("Error")]
        assert "Traceback" not in res.output and res.output.strip().endswith(errors[-1])
        assert len(errors) == 1 and "the disk is full; nothing was left there" in errors[0], res.output
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
