"""Ranking that knows no model: an encoder turns texts into unit vectors, an index ranks passages for them.

Nothing here imports torch or sentence-transformers: the export path (onnxruntime + tokenizers + numpy)
stays fast to start. Scores are cosine similarities (dot products of unit vectors).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from banglasim.core.errors import UserError

HIT_KEYS = ("passage_id", "title", "text")
MAX_TOP_K = 100
MAX_QUESTION_CHARS = 1000  # longer input is refused (the model reads at most max_seq_length pieces anyway)


class Encoder(Protocol):
    """What search needs of a model: an identity for caches and unit-length embeddings."""

    key: str  # identifies the model's weights and settings (the export's manifest hash, a folder digest)

    def encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        """float32 [len(texts), dim], L2-normalised; prompt_name is "query" or "passage"."""
        ...


class ApproximateIndex(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row numbers [q, k], cosine scores [q, k]); row -1 where fewer than k were found."""
        ...


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scores of the k best passages for each query, best first; ties by row number."""
    k = min(k, vectors.shape[0])
    scores = np.asarray(queries, dtype=np.float32) @ np.asarray(vectors).T  # [q, n]
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    rows = np.empty((scores.shape[0], k), dtype=np.int64)
    for q in range(scores.shape[0]):
        cand = part[q]
        order = np.lexsort((cand, -scores[q, cand]))  # score descending, then row ascending
        rows[q] = cand[order]
    return rows, np.take_along_axis(scores, rows, axis=1)


def approximate_top_k(
    ann: ApproximateIndex, vectors: np.ndarray, queries: np.ndarray, k: int, oversample: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scores of the k best of `oversample * k` candidates of the approximate index, scored exactly with
    the float32 vectors (the index's 8-bit codes only choose the candidates); row -1 where fewer were found."""
    queries = np.asarray(queries, dtype=np.float32)
    rows, _ = ann.search(queries, min(vectors.shape[0], oversample * k))
    check_rows(rows, vectors.shape[0])
    scores = np.einsum("qkd,qd->qk", np.asarray(vectors)[np.maximum(rows, 0)], queries)
    scores[rows < 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)


def check_rows(rows: np.ndarray, count: int) -> None:
    """A UserError when an approximate index returned a row number outside 0..count-1 (other than -1, none found)."""
    if rows.size and (rows.min() < -1 or rows.max() >= count):
        bad = int(rows.max()) if rows.max() >= count else int(rows.min())
        raise UserError(
            f"the approximate index returned row {bad}, but the index holds {count} passages: it is damaged",
            fix="check it with `banglasim verify`, then rebuild it (dvc repro -f index)",
        )


def check_finite(query_vectors: np.ndarray) -> np.ndarray:
    """The question vectors, or a UserError when the model gave NaN or inf (a damaged model: scores would be NaN)."""
    if not np.isfinite(query_vectors).all():
        raise UserError(
            "the model gave NaN or inf for a question: its weights are damaged",
            fix="check the export with `banglasim verify`, then rebuild it (dvc repro -f export)",
        )
    return query_vectors


def encode_passages(encoder: Encoder, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit vectors of the texts in their order, encoded shortest first (less padding per batch)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: np.ndarray | None = None
    step = max(1, len(texts) // 10)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        emb = encoder.encode([texts[i] for i in rows], "passage")
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[rows] = emb
        done = start + len(rows)
        if progress and (done // step > start // step or done == len(texts)):
            print(f"  encoded {done}/{len(texts)} passages", file=sys.stderr, flush=True)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


class Searcher:
    """An encoder and the passages it embedded (vectors row i = passages[i]); optionally an approximate index."""

    def __init__(
        self, encoder: Encoder, passages: Sequence[dict], vectors: np.ndarray, ann: ApproximateIndex | None = None
    ) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(passages):
            raise ValueError(f"{vectors.shape[0] if vectors.ndim else 0} vectors for {len(passages)} passages")
        self.encoder = encoder
        self.passages = passages
        self.vectors = vectors
        self.ann = ann

    def __len__(self) -> int:
        return len(self.passages)

    def rank(self, query_vectors: np.ndarray, k: int) -> list[list[dict]]:
        """Hits for already-encoded queries."""
        if len(query_vectors) == 0:
            return []
        if self.ann is not None:
            rows, scores = approximate_top_k(self.ann, self.vectors, query_vectors, k)
        else:
            rows, scores = exact_top_k(self.vectors, query_vectors, k)
        return [
            [
                {**{key: self.passages[r].get(key, "") for key in HIT_KEYS}, "score": round(float(s), 6), "rank": i + 1}
                for i, (r, s) in enumerate((r, s) for r, s in zip(rq, sq) if r >= 0)
            ]
            for rq, sq in zip(rows, scores)
        ]

    def search(self, questions: list[str], k: int) -> list[list[dict]]:
        """Top-k hits of each (non-empty, normalised) question, in order."""
        if not questions:
            return []
        return self.rank(check_finite(self.encoder.encode(list(questions), "query")), k)
