from datetime import datetime, timedelta, timezone

import pytest

from pipeline.calls.callpattern import Call, analyse, is_night, load_call_rules, local_time

CN = load_call_rules("CN")
US = load_call_rules("US")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def rule_ids(findings):
    return sorted(f.rule_id for f in findings)


@pytest.mark.parametrize("clock, night", [("21:59:59", False), ("22:00:00", True), ("03:00", True),
                                          ("07:59:59", True), ("08:00", False)])
def test_cn_night_window_edges(clock, night):
    assert is_night(at(f"2026-11-02T{clock}").replace(tzinfo=None), CN) is night


@pytest.mark.parametrize("clock, night", [("21:00:00", False), ("21:00:01", True), ("07:59", True),
                                          ("08:00", False)])
def test_us_night_window_is_after_nine_and_before_eight(clock, night):
    assert is_night(at(f"2026-11-02T{clock}"), US) is night


def test_night_call_finding_names_the_time():
    (f,) = analyse([Call("138", at("2026-11-02T22:30:15"), ref="r1")], CN)
    assert f.category == "night_call" and f.rule_id == "CN_NIGHT_22_08"
    assert f.refs == ["r1"] and "22:30" in f.detail and f.note.startswith("possible violation")
    assert any(c["id"] == "GBT45251" for c in f.citations)


def test_timezone_epoch_in_utc_becomes_shanghai_time():
    utc = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)  # 23:00 in Shanghai
    assert local_time(utc, CN).hour == 23
    assert [f.category for f in analyse([Call("138", utc)], CN)] == ["night_call"]
    # the same instant is 10:00 in New York: not night under US rules
    assert analyse([Call("138", utc)], US) == []


def _calls(n, number="138", connected=True, start="2026-11-03T09:00", step=timedelta(minutes=30)):
    t = at(start)
    return [Call(number, t + i * step, connected=connected, ref=f"c{i}") for i in range(n)]


def test_cn_three_connected_calls_a_day_is_the_cap():
    assert analyse(_calls(3), CN) == []
    found = analyse(_calls(4), CN)
    assert rule_ids(found) == ["CN_MAX3_CONNECTED_PER_DAY"] and found[0].count == 4


def test_cn_connected_cap_counts_all_numbers_together():
    calls = _calls(2, "138") + _calls(2, "139", start="2026-11-03T14:00")
    assert "CN_MAX3_CONNECTED_PER_DAY" in rule_ids(analyse(calls, CN))


def test_cn_six_unanswered_attempts_per_number():
    assert analyse(_calls(6, connected=False), CN) == []
    found = analyse(_calls(7, connected=False), CN)
    assert rule_ids(found) == ["CN_MAX6_UNANSWERED_PER_DAY"] and found[0].phone_number == "138"


def test_number_rotation_at_three_numbers():
    two = [Call("1", at("2026-11-03T09:00")), Call("2", at("2026-11-03T10:00"))]
    assert analyse(two, CN) == []
    three = two + [Call("3", at("2026-11-03T11:00"))]
    assert rule_ids(analyse(three, CN)) == ["CN_NUMBER_ROTATION"]


def test_regf_seven_in_seven_at_and_past_threshold():
    seven = _calls(7, connected=False, start="2026-11-01T10:00", step=timedelta(days=1))
    assert analyse(seven, US) == []
    eight = _calls(8, connected=False, start="2026-11-01T10:00", step=timedelta(hours=20))
    found = [f for f in analyse(eight, US) if f.rule_id == "US_REGF_7IN7"]
    assert len(found) == 1 and found[0].count == 8


def test_regf_call_within_seven_days_after_a_conversation():
    conv = Call("1", at("2026-11-01T10:00"), connected=True)
    later = Call("1", at("2026-11-08T09:00"), connected=False)  # day 8 counting day 1 = inside
    far = Call("1", at("2026-11-08T11:00"), connected=False)
    assert "US_REGF_7DAY_AFTER_CONV" in rule_ids(analyse([conv, later], US))
    assert "US_REGF_7DAY_AFTER_CONV" not in rule_ids(analyse([conv, far], US))


def test_contact_after_stop_request_from_the_same_number():
    stop = Call("138", at("2026-11-01T10:00"), stop_request=True, ref="a")
    same_day = Call("138", at("2026-11-01T15:00"), ref="b")
    next_day = Call("138", at("2026-11-02T10:00"), ref="c")
    other = Call("139", at("2026-11-03T10:00"), ref="d")
    assert "CN_CONTACT_AFTER_STOP" not in rule_ids(analyse([stop, same_day, other], CN))
    found = [f for f in analyse([stop, same_day, next_day], CN) if f.category == "after_stop"]
    assert len(found) == 1 and found[0].refs == ["a", "c"]


def test_outgoing_calls_do_not_count():
    calls = [Call("138", at("2026-11-02T23:00"), incoming=False)]
    assert analyse(calls, CN) == []


