"""Speed and memory of the pipeline against the bare Whisper engines, and index latency.

One run measures, on the same input files:

* ``pipeline``: ``Pipeline(Options(cache_dir=<fresh>))`` with its own engine (default workers)
  .run(folder, <fresh db>)``, end to end, split by stage (``Summary.stage_seconds``);
* ``faster-whisper``: bare ``WhisperModel(<bundled base>, device="cpu", compute_type="int8")
  .transcribe(path)`` with default settings, generator consumed;
* ``openai-whisper``: bare ``whisper.load_model(<same weights>, device="cpu")
  .transcribe(path, fp16=False)`` with default settings.

Each contender runs on each input set in its own subprocess, so peak RSS (``wait4``) is
that contender's alone.  Model loading is timed separately and is not part of the wall
time.  Then a synthetic evidence database (default 100k segments / 1M words) is built
with the real schema and Datasette's full-text search and findings page are timed.

    .venv/bin/python benchmarks/bench.py                  # full run (quiet machine!)
    .venv/bin/python benchmarks/bench.py --quick          # a couple of minutes, to validate
    .venv/bin/python benchmarks/bench.py --out docs/benchmarks.md

Ratios are printed last.  Targets (from the issue): pipeline <= 1.0x bare faster-whisper,
at least 2x faster than bare openai-whisper, detect+store < 3 % of the pipeline's time,
search and findings page < 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from urllib.parse import quote

import make_long_call

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "audio"
CONTENDERS = ("pipeline", "faster-whisper", "openai-whisper")
QUICK_FIXTURES = ("13812345678_20261102223015.amr", "en_short_call.wav")
STAGES = ("ingest", "normalise", "transcribe", "detect", "store")
TARGET_VS_FASTER = 1.0
TARGET_VS_OPENAI = 0.5
TARGET_DETECT_STORE = 0.03
TARGET_INDEX_MS = 200.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- input sets


@dataclass
class InputSet:
    name: str
    folder: Path  # holds exactly ``files`` (staged copies), handed to the pipeline
    files: list[Path]
    audio_seconds: float
    note: str = ""


def decoded_seconds(path: Path) -> float:
    return len(make_long_call.decode(path)) / make_long_call.SR


def stage(name: str, sources: list[Path], work: Path, note: str = "") -> InputSet:
    """Copy ``sources`` into a folder of their own, so every contender sees the same files."""
    folder = work / "inputs" / name
    folder.mkdir(parents=True)
    files = []
    for src in sources:
        dst = folder / src.name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        files.append(dst)
    seconds = sum(decoded_seconds(f) for f in files)
    return InputSet(name, folder, files, seconds, note)


def input_sets(args, work: Path) -> list[InputSet]:
    sets: list[InputSet] = []
    if args.quick:
        sets.append(stage("fixtures-2", [FIXTURES / n for n in QUICK_FIXTURES], work,
                          "2 committed fixture scenes (zh AMR-NB, en wav)"))
    else:
        clips = make_long_call.realspeech_clips(args.realspeech)
        if clips:
            sets.append(stage("realspeech", clips, work,
                              f"{len(clips)} real-speech clips from {args.realspeech}/manifest.tsv"))
        else:
            log(f"SKIPPED realspeech set: no {args.realspeech}/manifest.tsv (or none of its clips); "
                "only the generated call is measured")
    minutes = args.minutes if args.minutes is not None else (3 if args.quick else 30)
    call = make_long_call.long_call(minutes, args.seed, args.format, args.cache_dir,
                                    use_realspeech=True, realspeech=args.realspeech, log=log)
    sidecar = json.loads((args.cache_dir / f"{call.parent.name}.json").read_text())
    st = sidecar["stats"]
    sets.append(stage(f"call-{minutes:g}min", [call], work,
                      f"generated {minutes:g}-minute {args.format} call: {st['utterances']} utterances, "
                      f"{st['speech_seconds']:.0f} s speech, {st['holds']} holds "
                      f"({st['hold_seconds']:.0f} s)"))
    return sets


# ---------------------------------------------------------------- workers (subprocesses)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ffmpeg_on_path(work: Path) -> None:
    """openai-whisper runs ``ffmpeg`` from PATH; fall back to the pipeline's ffmpeg."""
    if shutil.which("ffmpeg"):
        return
    from pipeline.normalise import ffmpeg_exe

    bindir = work / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    link = bindir / "ffmpeg"
    if not link.exists():
        link.symlink_to(ffmpeg_exe())
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def worker(contender: str, spec: dict) -> dict:
    """Runs inside the subprocess: load (timed apart), then ``repeat`` timed passes."""
    files = [Path(p) for p in spec["files"]]
    folder = Path(spec["folder"])
    work = Path(spec["work"])
    repeat = spec["repeat"]
    walls: list[float] = []
    out: dict = {"contender": contender}
    if contender == "prepare":
        from pipeline.models import bundled_ct2_dir, openai_checkpoint

        ct2 = bundled_ct2_dir()
        if spec.get("openai"):
            openai_checkpoint(ct2)
        return {"contender": contender, "model_dir": str(ct2)}
    if contender == "pipeline":
        from pipeline.flow import Options, Pipeline

        t0 = time.perf_counter()
        # the pipeline's own engine (its default workers/threads), loaded outside the timing
        engine = Pipeline(Options(cache_dir=work / "warm"), log=log).engine
        out["load_seconds"] = time.perf_counter() - t0
        out["rss_after_load_mb"] = _rss_mb()
        out["engine_settings"] = engine.settings()
        stages: list[dict] = []
        for i in range(repeat):
            run_dir = Path(tempfile.mkdtemp(prefix=f"pipeline{i}-", dir=work))
            pipe = Pipeline(Options(cache_dir=run_dir / "cache"), engine=engine, log=log)
            db = run_dir / "bench.db"
            t0 = time.perf_counter()
            summary = pipe.run(folder, db, progress=False)
            walls.append(time.perf_counter() - t0)
            stages.append({k: float(v) for k, v in summary.stage_seconds.items()})
            with sqlite3.connect(db) as conn:
                out["segments"] = conn.execute("select count(*) from segments").fetchone()[0]
            out.update(processed=summary.processed, failed=summary.failed,
                       findings=summary.findings, failures=summary.failures)
            shutil.rmtree(run_dir, ignore_errors=True)
        order = sorted(range(repeat), key=walls.__getitem__)
        out["stage_seconds"] = stages[order[len(order) // 2]]  # the median pass's split
    elif contender == "faster-whisper":
        from faster_whisper import WhisperModel

        from pipeline.models import bundled_ct2_dir

        model_dir = str(bundled_ct2_dir())
        t0 = time.perf_counter()
        model = WhisperModel(model_dir, device="cpu", compute_type="int8")
        out["load_seconds"] = time.perf_counter() - t0
        out["rss_after_load_mb"] = _rss_mb()
        for _ in range(repeat):
            n = 0
            t0 = time.perf_counter()
            for path in files:
                segments, _info = model.transcribe(str(path))
                n += sum(1 for _ in segments)
            walls.append(time.perf_counter() - t0)
            out["segments"] = n
    elif contender == "openai-whisper":
        import whisper

        from pipeline.models import bundled_ct2_dir, openai_checkpoint

        _ffmpeg_on_path(work)
        ckpt = str(openai_checkpoint(bundled_ct2_dir()))  # converted by the prepare step
        t0 = time.perf_counter()
        model = whisper.load_model(ckpt, device="cpu")
        out["load_seconds"] = time.perf_counter() - t0
        out["rss_after_load_mb"] = _rss_mb()
        out["torch_threads"] = __import__("torch").get_num_threads()
        for _ in range(repeat):
            n = 0
            t0 = time.perf_counter()
            for path in files:
                n += len(model.transcribe(str(path), fp16=False)["segments"])
            walls.append(time.perf_counter() - t0)
            out["segments"] = n
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    out["walls"] = walls
    out["wall_seconds"] = statistics.median(walls)
    out["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_worker(contender: str, spec: dict, work: Path, timeout: float | None = None) -> dict:
    """Start one contender in a fresh interpreter; peak RSS comes from its own rusage."""
    tag = f"{contender}-{spec.get('set', 'prep')}"
    spec_path = work / f"{tag}.spec.json"
    result_path = work / f"{tag}.result.json"
    log_path = work / f"{tag}.log"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", contender,
           "--_spec", str(spec_path), "--_result", str(result_path)]
    t0 = time.perf_counter()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout and not timed_out:
                proc.kill()  # only this worker, which we started
                timed_out = True
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    if timed_out or proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        why = f"timed out after {timeout:g} s" if timed_out else f"exit {proc.returncode}"
        return {"contender": contender, "error": why, "log_tail": tail}
    res = json.loads(result_path.read_text())
    res["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    res["process_seconds"] = elapsed
    return res


# ---------------------------------------------------------------- index scale

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


# ---------------------------------------------------------------- machine


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from pipeline.normalise import ffmpeg_exe

        ffmpeg = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True,
                                check=False).stdout.splitlines()[0]
    except Exception as e:  # only for the report
        ffmpeg = f"unavailable ({e})"
    libs = {d: _version(d) for d in ("faster-whisper", "ctranslate2", "openai-whisper", "torch",
                                     "numpy", "datasette", "sqlite-utils", "call-evidence")}
    libs["sqlite"] = sqlite3.sqlite_version
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gb": ram_gb,
            "python": platform.python_version(), "os": platform.platform(), "ffmpeg": ffmpeg,
            "libs": libs, "loadavg_start": os.getloadavg()}


# ---------------------------------------------------------------- report


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def fmt_rows(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) if rows else _width(h)
              for i, h in enumerate(headers)]
    out = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def engine_table(s: InputSet, results: dict, markdown: bool) -> str:
    headers = ["contender", "files", "audio s", "load s", "wall s", "RTF", "peak RSS MB", "segments"]
    rows = []
    for c, r in results.items():
        if "error" in r:
            rows.append([c, str(len(s.files)), f"{s.audio_seconds:.1f}", "-", "FAILED", "-", "-",
                         r["error"]])
            continue
        rows.append([c, str(len(s.files)), f"{s.audio_seconds:.1f}", f"{r['load_seconds']:.2f}",
                     f"{r['wall_seconds']:.2f}", f"{r['wall_seconds'] / s.audio_seconds:.3f}",
                     f"{r['peak_rss_mb']:.0f}", str(r.get("segments", "-"))])
    text = fmt_rows(headers, rows, markdown)
    p = results.get("pipeline")
    if p and "stage_seconds" in p:
        st = p["stage_seconds"]
        total = p["wall_seconds"] or 1.0
        split = ", ".join(f"{k} {st.get(k, 0.0):.2f} s ({100 * st.get(k, 0.0) / total:.1f} %)"
                          for k in STAGES)
        other = total - sum(st.get(k, 0.0) for k in STAGES)
        text += ("\n\n" if markdown else "\n") + f"pipeline stages: {split}; other {other:.2f} s"
        text += (f"; processed {p.get('processed')}, failed {p.get('failed')}, "
                 f"findings {p.get('findings')}")
    for c, r in results.items():
        if "error" in r:
            text += f"\n{c} FAILED ({r['error']})"
            if r.get("log_tail"):
                text += ":\n    " + "\n    ".join(r["log_tail"])
    return text


