import sqlite3

import pytest

from pipeline.store import SCHEMA_VERSION, FindingRow, SegmentRow, Store
from pipeline.textnorm import search_query


def _rec(sha="a" * 64):
    return {"id": sha, "path": "/x/13812345678_20261102223015.amr", "file_name": "x.amr",
            "size": 3, "mtime": "2026-11-02T00:00:00+00:00"}


def _segments():
    return [
        SegmentRow(0, 0.0, 2.0, "你这个老赖真不要脸", words=[(0.0, 1.0, "你这个", 0.9),
                                                        (1.0, 2.0, "老赖真不要脸", 0.8)]),
        SegmentRow(1, 2.5, 4.0, "we will call your employer"),
    ]


def _finding(idx=0):
    return FindingRow(idx, "ZH_INSULT_LEXICON", "insult", "high", "老赖", "你这个老赖", 1.0, 2.0,
                      0.8, None, [{"jurisdiction": "CN"}], "possible violation — for human review")


def test_schema_wal_and_foreign_keys(tmp_path):
    s = Store(tmp_path / "e.db")
    assert s.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = set(s.db.table_names())
    assert {"recordings", "segments", "words", "findings", "runs", "segments_fts"} <= tables
    fks = {fk.other_table for fk in s.db["findings"].foreign_keys}
    assert {"recordings", "segments", "runs"} <= fks


def test_save_and_search_two_character_chinese_word(tmp_path):
    s = Store(tmp_path / "e.db")
    run = s.start_run(engine="test", settings={"a": 1})
    s.save_recording(_rec(), _segments(), [_finding()], run)
    hits = s.conn.execute("select rowid from segments_fts where segments_fts match ?",
                          [search_query("老赖")]).fetchall()
    assert len(hits) == 1
    assert s.conn.execute("select rowid from segments_fts where segments_fts match ?",
                          [search_query("employer")]).fetchall()
    assert not s.conn.execute("select rowid from segments_fts where segments_fts match ?",
                              [search_query("赖真要")]).fetchall()
    assert s.conn.execute("select count(*) from words").fetchone()[0] == 2
    f = s.conn.execute("select segment_id, review_status from findings").fetchone()
    assert f[0] is not None and f[1] == "unreviewed"


def test_resave_replaces_without_duplicates(tmp_path):
    s = Store(tmp_path / "e.db")
    for _ in range(2):
        s.save_recording(_rec(), _segments(), [_finding()], None)
    counts = [s.conn.execute(f"select count(*) from {t}").fetchone()[0]
              for t in ("recordings", "segments", "words", "findings")]
    assert counts == [1, 2, 2, 1]
    assert s.conn.execute("select count(*) from segments_fts where segments_fts match ?",
                          [search_query("老赖")]).fetchone()[0] == 1


def test_failed_write_leaves_nothing_half_done(tmp_path):
    s = Store(tmp_path / "e.db")
    bad = _finding(idx=0)
    bad.citations = object()  # not JSON-serialisable: fails after segments were inserted
    with pytest.raises(TypeError):
        s.save_recording(_rec(), _segments(), [bad], None)
    for t in ("recordings", "segments", "words", "findings"):
        assert s.conn.execute(f"select count(*) from {t}").fetchone()[0] == 0, t


def test_failure_is_recorded_with_error(tmp_path):
    s = Store(tmp_path / "e.db")
    s.save_failure(_rec(), "empty file (0 bytes)")
    assert s.status_of("a" * 64) == "failed"
    row = s.conn.execute("select error from recordings").fetchone()
    assert row[0] == "empty file (0 bytes)"


def test_replace_findings_keeps_transcript(tmp_path):
    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), [_finding()], None)
    s.replace_findings("a" * 64, [], None)
    assert s.conn.execute("select count(*) from findings").fetchone()[0] == 0
    assert len(s.load_segments("a" * 64)) == 2


def test_not_a_database_gives_clear_error(tmp_path):
    p = tmp_path / "e.db"
    p.write_bytes(b"this is not sqlite" * 100)
    from pipeline.store import StoreError

    with pytest.raises(StoreError, match="cannot open database"):
        Store(p)
    assert sqlite3.sqlite_version


