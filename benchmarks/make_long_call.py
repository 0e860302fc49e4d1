"""Build a long, realistic collection call for benchmarks, once, into a cache folder.

The call is made by cutting the committed fixture scenes (tests/fixtures/audio, split
into sentences with the times in scenes.json) and, when present, the real-speech clips of
../shared/realspeech into utterances, and laying them end to end the way a phone recorder
would hear a conversation:

* 0.3-4 s pauses between utterances, each utterance at a slightly different level;
* now and then (about one utterance in 30) a 10-30 s hold: either silence or a quiet
  450 Hz ring-back tone (1 s on, 4 s off);
* light background noise (white noise about -55 dBFS plus a faint 50 Hz hum);
* telephone band (300-3400 Hz) and AMR-NB 12.2 kbit/s at 8 kHz mono (default, the
  format of most Android call recorders), or 16 kHz mono 16-bit wav (``--format wav``).

Everything is seeded, so the same arguments and inputs give the same file.  The result
is cached under ``benchmarks/.cache/`` (ignored by git) with a JSON sidecar; it is rebuilt
only when the arguments or the input files change.

    .venv/bin/python benchmarks/make_long_call.py --minutes 30        # prints the path
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
REALSPEECH = REPO.parent / "shared" / "realspeech"
CACHE = REPO / "benchmarks" / ".cache"
SR = 16000
VERSION = 1  # bump when the generation recipe changes, so cached calls are rebuilt


@dataclass
class Piece:
    source: str
    audio: np.ndarray  # float32 mono at SR


def _ffmpeg() -> str:
    from pipeline.normalise import ffmpeg_exe

    return ffmpeg_exe()


def _amr_ffmpeg() -> str:
    # Debian's ffmpeg decodes AMR-NB but cannot encode it; the imageio-ffmpeg build can.
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(path: Path) -> np.ndarray:
    """Any audio file -> float32 mono at 16 kHz."""
    out = subprocess.run(
        [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
         "-map", "0:a:0", "-ac", "1", "-ar", str(SR), "-f", "s16le", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype=np.int16).astype(np.float32) / 32768.0


def realspeech_clips(root: Path = REALSPEECH) -> list[Path]:
    """The clips listed in ``manifest.tsv`` that exist (empty when the folder is absent)."""
    manifest = root / "manifest.tsv"
    if not manifest.exists():
        return []
    with open(manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [root / r["file"] for r in rows if (root / r["file"]).is_file()]


def fixture_files() -> list[Path]:
    scenes = json.loads((FIXTURES / "scenes.json").read_text(encoding="utf-8"))
    return [FIXTURES / s["file"] for s in scenes]


def speech_pieces(use_realspeech: bool = True, realspeech: Path = REALSPEECH) -> list[Piece]:
    """Fixture scenes cut into sentences, plus each real-speech clip whole."""
    pieces: list[Piece] = []
    pad = 0.15
    scenes = json.loads((FIXTURES / "scenes.json").read_text(encoding="utf-8"))
    for scene in scenes:
        audio = decode(FIXTURES / scene["file"])
        sentences = scene.get("sentences") or []
        if not sentences:
            pieces.append(Piece(scene["file"], audio))
            continue
        for i, s in enumerate(sentences):
            a = max(0, int((s["start"] - pad) * SR))
            b = min(len(audio), int((s["end"] + pad) * SR))
            if b - a > SR // 4:
                pieces.append(Piece(f"{scene['file']}#{i}", audio[a:b]))
    if use_realspeech:
        for clip in realspeech_clips(realspeech):
            pieces.append(Piece(str(clip.relative_to(realspeech)), decode(clip)))
    return pieces


def _inputs_fingerprint(use_realspeech: bool, realspeech: Path) -> list[list]:
    files = [*fixture_files(), FIXTURES / "scenes.json"]
    if use_realspeech:
        files += realspeech_clips(realspeech)
    return [[p.name, p.stat().st_size] for p in files]


def compose(pieces: list[Piece], seconds: float, seed: int) -> tuple[np.ndarray, dict]:
    """Lay utterances out with pauses, holds and noise; exactly ``seconds`` long."""
    rng = np.random.default_rng(seed)
    total = int(seconds * SR)
    out = np.zeros(total, dtype=np.float32)
    pos = int(rng.uniform(0.5, 2.0) * SR)  # the recorder starts a moment before "hello"
    order: list[int] = []
    n_utt = n_hold = 0
    speech = hold = 0.0
    while pos < total:
        if not order:
            order = list(rng.permutation(len(pieces)))
        piece = pieces[order.pop()]
        gain = float(10 ** (rng.uniform(-4.0, 2.0) / 20))
        chunk = piece.audio[: total - pos] * gain
        out[pos : pos + len(chunk)] += chunk
        pos += len(chunk)
        speech += len(chunk) / SR
        n_utt += 1
        if rng.random() < 1 / 30:
            dur = rng.uniform(10.0, 30.0)
            n = min(int(dur * SR), max(0, total - pos))
            if rng.random() < 0.5:  # ring-back/hold tone, 1 s on 4 s off
                t = np.arange(n) / SR
                on = (t % 5.0) < 1.0
                out[pos : pos + n] += (0.03 * np.sin(2 * np.pi * 450 * t) * on).astype(np.float32)
            pos += n
            hold += n / SR
            n_hold += 1
        pos += int(rng.uniform(0.3, 4.0) * SR)
    t = np.arange(total) / SR
    noise = rng.normal(0.0, 10 ** (-55 / 20), total) + 10 ** (-60 / 20) * np.sin(2 * np.pi * 50 * t)
    out += noise.astype(np.float32)
    peak = float(np.max(np.abs(out))) or 1.0
    if peak > 0.95:
        out *= 0.95 / peak
    stats = {"utterances": n_utt, "holds": n_hold, "speech_seconds": round(speech, 1),
             "hold_seconds": round(hold, 1), "unique_pieces": len(pieces)}
    return out, stats


def encode(audio: np.ndarray, dst: Path, fmt: str) -> None:
    if fmt == "amr":
        codec = ["-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000", "-ac", "1",
                 "-c:a", "libopencore_amrnb", "-b:a", "12.2k", "-f", "amr"]
        exe = _amr_ffmpeg()
    elif fmt == "wav":
        codec = ["-ar", str(SR), "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav"]
        exe = _ffmpeg()
    else:
        raise ValueError(f"unknown format {fmt!r} (amr or wav)")
    tmp = dst.with_name(dst.name + ".partial")
    subprocess.run(
        [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "-", *codec, str(tmp)],
        input=np.ascontiguousarray(audio, dtype=np.float32).tobytes(), check=True)
    os.replace(tmp, dst)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def long_call(minutes: float = 30, seed: int = 20261201, fmt: str = "amr",
              cache_dir: Path = CACHE, use_realspeech: bool = True,
              realspeech: Path = REALSPEECH, log=None) -> Path:
    """Path of the generated call (built on first use, then reused from the cache).

    The file sits alone in its own folder, so that folder can be handed to the pipeline.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    use_realspeech = use_realspeech and bool(realspeech_clips(realspeech))
    tag = f"call_{minutes:g}min_seed{seed}_{fmt}{'_rs' if use_realspeech else ''}"
    folder = Path(cache_dir) / tag
    # A phone recorder's name, so call metadata is parsed as for a real recording.
    dst = folder / ("13800138000_20261201101500." + fmt)
    sidecar = Path(cache_dir) / f"{tag}.json"
    params = {"version": VERSION, "minutes": minutes, "seed": seed, "format": fmt,
              "inputs": _inputs_fingerprint(use_realspeech, realspeech)}
    if dst.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text())
        if meta.get("params") == params and meta.get("sha256") == _sha256(dst):
            return dst
    log(f"building a {minutes:g}-minute call ({fmt}) in {folder} ...")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    pieces = speech_pieces(use_realspeech, realspeech)
    audio, stats = compose(pieces, minutes * 60, seed)
    encode(audio, dst, fmt)
    sidecar.write_text(json.dumps({"params": params, "stats": stats, "sha256": _sha256(dst)},
                                  indent=2))
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--format", choices=["amr", "wav"], default="amr")
    ap.add_argument("--cache-dir", type=Path, default=CACHE)
    ap.add_argument("--realspeech", type=Path, default=REALSPEECH,
                    help="folder with manifest.tsv (default ../shared/realspeech)")
    ap.add_argument("--no-realspeech", action="store_true", help="use the fixtures only")
    args = ap.parse_args(argv)
    path = long_call(args.minutes, args.seed, args.format, args.cache_dir,
                     not args.no_realspeech, args.realspeech)
    meta = json.loads((args.cache_dir / f"{path.parent.name}.json").read_text())
    print(path)
    print(json.dumps(meta["stats"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
