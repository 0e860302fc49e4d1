"""The index half of ``bench.py``: a large synthetic evidence database, queried through Datasette.

The database has the real schema (``pipeline.store.Store``) and mixed Mandarin and
English collection-call text; full-text search, the findings page and a canned query
are timed with Datasette's test client (first request, then median and maximum).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# Word banks for realistic transcripts: Mandarin and English collection-call talk, split
# into words as Whisper splits them (punctuation stays on the word before it).  A line
# starting with "!" is abusive; calls are mostly routine, so those are drawn less often.
ZH_SENTENCES = """
你好 ， 我 是 信用 贷款 平台 的 催收 专员 。
你 的 借款 已经 逾期 三十 天 了 。
!今天 再 不 还钱 ， 我们 明天 就 上门 找 你 。
!我们 还会 打电话 告诉 你的 家人 和 单位 领导 。
!你 这个 老赖 ， 真 不要脸 。
!欠钱 不还 ， 你 就 等着 坐牢 吧 。
!我们 已经 报警 了 ， 警察 马上 去 抓 你 。
!再 不 还 ， 就 爆 你 通讯录 ， 让 你 所有 朋友 都 知道 。
您好 ， 提醒 您 本期 账单 将 于 本周五 到期 。
如 有 困难 可以 申请 延期 还款 ， 祝 您 生活 愉快 。
我 现在 确实 没 钱 ， 下个月 发 工资 再 还 可以 吗 ？
你 别 再 给 我 妈 打电话 了 ， 她 身体 不好 。
请问 你 是 哪个 公司 的 ？ 工号 是 多少 ？
!我们 法务部 已经 准备 起诉 ， 律师函 明天 寄 到 你 单位 。
!你 不 还钱 ， 我们 就 去 你 老家 找 你 父母 。
最低 还款 金额 是 三千 五百 元 ， 今天 之内 必须 到账 。
你 的 征信 可能 会 受到 影响 ， 请 尽快 处理 。
我 可以 先 还 一部分 ， 剩下 的 分期 还 行 不行 ？
这个 电话 我 在 录音 ， 请 你 说话 注意 一点 。
你 再 不 接 电话 ， 我们 就 联系 你 的 紧急 联系人 。
!你 同事 都 知道 你 欠钱 不还 了 。
三天 之内 不 处理 ， 后果 自负 。
!我们 会 派 人 到 你 公司 门口 等 你 。
!你 这种 人 活着 有 什么 用 ？
好 的 ， 我 知道 了 ， 我 明天 去 银行 转账 。
嗯 ， 对 ， 是 我 本人 。
喂 ？ 喂 ， 听 得 到 吗 ？
我们 是 第三方 委托 机构 ， 受 平台 委托 催收 。
!你 的 案件 已经 移交 法院 ， 马上 就会 强制 执行 。
利息 和 罚息 加 起来 一共 是 八千 二百 元 。
还款 账号 我 一会儿 用 短信 发 给 你 。
你 上次 说 十五号 还 ， 到 今天 也 没 还 。
我们 这边 可以 帮 你 申请 减免 一部分 罚息 。
你 现在 方便 说话 吗 ？ 我 是 平台 客服 。
""".strip().splitlines()

EN_SENTENCES = """
hello, this is a reminder about your overdue loan payment.
your account is now thirty days past due.
!if you do not pay today, we will call your employer.
!we know where you live and we will send someone to your house.
!you will be arrested if you do not pay by friday.
i can pay half now and the rest next month.
please stop calling my mother, she has nothing to do with this.
can you tell me the name of your company and your license number?
this call is being recorded for my records.
the minimum payment is two hundred and fifty dollars.
!we will report this to the credit bureau tomorrow.
!our legal department is preparing a lawsuit against you.
!you are a deadbeat and everyone will know it.
i lost my job last month and i need more time.
we can set up a payment plan if you call us back.
!your neighbors and coworkers will hear about this debt.
is this a good time to talk?
the payment was due on the fifteenth of this month.
""".strip().splitlines()

COMMON_ZH = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出会也时要就可以对生能而那得于着下"
    "自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些"
    "主样理心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外"
    "将两高间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表"
    "化老给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打"
)

FINDING_TRIGGERS = {
    "老赖": ("insult_zh", "insult", "medium"),
    "不要脸": ("insult_zh", "insult", "medium"),
    "坐牢": ("false_legal_zh", "false_legal", "high"),
    "报警": ("false_legal_zh", "false_legal", "high"),
    "上门": ("visit_zh", "visit_shaming", "high"),
    "家人": ("third_party_zh", "third_party", "high"),
    "通讯录": ("contacts_zh", "third_party", "high"),
    "employer": ("third_party_en", "third_party", "high"),
    "arrested": ("false_legal_en", "false_legal", "high"),
    "deadbeat": ("insult_en", "insult", "medium"),
}


def _bank(lines: list[str], zh: bool) -> tuple[list[list[str]], list[list[str]]]:
    """(routine, abusive) sentences as Whisper word lists."""
    routine, abusive = [], []
    for line in lines:
        bad = line.startswith("!")
        words: list[str] = []
        for tok in line.lstrip("!").split():
            if words and not any(ch.isalnum() for ch in tok):
                words[-1] += tok  # punctuation belongs to the word before it
            else:
                words.append(tok if zh else " " + tok)
        (abusive if bad else routine).append(words)
    return routine, abusive


class TextGen:
    """A call's stream of Whisper-style words; segments are cut from it every n words."""

    def __init__(self, rng: random.Random, abusive_share: float = 0.12):
        self.rng = rng
        self.abusive_share = abusive_share
        self.zh = _bank(ZH_SENTENCES, zh=True)
        self.en = _bank(EN_SENTENCES, zh=False)

    def _sentence(self, lang: str) -> list[str]:
        r = self.rng
        routine, abusive = self.zh if lang == "zh" else self.en
        words = list(r.choice(abusive if r.random() < self.abusive_share else routine))
        if lang == "zh" and r.random() < 0.4:  # less predictable vocabulary, as in real speech
            for _ in range(r.randint(1, 4)):
                words.insert(r.randrange(len(words)), r.choice(COMMON_ZH) + r.choice(COMMON_ZH))
        if lang == "zh" and r.random() < 0.1:
            words.insert(r.randrange(len(words)), f" {r.randint(100, 99999)} ")
        return words

    def call(self, n_words: int) -> tuple[list[str], str]:
        """``n_words`` words of one call: Mandarin, English, or Mandarin with English turns."""
        r = self.rng
        kind = r.random()
        lang = "zh" if kind < 0.7 else "en" if kind < 0.9 else "mixed"
        words: list[str] = []
        while len(words) < n_words:
            if lang == "mixed":
                words += self._sentence("en" if r.random() < 0.3 else "zh")
            else:
                words += self._sentence(lang)
        return words[:n_words], "en" if lang == "en" else "zh"


