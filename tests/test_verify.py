"""``call-evidence verify``: a one-byte change anywhere is found, and verifying changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pipeline.calls.ingest import sha256_of
from pipeline.cli import cli
from pipeline.store import Store
from pipeline.verify import verify

from .test_resilience import pipeline, tone_wav


def _processed(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "rec"
    for i in range(3):
        tone_wav(folder / f"{i}.wav", 0.5, 300 + 100 * i, seed=i)
    (folder / "empty.amr").write_bytes(b"")  # failed recordings' originals are evidence too
    db = tmp_path / "e.db"
    pipeline(tmp_path).run(folder, db, progress=False)
    return folder, db


def _verify_cli(db: Path):
    return CliRunner().invoke(cli, ["verify", "--db", str(db)])


def test_untouched_files_verify_and_verifying_writes_nothing(tmp_path):
    folder, db = _processed(tmp_path)

    def hashes():  # SQLite's -wal/-shm companions may appear (empty) for a read-only reader
        return {p: sha256_of(p) for p in tmp_path.rglob("*")
                if p.is_file() and not p.name.endswith(("-wal", "-shm"))}

    before = hashes()
    r = _verify_cli(db)
    assert r.exit_code == 0, r.output
    assert "verified 4 originals and 3 derived files: 0 changed, 0 missing" in r.output
    assert hashes() == before
    wal = Path(str(db) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_one_byte_change_in_an_original_is_reported_with_exit_1(tmp_path):
    folder, db = _processed(tmp_path)
    victim = folder / "1.wav"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    r = _verify_cli(db)
    assert r.exit_code == 1
    assert f"CHANGED  original: {victim}" in r.output and "1 changed, 0 missing" in r.output
    report = verify(db)
    assert [(p.kind, p.path) for p in report.problems] == [("changed", str(victim))]
    assert report.problems[0].found == sha256_of(victim)


def test_one_byte_change_in_derived_audio_and_a_missing_original(tmp_path):
    folder, db = _processed(tmp_path)
    c = sqlite3.connect(db)
    wav = Path(c.execute("select path from derived_files order by path limit 1").fetchone()[0])
    c.close()
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    (folder / "0.wav").unlink()
    report = verify(db)
    assert sorted((p.kind, p.what, p.path) for p in report.problems) == [
        ("changed", "normalised audio", str(wav)), ("missing", "original", str(folder / "0.wav"))]
    r = _verify_cli(db)
    assert r.exit_code == 1 and "MISSING  original" in r.output and "CHANGED  normalised audio" in r.output


def test_derived_files_from_other_stages_are_verified_too(tmp_path):
    """The clip player (or an export) registers what it makes; verify then covers it."""
    folder, db = _processed(tmp_path)
    clip = tmp_path / "clips" / "c.mp3"
    clip.parent.mkdir()
    clip.write_bytes(b"ID3 pretend clip")
    s = Store(db)
    sha = s.conn.execute("select id from recordings where status = 'done' limit 1").fetchone()[0]
    s.add_derived(sha, "clip", str(clip), sha256_of(clip), clip.stat().st_size)
    s.close()
    assert verify(db).ok
    clip.write_bytes(b"ID3 pretend clip!")
    assert [(p.kind, p.what) for p in verify(db).problems] == [("changed", "clip")]


def test_missing_database_is_a_clear_error(tmp_path):
    r = _verify_cli(tmp_path / "none.db")
    assert r.exit_code == 1 and "database not found" in r.output
