"""Re-ranking: a cross-encoder reads the question together with each of the first stage's top passages and
re-orders them; the one implementation that train_reranker's validation, evaluate, search and serve run.

A long passage is read by windows, as the dense side reads it: each window holds what `reranker.max_length`
leaves after the question and the pair's special pieces (retrieval.window_overlap shared by neighbours), and
the passage scores as its best window. Over the first stage's top_k passages the final score is
weight x z(re-ranker) + (1 - weight) x z(first stage) (weight 1: the re-ranker's order alone); passages below
top_k keep the first stage's order after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from banglasim.retrieval.windows import MARGIN, _plain, offset_spans, window_step

MIN_WINDOW = 16  # passage pieces per window however long the question (the tokenizer truncates the pair)


class PairScorer(Protocol):
    """What re-ranking needs of a cross-encoder (the torch model or its ONNX export)."""

    key: str  # identifies the weights (a folder digest, the export's model hash)
    max_length: int  # pieces of a (question, window) pair the model reads

    def score(self, questions: list[str], texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 relevance logits, one per (question, text) pair, in input order."""
        ...

    def window_tokenizer(self) -> tuple:
        """(`tokenizers.Tokenizer`, max_length): how windows are cut."""
        ...


@dataclass(frozen=True)
class RerankSettings:
    top_k: int = 20  # first-stage passages re-ranked
    weight: float = 1.0  # the re-ranker's weight in the fusion with the first stage
    overlap: int = 64  # window overlap, in pieces

    def as_dict(self) -> dict:
        return asdict(self)


class WindowCutter:
    """Cuts passages into windows for (question, window) pairs: each window holds what max_length leaves after the
    question, the pair's special pieces and a margin (at least MIN_WINDOW pieces). The tokenizer is copied once."""

    def __init__(self, tokenizer, max_length: int, overlap: int) -> None:
        self.plain = _plain(tokenizer)
        self.max_length, self.overlap = max_length, overlap
        single = len(self.plain.encode("a", add_special_tokens=False).ids)
        self.specials = len(self.plain.encode("a", "a").ids) - 2 * single  # [CLS] q [SEP] p [SEP]: 3

    def room(self, question: str) -> int:
        """Passage pieces per window for this question."""
        asked = len(self.plain.encode(question, add_special_tokens=False).ids)
        return max(MIN_WINDOW, self.max_length - self.specials - asked - MARGIN)

    def spans(self, question: str, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """The character spans of each text's windows for this question (one span, the whole text, when it fits)."""
        room = self.room(question)
        step = window_step(room, self.overlap)
        encodings = self.plain.encode_batch(list(texts), add_special_tokens=False)
        return [offset_spans(text, enc.offsets, room, step) for text, enc in zip(texts, encodings)]


def best_window_scores(
    questions: Sequence[str], candidates: Sequence[Sequence[str]], scorer: PairScorer, overlap: int, batch_size: int
) -> list[np.ndarray]:
    """For each question, the re-ranker's score of each of its candidate texts (its best window); every pair of
    every question goes through the scorer in one call, so batches are full."""
    cutter = WindowCutter(*scorer.window_tokenizer(), overlap)
    pair_q, pair_t, owners = [], [], []
    for q, (question, texts) in enumerate(zip(questions, candidates)):
        for c, (text, spans) in enumerate(zip(texts, cutter.spans(question, texts))):
            for a, b in spans:
                pair_q.append(question)
                pair_t.append(text[a:b])
                owners.append((q, c))
    scores = scorer.score(pair_q, pair_t, batch_size) if pair_q else np.zeros(0, dtype=np.float32)
    out = [np.full(len(texts), -np.inf, dtype=np.float32) for texts in candidates]
    for (q, c), s in zip(owners, scores):
        out[q][c] = max(out[q][c], float(s))
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def fuse_rerank(first: np.ndarray, reranked: np.ndarray, weight: float) -> np.ndarray:
    """weight x z(re-ranker) + (1 - weight) x z(first stage), over one question's re-ranked candidates."""
    first, reranked = np.asarray(first, dtype=np.float64), np.asarray(reranked, dtype=np.float64)
    if weight >= 1:
        return reranked
    return weight * _zscore(reranked) + (1 - weight) * _zscore(first)


def reorder(rows: np.ndarray, first: np.ndarray, reranked: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The re-ranked candidates (`rows`, best first by the first stage, scored `first` and `reranked`) in their new
    order, with their final scores; ties keep the first stage's order."""
    final = fuse_rerank(first, reranked, weight)
    order = np.lexsort((np.arange(len(rows)), -final))
    return np.asarray(rows)[order], final[order]


def rerank_ranks(
    questions: Sequence[str],
    first_rows: Sequence[np.ndarray],
    first_scores: Sequence[np.ndarray],
    first_ranks: np.ndarray,
    positives: np.ndarray,
    scored: list[np.ndarray],
    settings: RerankSettings,
) -> np.ndarray:
    """Ranks of each question's own passage after re-ranking its first stage's top_k (`first_rows`/`first_scores`:
    the first stage's order, best first; `scored`: the re-ranker's scores of at least the top_k of them, from
    `best_window_scores`; `first_ranks`: the own passage's first-stage rank)."""
    ranks = np.empty(len(questions), dtype=np.int64)
    for q in range(len(questions)):
        k = min(settings.top_k, len(first_rows[q]))
        rows, _ = reorder(first_rows[q][:k], first_scores[q][:k], scored[q][:k], settings.weight)
        hit = np.flatnonzero(rows == int(positives[q]))  # not re-ranked: below top_k, its first-stage rank stands
        ranks[q] = int(hit[0]) + 1 if len(hit) else int(first_ranks[q])
    return ranks
