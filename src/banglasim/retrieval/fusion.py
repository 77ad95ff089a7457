"""Hybrid ranking: dense and BM25 scores of one question fused into one ranking, the one implementation that
evaluate, search and serve run.

Candidates are the union of each retriever's top `candidates` passages (exact search gives every score, so
the other retriever's score of each candidate is known; the approximate index scores its candidates
exactly too). Fusion, on the candidates only:
- `zscore`: a weighted sum of per-question z-scores, dense_weight x z(dense) + (1 - dense_weight) x z(bm25);
- `rrf`: reciprocal rank fusion, dense_weight / (rrf_k + dense rank) + (1 - dense_weight) / (rrf_k + bm25
  rank) (dense_weight 0.5 is the equally weighted RRF that Elasticsearch, OpenSearch, Vespa and Qdrant ship).
A question without any term the keyword analyser keeps is ranked by its dense scores alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MODES = ("hybrid", "dense", "bm25")
METHODS = ("zscore", "rrf")


@dataclass(frozen=True)
class FusionSettings:
    method: str = "zscore"
    dense_weight: float = 0.1
    rrf_k: int = 60
    candidates: int = 100

    def as_dict(self) -> dict:
        return asdict(self)


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """The rows of the n highest scores of a vector, best first, ties by row number."""
    n = min(n, len(scores))
    part = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


def candidate_rows(dense: np.ndarray, lexical: np.ndarray | None, n: int) -> np.ndarray:
    """Rows in either retriever's top n (exact scores of every passage), sorted by row."""
    rows = top_rows(dense, n)
    if lexical is not None:
        rows = np.union1d(rows, top_rows(lexical, n))
    return np.sort(rows)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def _rank_positions(x: np.ndarray) -> np.ndarray:
    """1-based rank of each entry by score (best = 1), ties broken by position."""
    order = np.lexsort((np.arange(len(x)), -x))
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    return ranks


def fuse(dense: np.ndarray, lexical: np.ndarray | None, settings: FusionSettings) -> np.ndarray:
    """Fused scores of one question's candidates from their dense and BM25 scores (None: dense alone)."""
    dense = np.asarray(dense, dtype=np.float64)
    if lexical is None:
        return dense
    lexical = np.asarray(lexical, dtype=np.float64)
    w = settings.dense_weight
    if settings.method == "rrf":
        return w / (settings.rrf_k + _rank_positions(dense)) + (1 - w) / (settings.rrf_k + _rank_positions(lexical))
    return w * _zscore(dense) + (1 - w) * _zscore(lexical)


def hybrid_ranks(
    dense: np.ndarray, lexical: list[np.ndarray | None], positives: np.ndarray, settings: FusionSettings
) -> np.ndarray:
    """1-based pessimistic rank of each question's own passage in its fused ranking, from the exact scores of
    every passage ([q, passages] dense, one BM25 vector or None per question); a passage outside the
    candidates ranks after all of them (len + 1)."""
    ranks = np.empty(len(dense), dtype=np.int64)
    for q, (d, lex, own) in enumerate(zip(dense, lexical, positives)):
        rows = candidate_rows(d, lex, settings.candidates)
        fused = fuse(d[rows], None if lex is None else lex[rows], settings)
        where = np.searchsorted(rows, own)
        if where < len(rows) and rows[where] == own:
            ranks[q] = int((fused >= fused[where]).sum())
        else:
            ranks[q] = len(d) + 1
    return ranks