def _two_findings():
    return [_finding(0), FindingRow(1, "EN_THIRD_PARTY", "third_party", "high", "call your employer",
                                    "we will call your employer", 2.9, 4.0, 0.9, None, [], "n")]


def test_review_verdict_survives_a_rebuild_of_the_findings(tmp_path):
    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), _two_findings(), None)
    ids = dict(s.conn.execute("select category, id from findings"))
    assert s.set_review([ids["insult"]], "dismissed", note="misheard") == 1
    # A re-run rebuilds every finding (new ids, times shifted by a re-transcription).
    moved = _two_findings()
    moved[0].start, moved[0].end = 1.6, 2.4
    s.save_recording(_rec(), _segments(), moved, None)
    status = dict(s.conn.execute("select category, review_status from findings"))
    assert status == {"insult": "dismissed", "third_party": "unreviewed"}
    # Re-detection (replace_findings) keeps it too; the note stays with the verdict.
    s.replace_findings("a" * 64, moved, None)
    assert dict(s.conn.execute("select category, review_status from findings"))["insult"] == "dismissed"
    assert s.conn.execute("select note from finding_reviews").fetchone()[0] == "misheard"


def test_review_does_not_follow_a_finding_that_moved_far_or_spill_to_neighbours(tmp_path):
    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), _two_findings(), None)
    fid = s.conn.execute("select id from findings where category = 'insult'").fetchone()[0]
    s.set_review([fid], "confirmed")
    far = _two_findings()
    far[0].start = 9.0  # another utterance now: the verdict is not carried to it
    s.save_recording(_rec(), _segments(), far, None)
    assert set(r[0] for r in s.conn.execute("select review_status from findings")) == {"unreviewed"}
    s.save_recording(_rec(), _segments(), _two_findings(), None)  # the finding comes back
    assert s.conn.execute("select review_status from findings where category = 'insult'"
                          ).fetchone()[0] == "confirmed"
    # Two findings of one rule close together: one verdict applies to one of them only.
    twins = [_finding(0), _finding(0)]
    twins[1].start = 1.5
    s.save_recording(_rec(), _segments(), twins, None)
    assert sorted(r[0] for r in s.conn.execute("select review_status from findings")) == [
        "confirmed", "unreviewed"]


def test_review_reset_and_bad_input(tmp_path):
    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), _two_findings(), None)
    fid = s.conn.execute("select min(id) from findings").fetchone()[0]
    s.set_review([fid], "dismissed")
    s.set_review([fid], "unreviewed")  # a reset is one more entry of the history
    assert s.conn.execute("select status from finding_reviews order by id").fetchall() == [
        ("dismissed",), ("unreviewed",)]
    assert s.conn.execute("select review_status from findings where id = ?", [fid]).fetchone()[0] == (
        "unreviewed")
    with pytest.raises(ValueError, match="no finding with id 999"):
        s.set_review([999], "dismissed")
    with pytest.raises(ValueError, match="review status"):
        s.set_review([fid], "deleted")


def test_review_records_who_why_and_refuses_a_stale_verdict(tmp_path):
    from pipeline.store import REVIEW_NOTE_MAX, ReviewConflict

    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), _two_findings(), None)
    fid = s.conn.execute("select id from findings where category = 'insult'").fetchone()[0]
    s.set_review([fid], "dismissed", " I said it\x1b[31m ", reviewed_by="ana (command line)",
                 reason="own_words", expect="unreviewed")
    row = s.conn.execute("select status, note, reviewed_by, reason from finding_reviews").fetchone()
    assert row == ("dismissed", "These are my own words / 这是我说的 — I said it[31m",
                   "ana (command line)", "own_words")
    # the page said "unreviewed", but it is dismissed now: nothing is written
    with pytest.raises(ReviewConflict, match="now dismissed"):
        s.set_review([fid], "confirmed", expect="unreviewed")
    assert s.conn.execute("select status from finding_reviews").fetchall() == [("dismissed",)]
    with pytest.raises(ValueError, match="at most"):
        s.set_review([fid], "confirmed", "x" * (REVIEW_NOTE_MAX + 1))
    with pytest.raises(ValueError, match="only goes with a dismissal"):
        s.set_review([fid], "confirmed", reason="own_words")
    with pytest.raises(ValueError, match="unknown reason"):
        s.set_review([fid], "dismissed", reason="bored")
    assert s.conn.execute("select status, note from finding_reviews").fetchall() == [
        ("dismissed", "These are my own words / 这是我说的 — I said it[31m")]


