"""Compare training settings of the meaning head by cross-validation only (never the blind split).

``make train-detect`` chooses thresholds by five-fold cross-validation over the real train and
dev rows and the lawful train half; this runs that same cross-validation for other settings
of the head (class weights, hidden width, L2, the n-gram share, the queue caps) and prints,
per setting and language, the threshold-free rank of real abuse (AUC) and what the chosen
thresholds give: findings precision and recall, the queue's recall, and what the caps let
through.  The blind test split is not read.  How the shipped settings were chosen
(docs/detection.md, 2026-12-07):

    make sweep-detect ARGS='[{}, {"WEIGHTS": {"real": 20, "lawful": 20}, "HIDDEN": 128}]'

Each setting is a JSON object: ``WEIGHTS`` (merged into train_detect.WEIGHTS), ``HIDDEN``,
``EPOCHS``, ``L2``, ``NGRAM_ALPHA``, ``NGRAM_L2``, and ``T`` (any other module constant of
``pipeline/evaluation/train_detect.py``, e.g. ``MAX_LAWFUL_QUEUE_PER_1000``).  The gathered
rows and their embeddings are cached (``--cache``), so a setting costs about a minute.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pipeline.evaluation.train_detect as T  # noqa: E402
from pipeline.detect import Detector  # noqa: E402
from pipeline.detect.meaning import E5Embedder, Policy  # noqa: E402
from pipeline.evaluation.corpora import ABUSE_CATEGORIES  # noqa: E402
from pipeline.evaluation.embedcache import EmbeddingCache  # noqa: E402

KNOBS = ("HIDDEN", "EPOCHS", "L2", "NGRAM_ALPHA", "NGRAM_L2")
SHOWN = ("alone_at", "precision", "recall", "listen_at", "queue_recall", "false_alarms",
         "lawful_findings", "lawful_queue", "ordinary_queue")


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Rank of abuse over not (Mann-Whitney), ties broken by order."""
    order = np.argsort(p, kind="stable")
    rank = np.empty(len(p))
    rank[order] = np.arange(len(p))
    pos = int(y.sum())
    neg = len(y) - pos
    return float((rank[y == 1].sum() - pos * (pos - 1) / 2) / (pos * neg)) if pos and neg else 0.0


def load_sets(cache: Path) -> tuple[dict, dict]:
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    sets = T.gather(Detector(meaning=None))
    embedder = EmbeddingCache(E5Embedder())
    emb = {k: embedder.embed([it.text for it in v], progress=True) for k, v in sets.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps((sets, emb)))
    return sets, emb


def run(setting: dict, sets: dict, emb: dict, base: dict) -> dict:
    for name, value in base.items():
        setattr(T, name, value)
    for name in KNOBS:
        if name in setting:
            setattr(T, name, setting[name])
    for name, value in setting.get("T", {}).items():
        setattr(T, name, value)
    T.WEIGHTS = {**base["WEIGHTS"], **setting.get("WEIGHTS", {})}
    fit_head, fit_ngram = base["fit_head"], base["fit_ngram"]
    # fit_all calls these with their defaults, bound when they were defined: pass the knobs
    T.fit_head = lambda x, y, c, w: fit_head(x, y, c, w, hidden=T.HIDDEN, epochs=T.EPOCHS, l2=T.L2)
    T.fit_ngram = lambda texts, y, w: fit_ngram(texts, y, w, epochs=T.NGRAM_EPOCHS, l2=T.NGRAM_L2)
    t0 = time.time()
    oof, calib = T.cross_validate(sets, emb, progress=False)
    proto = Policy(list(ABUSE_CATEGORIES), 0.0, 0.0, {}, 0.5, cues=T._cues())
    chosen = T.choose_policy(sets["real"], oof, sets["calibration"], calib, proto)
    out: dict = {"setting": setting, "rule_veto_below": chosen["rule_veto_below"],
                 "sound_needs": chosen["sound_needs"]}
    for lang in ("zh", "en"):
        idx = [i for i, it in enumerate(sets["real"]) if it.language == lang]
        y = np.array([sets["real"][i].abuse for i in idx], dtype=int)
        cv = chosen["cross_validated"][lang]
        out[lang] = {"auc": round(auc(y, oof[idx]), 4), **{k: cv.get(k) for k in SHOWN}}
    out["seconds"] = round(time.time() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("settings", nargs="?", default="[{}]", help="a JSON list of settings")
    ap.add_argument("--cache", type=Path,
                    default=Path.home() / ".cache" / "call-evidence" / "sweep" / "sets.pkl",
                    help="gathered rows and embeddings (delete it after the corpora change)")
    args = ap.parse_args()
    settings = json.loads(args.settings)
    sets, emb = load_sets(args.cache)
    base = {name: getattr(T, name) for name in (*KNOBS, "MAX_LAWFUL_QUEUE_PER_1000",
                                                "MAX_ORDINARY_QUEUE_PER_1000", "MAX_FALSE_ALARMS_PER_1000",
                                                "MAX_LAWFUL_FINDINGS_PER_1000")}
    base.update(WEIGHTS=dict(T.WEIGHTS), fit_head=T.fit_head, fit_ngram=T.fit_ngram)
    for setting in settings:
        print(json.dumps(run(setting, sets, emb, base), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
