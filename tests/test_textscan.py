from pipeline.detect import Detector
from pipeline.textscan import read_messages, scan


def test_one_message_per_line():
    msgs = read_messages("今天不还就爆你通讯录\n\n您的账单已出，请按时还款\n")
    assert [m.ref for m in msgs] == ["line 1", "line 3"]
    found = scan(msgs, Detector())
    assert [f["category"] for f in found] == ["third_party"] and found[0]["source"] == "line 1"
    assert found[0]["note"].startswith("possible violation")


def test_sms_csv_export_with_chinese_headers_and_epoch_dates():
    text = ("号码,时间,内容\n"
            "10690000,1793628000000,外访人员已上门，请保持有人在家\n"
            "95555,2026-11-03 10:00,您的信用卡账单已出\n")
    msgs = read_messages(text)
    assert msgs[0].number == "10690000" and msgs[0].sent_at.startswith("2026-11-02T14:00")
    found = scan(msgs, Detector())
    assert {(f["category"], f["number"]) for f in found} == {("visit_shaming", "10690000")}
    assert found[0]["start"] == msgs[0].sent_at


def test_plain_text_with_commas_is_still_lines():
    msgs = read_messages("你好，我们明天上门\n")
    assert len(msgs) == 1 and msgs[0].text == "你好，我们明天上门"