def index_table(ix: dict, markdown: bool) -> str:
    rows = [[label, f"{v['median_ms']:.1f}", f"{v['max_ms']:.1f}", f"{v['cold_ms']:.1f}",
             str(v["status"]), "-" if v["rows"] is None else str(v["rows"])]
            for label, v in ix["latency"].items()]
    head = (f"{ix['recordings']:,} recordings, {ix['segments']:,} segments, {ix['words']:,} words, "
            f"{ix['findings']:,} findings; database {ix['db_mb']:.0f} MB, built in "
            f"{ix['build_seconds']:.1f} s (text, insert, full-text index)")
    return head + "\n" + ("\n" if markdown else "") + fmt_rows(
        ["request", f"median ms (n={ix['runs']})", "max ms", "first (cold) ms", "status", "rows"],
        rows, markdown)


def ratio_lines(sets: list[InputSet], results: dict, ix: dict | None) -> list[str]:
    lines = []

    def ok(flag: bool) -> str:
        return "OK" if flag else "MISSED"

    tot = {c: 0.0 for c in CONTENDERS}
    complete = {c: True for c in CONTENDERS}
    ds_total = 0.0
    for s in sets:
        res = results[s.name]
        p = res.get("pipeline", {})
        if "wall_seconds" not in p:
            lines.append(f"{s.name}: pipeline did not run, no ratios")
            complete = {c: False for c in CONTENDERS}
            continue
        parts = []
        for c, target, word in (("faster-whisper", TARGET_VS_FASTER, "<="),
                                ("openai-whisper", TARGET_VS_OPENAI, "<=")):
            r = res.get(c, {})
            if "wall_seconds" in r:
                ratio = p["wall_seconds"] / r["wall_seconds"]
                parts.append(f"pipeline/bare-{c} = {ratio:.2f}x (target {word} {target:g}x: "
                             f"{ok(ratio <= target)})")
                tot[c] += r["wall_seconds"]
            else:
                parts.append(f"pipeline/bare-{c}: not measured")
                complete[c] = False
        st = p.get("stage_seconds", {})
        share = (st.get("detect", 0.0) + st.get("store", 0.0)) / p["wall_seconds"]
        ds_total += st.get("detect", 0.0) + st.get("store", 0.0)
        tot["pipeline"] += p["wall_seconds"]
        parts.append(f"detect+store = {100 * share:.2f} % of pipeline (target < "
                     f"{100 * TARGET_DETECT_STORE:g} %: {ok(share < TARGET_DETECT_STORE)})")
        lines.append(f"{s.name}: " + "; ".join(parts))
    if len(sets) > 1 and complete["pipeline"] and tot["pipeline"]:
        parts = []
        for c in ("faster-whisper", "openai-whisper"):
            if complete[c] and tot[c]:
                parts.append(f"pipeline/bare-{c} = {tot['pipeline'] / tot[c]:.2f}x")
        parts.append(f"detect+store = {100 * ds_total / tot['pipeline']:.2f} %")
        lines.append("all sets (summed wall time): " + "; ".join(parts))
    if ix:
        worst = max(v["median_ms"] for v in ix["latency"].values())
        lines.append(f"index ({ix['segments']:,} segments): slowest median {worst:.1f} ms "
                     f"(target < {TARGET_INDEX_MS:g} ms: {ok(worst < TARGET_INDEX_MS)})")
    return lines