def build_index_db(path: Path, n_segments: int, words_per_segment: int = 10,
                   segments_per_recording: int = 200, seed: int = 7) -> dict:
    """A database with the real schema (``Store``) holding synthetic, realistic rows."""
    import hashlib

    from pipeline.store import Store
    from pipeline.textnorm import search_index_text

    rng = random.Random(seed)
    gen = TextGen(rng)
    store = Store(path)
    conn = store.conn
    phones = [f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}" for _ in range(60)]
    n_rec = max(1, -(-n_segments // segments_per_recording))
    seg_id = word_id = n_findings = 0
    t0 = time.perf_counter()
    with conn:  # one transaction; rows go in one recording at a time to keep memory flat
        conn.execute("insert into runs (id, started_at, finished_at, status, tool_version, engine,"
                     " model, settings, processed) values"
                     " (1, ?, ?, 'finished', 'bench', 'faster-whisper', 'base', '{}', ?)",
                     ["2026-12-01T00:00:00", "2026-12-01T01:00:00", n_rec])
        for r in range(n_rec):
            sha = hashlib.sha256(f"bench-recording-{r}".encode()).hexdigest()
            phone = rng.choice(phones)
            day = datetime(2026, 9, 1, tzinfo=timezone.utc).timestamp() + rng.randint(0, 90 * 86400)
            call_time = datetime.fromtimestamp(day, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            count = min(segments_per_recording, n_segments - seg_id)
            stream, lang = gen.call(count * words_per_segment)
            seg_rows, word_rows, finding_rows = [], [], []
            t = rng.uniform(0.5, 2.0)
            for i in range(count):
                seg_id += 1
                words = stream[i * words_per_segment : (i + 1) * words_per_segment]
                text = "".join(words).strip()
                step = 0.32 if lang == "zh" else 0.38  # seconds per word
                start, end = t, t + step * len(words)
                seg_rows.append((seg_id, sha, i, round(start, 3), round(end, 3), text,
                                 search_index_text(text), None, None,
                                 round(rng.uniform(-0.6, -0.1), 3), round(rng.uniform(0, 0.2), 3),
                                 round(rng.uniform(1.0, 2.2), 3)))
                for j, w in enumerate(words):
                    word_id += 1
                    word_rows.append((word_id, seg_id, sha, j, round(start + j * step, 3),
                                      round(start + (j + 1) * step, 3), w,
                                      round(rng.uniform(0.5, 1), 3)))
                for trig, (rule, cat, sev) in FINDING_TRIGGERS.items():
                    if trig in text:
                        finding_rows.append((sha, seg_id, rule, cat, sev, trig, text,
                                             round(start, 3), round(end, 3),
                                             round(rng.uniform(0.6, 0.95), 2), None,
                                             json.dumps([{"source": "bench"}]), "", 1))
                t = end + rng.uniform(0.3, 4.0)
            stamp = call_time.replace("-", "").replace(":", "").replace("T", "")
            conn.execute(
                "insert into recordings (id, path, file_name, size, mtime, phone_number, call_time,"
                " container, codec, sample_rate, channels, duration, language,"
                " language_probability, status, engine, model, n_segments, n_findings, run_id,"
                " processed_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sha, f"/recordings/{phone}_{stamp}.amr", f"{phone}_{stamp}.amr", int(t * 1525),
                 call_time, phone, call_time, "amr", "amr_nb", 8000, 1, round(t, 2), lang, 0.95,
                 "done", "faster-whisper", "base", count, len(finding_rows), 1, call_time])
            conn.executemany(
                "insert into segments (id, recording_id, idx, start, end, text, text_index, channel,"
                " speaker, avg_logprob, no_speech_prob, compression_ratio)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", seg_rows)
            conn.executemany(
                "insert into words (id, segment_id, recording_id, idx, start, end, text, probability)"
                " values (?, ?, ?, ?, ?, ?, ?, ?)", word_rows)
            conn.executemany(
                "insert into findings (recording_id, segment_id, rule_id, category, severity,"
                " matched_text, quote, start, end, confidence, speaker, citations, note, run_id)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", finding_rows)
            n_findings += len(finding_rows)
        conn.execute("update runs set findings = ? where id = 1", [n_findings])
    conn.execute("analyze")
    conn.execute("pragma wal_checkpoint(truncate)")
    build_seconds = time.perf_counter() - t0
    store.close()
    return {"recordings": n_rec, "segments": seg_id, "words": word_id, "findings": n_findings,
            "build_seconds": build_seconds, "db_mb": path.stat().st_size / 2**20}


def index_bench(work: Path, n_segments: int, runs: int, en_word: str) -> dict:
    from datasette.app import Datasette

    from pipeline.browse import metadata

    db = work / "index" / "evidence_bench.db"
    db.parent.mkdir(parents=True)
    log(f"building a synthetic database: {n_segments:,} segments ...")
    stats = build_index_db(db, n_segments)
    stem = db.stem
    urls = {
        "search 老赖": f"/{stem}/search.json?q={quote('老赖')}",
        f"search {en_word}": f"/{stem}/search.json?q={quote(en_word)}",
        "findings page": f"/{stem}/findings",
        "findings_newest query": f"/{stem}/findings_newest.json",
    }
    ds = Datasette([str(db)], metadata=metadata(stem))

    async def measure() -> dict:
        out = {}
        for label, url in urls.items():
            times, status, rows = [], None, None
            t0 = time.perf_counter()
            r = await ds.client.get(url)
            cold = (time.perf_counter() - t0) * 1000
            for _ in range(runs):
                t0 = time.perf_counter()
                r = await ds.client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                status = r.status_code
            if url.split("?")[0].endswith(".json") and status == 200:
                rows = len(r.json().get("rows", []))
            out[label] = {"url": url, "status": status, "cold_ms": cold,
                          "median_ms": statistics.median(times), "max_ms": max(times), "rows": rows}
        return out

    stats["latency"] = asyncio.run(measure())
    stats["runs"] = runs
    return stats