def test_schema_3_reviews_gain_who_and_why(tmp_path):
    """A version-3 database (finding_reviews without reviewed_by and reason) is migrated on open."""
    p = tmp_path / "v3.db"
    c = sqlite3.connect(p)
    c.execute("create table finding_reviews (id integer primary key, recording_id text, rule_id text,"
              " category text, start float, end float, quote text, status text, note text,"
              " reviewed_at text)")
    c.execute("insert into finding_reviews (recording_id, rule_id, category, start, status, note)"
              " values ('x', 'R', 'insult', 1.0, 'dismissed', 'kept')")
    c.execute("pragma user_version = 3")
    c.commit()
    c.close()
    s = Store(p)
    assert s.conn.execute("pragma user_version").fetchone()[0] == SCHEMA_VERSION
    assert s.conn.execute("select note, reviewed_by, reason from finding_reviews").fetchall() == [
        ("kept", None, None)]


def test_schema_6_migrates_numbers_and_adds_who_and_which_way(tmp_path):
    """A database made before schema 6: its numbers become canonical (the written form
    kept), direction is unknown, and the time source says where the time came from."""

    db = tmp_path / "old.db"
    c = sqlite3.connect(db)
    c.execute("create table recordings (id text primary key, path text, file_name text, size int,"
              " mtime text, phone_number text, call_time text, status text, note text)")
    c.executemany("insert into recordings (id, phone_number, call_time, status) values (?, ?, ?, 'done')",
                  [("a", "008613900002222", "2026-10-15T10:00:00"), ("b", "95555", None),
                   ("c", None, None)])
    c.execute("PRAGMA user_version=5")
    c.commit()
    c.close()
    store = Store(db)
    rows = store.conn.execute("select id, phone_number, number_as_written, direction, time_source"
                              " from recordings order by id").fetchall()
    assert rows == [("a", "+8613900002222", "008613900002222", "unknown", "file name"),
                    ("b", "95555", "95555", "unknown", "none"), ("c", None, None, "unknown", "none")]
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    again = Store(db)  # opening twice changes nothing
    assert again.conn.execute("select phone_number, number_as_written from recordings where id = 'a'"
                              ).fetchone() == ("+8613900002222", "008613900002222")


def test_verdicts_are_an_append_only_history_whose_newest_entry_counts(tmp_path):
    """Every verdict and every reset is kept (issue 24); the newest counts, also after a
    re-run rebuilds the findings, and an older entry never spills to a neighbour."""
    s = Store(tmp_path / "e.db")
    s.save_recording(_rec(), _segments(), _two_findings(), None)
    ids = dict(s.conn.execute("select category, id from findings"))
    steps = [("dismissed", "first listen"), ("confirmed", "second listen"), ("unreviewed", None),
             ("confirmed", "third listen")]
    for status, note in steps:
        s.set_review([ids["insult"]], status, note)
        assert s.conn.execute("select review_status from findings where id = ?",
                              [ids["insult"]]).fetchone()[0] == status
    history = s.conn.execute("select status, note from finding_reviews order by id").fetchall()
    assert history == steps
    s.save_recording(_rec(), _segments(), _two_findings(), None)  # a re-run: new ids
    status = dict(s.conn.execute("select category, review_status from findings"))
    assert status == {"insult": "confirmed", "third_party": "unreviewed"}
    fid = s.conn.execute("select id from findings where category = 'insult'").fetchone()[0]
    assert s.review_matches("a" * 64)[1][fid]["note"] == "third listen"
    s.set_review([fid], "unreviewed")
    s.replace_findings("a" * 64, _two_findings(), None)
    assert {r[0] for r in s.conn.execute("select review_status from findings")} == {"unreviewed"}
    assert s.conn.execute("select count(*) from finding_reviews").fetchone()[0] == 5
