"""Sentence embeddings kept on disk, keyed by embedder and text.

Training and evaluation embed tens of thousands of sentences; each takes milliseconds,
so a second run should not pay again.  One ``.npz`` file per embedder id under
``<cache>/embeddings/``; keys are sha1 digests of the prepared text.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import models
from ..detect.meaning import Embedder, prepare


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, embedder: Embedder, folder: Path | None = None):
        self.embedder = embedder
        folder = folder or (models.cache_root() / "embeddings")
        tag = hashlib.sha1(embedder.name.encode("utf-8")).hexdigest()[:12]
        self.path = folder / f"{tag}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as f:
                keys, mat = f["keys"], f["vectors"]
            self.vectors = {str(k): mat[i] for i, k in enumerate(keys)}

    def embed(self, texts: list[str], progress: bool = True, save_every: int = 2000) -> np.ndarray:
        """Embeddings of ``texts`` (prepared as at inference), computing only the missing ones."""
        prepared = [prepare(t) for t in texts]
        missing = sorted({p for p in prepared if _key(p) not in self.vectors})
        t0 = time.time()
        for n, p in enumerate(missing, 1):
            self.vectors[_key(p)] = self.embedder.embed([p])[0]
            if progress and (n % 500 == 0 or n == len(missing)):
                rate = n / max(time.time() - t0, 1e-9)
                print(f"  embedded {n}/{len(missing)} new sentences ({rate:.0f}/s)", file=sys.stderr)
            if n % save_every == 0:
                self.save()
        if missing:
            self.save()
        return np.stack([self.vectors[_key(p)] for p in prepared]) if prepared else np.zeros((0, 384))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(sorted(self.vectors))
        mat = np.stack([self.vectors[k] for k in keys]) if len(keys) else np.zeros((0, 384), np.float32)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, vectors=mat)
        os.replace(tmp, self.path)


class CachedEmbedder:
    """An ``Embedder`` that reads and fills the disk cache: evaluation runs judge the same
    thousands of sentences every time, and the vectors are the model's own."""

    def __init__(self, embedder: Embedder, folder: Path | None = None, progress: bool = False):
        self.name = embedder.name
        self.cache = EmbeddingCache(embedder, folder)
        self.progress = progress

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.cache.embed(texts, progress=self.progress).astype(np.float32)
