"""The re-ranker's training examples: each training question with its passage window as the positive and hard
negatives from the first stage, guarded against false negatives as the mine stage guards them.

Negatives come from the training passages only (`reranker.negatives_from`): BM25's top passages (`bm25`) or
the hybrid's (`hybrid`: the base model, each passage by its best window, fused with BM25 by the retrieval
section's fusion); a candidate is kept only when it scores below (1 - mine.relative_margin) of the question's
own passage (on both sides for the hybrid) and does not contain the answer text; a question left short is
topped up with seeded random passages (counted). The positive is the window of its passage that holds the
answer; a negative passage is read by its window that shares the most words with the question.
"""

from __future__ import annotations

import random

import numpy as np

from banglasim.config.params import MineParams
from banglasim.data.negatives import EXTRA_CANDIDATES, keep_negatives
from banglasim.retrieval.fusion import FusionSettings, candidate_rows, fuse
from banglasim.retrieval.lexical import Analyzer, Bm25Settings, LexicalIndex
from banglasim.retrieval.rerank import WindowCutter
from banglasim.retrieval.windows import answer_window


def sample_questions(rows: list[dict], limit: int, seed: int) -> list[dict]:
    """All rows (limit 0), or a seeded sample of `limit` of them in their file order."""
    if not limit or limit >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def hybrid_candidates(
    rows: list[dict], n: int, cfg: MineParams, bm25: Bm25Settings, fusion: FusionSettings, dense: np.ndarray
) -> dict[tuple[str, str], list[str]]:
    """For each (question, positive): the hybrid's top training passages that score below (1 - relative_margin)
    of the positive on the dense side and on BM25's, best first. `dense`: [questions, corpus] base-model scores
    of the sorted training passages (each by its best window)."""
    corpus = sorted({r["positive"] for r in rows})
    row_of = {text: i for i, text in enumerate(corpus)}
    index = LexicalIndex.build(corpus, bm25)
    keep = max(cfg.range_max, n + EXTRA_CANDIDATES)
    found = {}
    for q, r in enumerate(rows):
        lexical = index.scores(r["anchor"])
        own = row_of[r["positive"]]
        cand = candidate_rows(dense[q], lexical, max(fusion.candidates, keep))
        fused = fuse(dense[q][cand], None if lexical is None else lexical[cand], fusion)
        ceiling = 1 - cfg.relative_margin
        out = []
        for i in cand[np.lexsort((cand, -fused))]:
            if i == own or dense[q][i] > ceiling * dense[q][own]:
                continue
            if lexical is not None and lexical[i] > ceiling * lexical[own]:
                continue
            out.append(corpus[i])
            if len(out) == keep:
                break
        found[(r["anchor"], r["positive"])] = out
    return found


def closest_window(question: str, text: str, spans: list[tuple[int, int]], analyzer: Analyzer) -> str:
    """The window of a text that shares the most distinct words with the question (the first on ties)."""
    if len(spans) == 1:
        return text[spans[0][0] : spans[0][1]]
    asked = set(analyzer.terms(question))
    overlaps = [len(asked & set(analyzer.terms(text[a:b]))) for a, b in spans]
    a, b = spans[int(np.argmax(overlaps))]
    return text[a:b]


def training_examples(
    rows: list[dict], n: int, found: dict, tokenizer, max_length: int, overlap: int, analyzer: Analyzer, seed: int
) -> tuple[list[dict], dict]:
    """Rows {query, positive, negatives} of windows, and the counts (negatives mined and topped up, which rule
    chose each positive window)."""
    mined, counts = keep_negatives(rows, n, found, seed)
    rules = {"whole": 0, "answer": 0, "first": 0}
    cutter, out = WindowCutter(tokenizer, max_length, overlap), []
    for r in mined:
        texts = [r["positive"], *r["negatives"]]
        spans = cutter.spans(r["anchor"], texts)
        positive, rule = answer_window(r["positive"], spans[0], r.get("answer"))
        rules[rule] += 1
        negatives = [closest_window(r["anchor"], t, s, analyzer) for t, s in zip(texts[1:], spans[1:])]
        out.append({"query": r["anchor"], "positive": positive, "negatives": negatives})
    counts["positive_windows"] = rules
    return out, counts
