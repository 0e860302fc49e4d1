import pytest

from pipeline.callmeta import parse_filename


@pytest.mark.parametrize(
    "name, phone, when",
    [
        ("13812345678_20261102223015.amr", "13812345678", "2026-11-02T22:30:15"),
        ("通话录音_15012345678_20261104_230510.ogg", "15012345678", "2026-11-04T23:05:10"),
        ("Call recording 13912345678_261103_091500.m4a", "13912345678", "2026-11-03T09:15:00"),
        ("+14155550123_2026-11-05_07-45-00.3gp", "+14155550123", "2026-11-05T07:45:00"),
        ("张三(13812345678)_20261102223015.mp3", "13812345678", "2026-11-02T22:30:15"),
        ("录音 2026-11-02 22:30:15 13812345678.m4a", "13812345678", "2026-11-02T22:30:15"),
    ],
)
def test_recorder_styles(name, phone, when):
    meta = parse_filename(name)
    assert (meta.phone_number, meta.call_time) == (phone, when)


@pytest.mark.parametrize("name", ["zh_neutral_reminder.mp3", "voice 001.m4a",
                                  "13812345678_20261399223015.amr", ""])
def test_unparseable_or_invalid_dates_give_nothing(name):
    meta = parse_filename(name)
    assert meta.phone_number is None and meta.call_time is None
