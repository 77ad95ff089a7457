"""The approximate index for corpora too big for exact search: a faiss inverted-file index with 8-bit scalar codes.

`IVF{nlist},SQ8` on inner product (= cosine for the unit vectors): k-means splits the vectors into `nlist`
lists, a question scans the `nprobe` nearest lists, and each vector is stored as 384 bytes (a quarter of
float32). Labels are row numbers of vectors.npy. Why faiss and this index: docs/search.md (ANN choice).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

TRAIN_POINTS_PER_LIST = 40  # k-means sample: 40 points per list (faiss warns below 39)


@dataclass(frozen=True)
class AnnSettings:
    nlist: int = 0  # number of lists; 0 = 2 * sqrt(count), at least 16
    nprobe: int = 64  # lists scanned per question: more = better recall, slower (docs/search.md)
    seed: int = 0  # k-means sample and initialisation

    def lists_for(self, count: int) -> int:
        return self.nlist or max(16, round(2 * math.sqrt(count)))

    def as_dict(self) -> dict:
        return asdict(self)


def _faiss():
    import faiss

    return faiss


class FaissIndex:
    """A faiss IVF index with the ApproximateIndex interface of engine.py."""

    def __init__(self, index, nprobe: int) -> None:
        self.index = index
        self.index.nprobe = nprobe

    @classmethod
    def build(cls, vectors: np.ndarray, settings: AnnSettings) -> FaissIndex:
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = vectors.shape
        nlist = min(settings.lists_for(count), count)
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample = min(count, TRAIN_POINTS_PER_LIST * nlist)
        rows = np.random.default_rng(settings.seed).choice(count, sample, replace=False) if sample < count else None
        index.cp.seed = settings.seed
        index.cp.min_points_per_centroid = 1  # tiny corpora (tests): no warning, lists may be small
        index.train(vectors if rows is None else vectors[np.sort(rows)])
        for start in range(0, count, 100_000):  # bounded temporary memory
            index.add(vectors[start : start + 100_000])
        return cls(index, settings.nprobe)

    @classmethod
    def load(cls, path: Path, nprobe: int) -> FaissIndex:
        return cls(_faiss().read_index(str(path)), nprobe)

    def save(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return rows.astype(np.int64), scores
