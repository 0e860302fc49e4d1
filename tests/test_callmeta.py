"""The recorder-name table (tests/data/recorder_names.csv): one test per real or
documented name, each with its source; and the schemes file itself."""

import csv
from pathlib import Path

import pytest

from pipeline.calls.callmeta import (
    CallMeta,
    best_reading,
    from_container_tag,
    load_schemes,
    parse_filename,
)

TABLE = Path(__file__).parent / "data" / "recorder_names.csv"
ROWS = list(csv.DictReader(TABLE.open(encoding="utf-8")))


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['scheme']}:{r['name']}" for r in ROWS])
def test_recorder_name_table(row):
    assert row["source"].strip(), "every row says where the name came from"
    meta = parse_filename(row["name"])
    got = (meta.phone_number or "", meta.call_time or "", meta.direction, meta.contact or "")
    assert got == (row["number"], row["time"], row["direction"], row["contact"])
    if row["number"] or row["time"]:
        assert meta.scheme == row["scheme"]
        assert meta.time_source == ("file name" if row["time"] else "none")


def test_every_scheme_has_a_source_an_example_and_table_rows():
    schemes = load_schemes()
    tabled = {r["scheme"] for r in ROWS}
    for s in schemes:
        assert s.source and s.example.get("name"), s.id
        assert s.id in tabled, f"{s.id} has no row in {TABLE.name}"
        meta = parse_filename(s.example["name"])
        assert (meta.phone_number, meta.call_time, meta.contact) == (
            s.example.get("number"), s.example.get("time"), s.example.get("contact"))
        if s.patterns:
            assert meta.scheme == s.id  # no scheme is shadowed by an earlier one
    wanted = {"miui", "huawei_honor", "oppo_coloros", "vivo", "samsung", "google_phone",
              "lineage_aosp", "grapheneos", "bcr", "cube_acr", "acr_phone", "true_phone",
              "truecaller", "iphone_notes"}
    assert wanted <= {s.id for s in schemes}


@pytest.mark.parametrize("name", ["zh_neutral_reminder.mp3", "voice 001.m4a",
                                  "13812345678_20261399223015.amr", ""])
def test_unparseable_or_invalid_dates_give_nothing(name):
    meta = parse_filename(name)
    assert meta.phone_number is None and meta.call_time is None


def test_the_number_is_kept_as_written_beside_its_canonical_form():
    meta = parse_filename("008613900002222_20261015230000.mp3")
    assert (meta.phone_number, meta.number_as_written, meta.number_placed) == (
        "+8613900002222", "008613900002222", True)
    short = parse_filename("Call recording 95555_261015_091500.m4a")
    assert (short.phone_number, short.number_placed) == ("95555", False)


def test_best_reading_takes_the_name_that_tells_most():
    meta = best_reading(["A_backup/录音 (1).mp3", "通话录音@张经理(13900001111)_20261015091500.mp3",
                         "Recording_20261015_091500.mp3"])
    assert (meta.phone_number, meta.contact) == ("+8613900001111", "张经理")


def test_container_tag_dates_a_name_without_time_and_says_so():
    meta = from_container_tag(parse_filename("New Recording 3.m4a"), "2026-10-15T15:00:00.000000Z")
    assert (meta.call_time, meta.time_source) == ("2026-10-15T15:00:00+00:00", "container tag")
    named = from_container_tag(parse_filename("13900001111_20261015091500.m4a"),
                               "2026-10-15T15:00:00Z")
    assert (named.call_time, named.time_source) == ("2026-10-15T09:15:00", "file name")
    assert from_container_tag(CallMeta(), "1970-01-01T00:00:00Z").time_source == "none"


def test_a_scheme_is_data(tmp_path):
    f = tmp_path / "recorders.yaml"
    f.write_text("parts: {num: '(?P<number>\\d+)'}\nschemes:\n"
                 "  - {id: x, source: here, patterns: ['X{num}-(?P<direction>I|O)'],"
                 " directions: {I: incoming, O: outgoing}}\n", encoding="utf-8")
    meta = parse_filename("X13900001111-O.m4a", load_schemes(f))
    assert (meta.phone_number, meta.direction, meta.scheme) == ("+8613900001111", "outgoing", "x")
    f.write_text("schemes:\n  - {id: y, patterns: ['a']}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no source"):
        load_schemes(f)