def test_thresholds_are_data(tmp_path):
    import shutil
    from importlib import resources
    from pathlib import Path

    data = Path(str(resources.files("pipeline") / "data"))
    shutil.copytree(data, tmp_path / "data")
    f = tmp_path / "data" / "call_rules.yaml"
    f.write_text(f.read_text().replace("max_connected_per_day: 3", "max_connected_per_day: 1"))
    strict = load_call_rules("CN", f)
    assert rule_ids(analyse(_calls(2), strict)) == ["CN_MAX1_CONNECTED_PER_DAY"]


def test_unknown_jurisdiction_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown jurisdiction"):
        load_call_rules("XX")


# ------------------------------------------------------------------ call-log CSV
from pipeline.calls.calllog import CallLogError, read_call_log  # noqa: E402


def test_android_style_log_with_epoch_ms_and_types(tmp_path):
    log = tmp_path / "calls.csv"
    # 1793628000000 ms = 2026-11-02T14:00:00Z = 22:00 in Shanghai
    log.write_text("number,date,duration,type\n"
                   "13812345678,1793628000000,35,1\n"
                   "13812345678,1793628060000,0,3\n"
                   "10086,1793628120000,20,2\n", encoding="utf-8")
    calls = read_call_log(log)
    assert [(c.connected, c.incoming) for c in calls] == [(True, True), (False, True), (True, False)]
    found = analyse(calls, CN)
    assert sorted(f.category for f in found) == ["night_call", "night_call"]


def test_chinese_headers_and_local_times(tmp_path):
    log = tmp_path / "通话记录.csv"
    log.write_text("号码,通话时间,通话时长,类型\n13900000000,2026-11-03 09:00:00,0,未接\n"
                   "13900000000,2026/11/03 07:30:00,60,已接来电\n", encoding="utf-8")
    calls = read_call_log(log)
    assert [c.connected for c in calls] == [False, True]
    assert [f.category for f in analyse(calls, CN)] == ["night_call"]


def test_bad_call_log_names_the_line(tmp_path):
    log = tmp_path / "c.csv"
    log.write_text("number,date\n138,yesterday\n")
    with pytest.raises(CallLogError, match="line 2"):
        read_call_log(log)
    log.write_text("foo,bar\n1,2\n")
    with pytest.raises(CallLogError, match="number and a date column"):
        read_call_log(log)


# ------------------------------------------------------------------ issue 23: who and which way
def _db_with_calls(tmp_path, names, log_rows=""):
    """A real database holding done recordings named as recorders name them (and an
    optional call log), then the call-pattern analysis a run ends with."""
    from pipeline.calls import callstore, ingest
    from pipeline.flow import analyse_calls
    from pipeline.store import Store

    store = Store(tmp_path / "evidence.db")
    for i, name in enumerate(names):
        meta = ingest.parse_filename(name)
        store.conn.execute(
            "insert into recordings (id, path, file_name, status, phone_number, call_time, direction,"
            " contact, number_as_written, time_source) values (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)",
            [f"{i:064d}", name, name, *meta.columns().values()])
    store.conn.commit()
    log = None
    if log_rows:
        log = tmp_path / "log.csv"
        log.write_text("number,date,duration,type\n" + log_rows, encoding="utf-8")
    analyse_calls(store, "CN", None, log)
    callstore.ensure_tables(store)
    return store


def test_three_spellings_are_one_number_in_every_table_and_no_rotation(tmp_path):
    store = _db_with_calls(tmp_path, ["+8613900002222_20261015100000.m4a",
                                      "13900002222_20261015110000.m4a"],
                           "008613900002222,2026-10-15 12:00:00,30,incoming\n")
    numbers = {r[0] for r in store.conn.execute(
        "select phone_number from recordings union select phone_number from call_log"
        " union select phone_number from pattern_findings where phone_number is not null")}
    assert numbers == {"+8613900002222"}
    rules = [r[0] for r in store.conn.execute("select rule_id from pattern_findings")]
    assert "CN_NUMBER_ROTATION" not in rules
    written = {r[0] for r in store.conn.execute("select number_as_written from recordings")}
    assert written == {"+8613900002222", "13900002222"}


def test_outgoing_call_at_23_raises_no_night_call(tmp_path):
    """BCR's _out_: the borrower dialled at 23:00; the same call incoming is a night call."""
    out = _db_with_calls(tmp_path, ["20261015_230000.000+0800_out_13900002222.m4a"])
    assert out.conn.execute("select direction from recordings").fetchone()[0] == "outgoing"
    assert not out.conn.execute("select * from pattern_findings where category = 'night_call'"
                                ).fetchall()
    (tmp_path / "in").mkdir()
    inc = _db_with_calls(tmp_path / "in", ["20261015_230000.000+0800_in_13900002222.m4a"])
    assert [r[0] for r in inc.conn.execute("select rule_id from pattern_findings")] == [
        "CN_NIGHT_22_08"]


def test_outgoing_calls_in_the_call_log_do_not_count(tmp_path):
    store = _db_with_calls(tmp_path, [], "13900002222,2026-10-15 23:00:00,60,outgoing\n"
                                         "13900003333,2026-10-15 23:10:00,60,outgoing\n"
                                         "13900004444,2026-10-15 23:20:00,60,outgoing\n")
    assert not store.conn.execute("select * from pattern_findings").fetchall()