def markdown_report(args, mach: dict, sets, results, ix, ratios, started: str, took: float) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in mach["libs"].items())
    out = ["# Benchmarks", ""]
    if args.quick:
        out += ["> **Quick run (validation only).** Tiny inputs; these numbers check that the "
                "benchmark works and are not the benchmark. Run the full one on a quiet machine "
                "(see `benchmarks/README.md`).", ""]
    if args.note:
        out += [f"> **Note:** {args.note}", ""]
    command = ".venv/bin/python benchmarks/bench.py " + shlex.join(sys.argv[1:])
    out += [f"Run {started}, {took / 60:.1f} min in all: `{command}`",
            "",
            "## Machine", "",
            f"- CPU: {mach['cpu']}, {mach['cores']} logical cores ({mach['usable_cores']} usable)",
            f"- RAM: {mach['ram_gb']:.1f} GiB",
            f"- Load average at start: {' / '.join(f'{x:.2f}' for x in mach['loadavg_start'])}, "
            f"at end: {' / '.join(f'{x:.2f}' for x in mach['loadavg_end'])}",
            f"- Python {mach['python']} on {mach['os']}",
            f"- {libs}",
            f"- ffmpeg: {mach['ffmpeg']}", "",
            "## Transcription: pipeline vs bare engines", "",
            "Same files, each contender in its own process; `wall s` excludes model loading "
            "(`load s`); RTF = wall / audio; peak RSS is the whole process, model included. "
            f"Median of {args.repeat} pass(es). Bare engines use their default settings (bare "
            "faster-whisper: beam 5, no VAD, no word timestamps; bare openai-whisper: greedy with "
            "temperature fallback, no word timestamps); the pipeline adds VAD, word timestamps, "
            "normalisation, detection and storage.", ""]
    for s in sets:
        out += [f"### {s.name}", "", s.note, "", engine_table(s, results[s.name], True), ""]
    if ix:
        out += ["## Index scale (Datasette test client)", "", index_table(ix, True), ""]
    out += ["## Ratios", ""] + [f"- {line}" for line in ratios] + [""]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny inputs (2 fixtures, 3-minute call, 10k segments) to validate")
    ap.add_argument("--skip-openai", action="store_true", help="do not run bare openai-whisper")
    ap.add_argument("--skip-engines", action="store_true", help="index latency only")
    ap.add_argument("--skip-index", action="store_true", help="transcription only")
    ap.add_argument("--out", type=Path, help="also write a markdown report here")
    ap.add_argument("--note", default="", help="a line for the markdown report (e.g. machine state)")
    ap.add_argument("--minutes", type=float, help="length of the generated call (default 30; quick 3)")
    ap.add_argument("--format", choices=["amr", "wav"], default="amr",
                    help="generated call: AMR-NB 8 kHz (default) or 16 kHz wav")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--segments", type=int, help="index scale: segments (default 100000; quick 10000),"
                    " 10 words each")
    ap.add_argument("--index-runs", type=int, default=7, help="timed requests per URL (median)")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes per contender (median)")
    ap.add_argument("--timeout", type=float, help="seconds after which one contender's run on one "
                    "input set is stopped and reported as failed (default: no limit)")
    ap.add_argument("--realspeech", type=Path, default=make_long_call.REALSPEECH)
    ap.add_argument("--cache-dir", type=Path, default=make_long_call.CACHE,
                    help="where the generated call is kept (default benchmarks/.cache, git-ignored)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_spec", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_result", type=Path, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args._worker:
        res = worker(args._worker, json.loads(args._spec.read_text()))
        args._result.write_text(json.dumps(res))
        return 0
    t_start = time.perf_counter()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['usable_cores']}/{mach['cores']} cores, "
          f"{mach['ram_gb']:.1f} GiB RAM, load {mach['loadavg_start'][0]:.2f}; Python {mach['python']}; "
          + ", ".join(f"{k} {v}" for k, v in mach["libs"].items()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="call-evidence-bench-"))
    contenders = [c for c in CONTENDERS if not (args.skip_openai and c == "openai-whisper")]
    sets: list[InputSet] = []
    results: dict[str, dict] = {}
    failed = False
    try:
        if not args.skip_engines:
            sets = input_sets(args, work)
            prep = run_worker("prepare", {"files": [], "folder": "", "work": str(work), "repeat": 1,
                                          "openai": "openai-whisper" in contenders}, work)
            if "error" in prep:
                raise SystemExit("model preparation failed:\n" + "\n".join(prep["log_tail"]))
            for s in sets:
                log(f"== {s.name}: {len(s.files)} file(s), {s.audio_seconds:.1f} s of audio")
                results[s.name] = {}
                spec = {"set": s.name, "files": [str(f) for f in s.files], "folder": str(s.folder),
                        "work": str(work), "repeat": args.repeat}
                for c in contenders:
                    log(f"   {c} ... (started {datetime.now():%H:%M:%S})")
                    r = run_worker(c, spec, work, args.timeout)
                    log(f"   {c}: " + (r["error"] if "error" in r else
                                       f"{r['wall_seconds']:.1f} s, peak {r['peak_rss_mb']:.0f} MB"))
                    failed |= "error" in r or bool(r.get("failed"))
                    results[s.name][c] = r
                print(f"\n## {s.name} — {s.note}\n" + engine_table(s, results[s.name], False),
                      flush=True)
        ix = None
        if not args.skip_index:
            n = args.segments or (10_000 if args.quick else 100_000)
            ix = index_bench(work, n, args.index_runs, "employer")
            print("\n## index scale\n" + index_table(ix, False), flush=True)
        mach["loadavg_end"] = os.getloadavg()
        ratios = ratio_lines(sets, results, ix)
        print("\n## ratios (pipeline / bare engine; lower is better)")
        for line in ratios:
            print(line)
        took = time.perf_counter() - t_start
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(markdown_report(args, mach, sets, results, ix, ratios, started, took),
                                encoding="utf-8")
            log(f"report written to {args.out}")
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
