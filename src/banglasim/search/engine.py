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
from banglasim.retrieval.fusion import MODES, FusionSettings, candidate_rows, fuse, top_rows
from banglasim.retrieval.lexical import LexicalIndex
from banglasim.retrieval.rerank import PairScorer, RerankSettings, best_window_scores, reorder
from banglasim.retrieval.windows import Windows, best_window

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
            f"the approximate index returned row {bad}, but the index holds {count} vectors: it is damaged",
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


NO_LEXICAL_NOTE = "no word of the question occurs in the passages: ranked by the dense model alone"


class Searcher:
    """An encoder and the passages it embedded, by window (vectors row w = a window of passages[owner[w]]; one row
    per passage without windows), optionally an approximate index of the vectors and a BM25 index of the passages.
    `mode` (hybrid, dense, bm25) and `fusion` are the defaults of `search`/`answers`."""

    def __init__(
        self,
        encoder: Encoder,
        passages: Sequence[dict],
        vectors: np.ndarray,
        ann: ApproximateIndex | None = None,
        owner: np.ndarray | None = None,
        lexical: LexicalIndex | None = None,
        mode: str = "dense",
        fusion: FusionSettings = FusionSettings(),
        reranker: PairScorer | None = None,
        rerank: RerankSettings = RerankSettings(),
        rerank_default: bool = False,
    ) -> None:
        owner = np.arange(len(passages), dtype=np.int64) if owner is None else np.asarray(owner, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[0] != len(owner):
            raise ValueError(f"{vectors.shape[0] if vectors.ndim else 0} vectors for {len(owner)} windows")
        steps = np.diff(owner)
        if len(owner) and (owner[0] != 0 or owner[-1] != len(passages) - 1 or ((steps != 0) & (steps != 1)).any()):
            raise ValueError(f"the window owners do not cover {len(passages)} passages in order")
        if lexical is not None and len(lexical) != len(passages):
            raise ValueError(f"a BM25 index of {len(lexical)} passages for {len(passages)} passages")
        self.encoder = encoder
        self.passages = passages
        self.vectors = vectors
        self.ann = ann
        self.windows = Windows([], owner, len(passages))
        self.starts = np.append(self.windows.starts, len(owner))
        self.lexical = lexical
        self.mode = mode if lexical is not None else "dense"
        self.fusion = fusion
        self.reranker = reranker
        self.rerank = rerank
        self.rerank_default = rerank_default and reranker is not None

    def __len__(self) -> int:
        return len(self.passages)

    def modes(self) -> tuple[str, ...]:
        return MODES if self.lexical is not None else ("dense",)

    def dense_all(self, query_vectors: np.ndarray) -> np.ndarray:
        """Exact dense scores of every passage [q, passages]: each passage's best window."""
        return best_window(np.asarray(query_vectors, dtype=np.float32) @ np.asarray(self.vectors).T, self.windows)

    def dense_of(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact dense scores of some passages for one question (their best window)."""
        return np.array(
            [float((self.vectors[self.starts[r] : self.starts[r + 1]] @ query_vector).max()) for r in rows],
            dtype=np.float32,
        )

    def dense_candidates(self, query_vector: np.ndarray, n: int) -> np.ndarray:
        """The approximate index's n best passages (their windows' candidates, mapped to passages)."""
        window_rows, _ = approximate_top_k(self.ann, self.vectors, query_vector[None, :], 2 * n)
        rows = self.windows.owner[window_rows[0][window_rows[0] >= 0]]
        return np.array(list(dict.fromkeys(rows.tolist()))[:n], dtype=np.int64)

    def answers(self, questions: list[str], k: int, mode: str | None = None, rerank: bool | None = None) -> list[dict]:
        """For each question {"mode", "rerank", "hits"} (a "note" when hybrid fell back to the dense side), or
        {"mode", "error"} when BM25 alone cannot rank it. `rerank` None: the searcher's default."""
        mode = mode or self.mode
        if mode not in self.modes():
            raise ValueError(f"mode {mode!r}: this searcher ranks with {', '.join(self.modes())}")
        rerank = self.rerank_default if rerank is None else rerank
        if rerank and self.reranker is None:
            raise ValueError("re-ranking asked for, but this searcher has no re-ranker")
        if not questions:
            return []
        vectors = check_finite(self.encoder.encode(list(questions), "query")) if mode != "bm25" else None
        dense = self.dense_all(vectors) if vectors is not None and self.ann is None else None
        answers = [
            self._answer(
                q, None if vectors is None else vectors[i], None if dense is None else dense[i], k, mode, rerank
            )
            for i, q in enumerate(questions)
        ]
        return [self._reranked(q, a, k) if rerank and "hits" in a else a for q, a in zip(questions, answers)]

    def _reranked(self, question: str, answer: dict, k: int) -> dict:
        """The answer with its first top_k hits re-ordered by the re-ranker (each passage by its best window), fused
        with their first-stage scores by the re-ranker's weight; hits below top_k keep their order and score."""
        hits, top = answer["hits"], min(self.rerank.top_k, len(answer["hits"]))
        texts = [hit["text"] for hit in hits[:top]]
        model = best_window_scores([question], [texts], self.reranker, self.rerank.overlap, 32)[0] if top else []
        first = np.array([hit["score"] for hit in hits[:top]], dtype=np.float64)
        order, final = reorder(np.arange(top), first, np.asarray(model, dtype=np.float64), self.rerank.weight)
        ranked = [
            {**hits[i], "score": round(float(f), 6), "rerank_score": round(float(model[i]), 6)}
            for i, f in zip(order, final)
        ]
        ranked += hits[top:]
        for rank, hit in enumerate(ranked[:k], 1):
            hit["rank"] = rank
        return {**answer, "rerank": True, "hits": ranked[:k]}

    def _answer(self, question: str, vector, dense: np.ndarray | None, k: int, mode: str, rerank: bool) -> dict:
        lexical = self.lexical.scores(question) if mode != "dense" else None
        k = max(k, self.rerank.top_k) if rerank else k  # the re-ranker reads the first stage's top_k
        if mode == "bm25":
            if lexical is None:
                return {"mode": mode, "error": "no word of the question occurs in the passages (BM25 cannot rank it)"}
            rows = top_rows(lexical, k)
            rows = rows[lexical[rows] > 0]
            return {"mode": mode, "rerank": False, "hits": self._hits(rows, lexical[rows], lexical=lexical[rows])}
        n = self.fusion.candidates if mode == "hybrid" else k  # hybrid: at most the fused candidates are hits
        if dense is not None:  # exact: every passage scored
            rows = candidate_rows(dense, lexical, n)
            dense_rows = dense[rows]
        else:  # approximate: the index's candidates and BM25's, scored exactly
            rows = self.dense_candidates(vector, n)
            if lexical is not None:
                rows = np.union1d(rows, top_rows(lexical, n))
            dense_rows = self.dense_of(vector, rows)
        lexical_rows = None if lexical is None else lexical[rows]
        fused = fuse(dense_rows, lexical_rows, self.fusion) if mode == "hybrid" else dense_rows
        order = np.lexsort((rows, -fused))[:k]
        shown_lexical = None if lexical_rows is None or mode != "hybrid" else lexical_rows[order]
        hits = self._hits(rows[order], fused[order], dense_rows[order], shown_lexical)
        answer = {"mode": mode, "rerank": False, "hits": hits}
        if mode == "hybrid" and lexical is None:
            answer["note"] = NO_LEXICAL_NOTE
        return answer

    def _hits(self, rows, scores, dense=None, lexical=None) -> list[dict]:
        """Hit dicts of passage rows, best first: the ranking score, and each retriever's score where known."""
        hits = []
        for i, (r, s) in enumerate(zip(rows, scores)):
            hit = {**{key: self.passages[r].get(key, "") for key in HIT_KEYS}, "score": round(float(s), 6)}
            hit["rank"] = i + 1
            if dense is not None:
                hit["dense_score"] = round(float(dense[i]), 6)
            if lexical is not None:
                hit["lexical_score"] = round(float(lexical[i]), 6)
            hits.append(hit)
        return hits

    def rank(self, query_vectors: np.ndarray, k: int) -> list[list[dict]]:
        """Dense hits for already-encoded queries (each passage scored by its best window)."""
        if len(query_vectors) == 0:
            return []
        query_vectors = check_finite(np.asarray(query_vectors, dtype=np.float32))
        if self.ann is None:
            dense = self.dense_all(query_vectors)
            return [self._hits(rows := top_rows(d, k), d[rows], d[rows]) for d in dense]
        out = []
        for vector in np.asarray(query_vectors, dtype=np.float32):
            rows = self.dense_candidates(vector, k)
            scores = self.dense_of(vector, rows)
            order = np.lexsort((rows, -scores))[:k]
            out.append(self._hits(rows[order], scores[order], scores[order]))
        return out

    def search(
        self, questions: list[str], k: int, mode: str | None = None, rerank: bool | None = None
    ) -> list[list[dict]]:
        """Top-k hits of each (non-empty, normalised) question, in order ([] where BM25 alone cannot rank one)."""
        return [a.get("hits", []) for a in self.answers(list(questions), k, mode, rerank)]
