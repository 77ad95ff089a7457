"""Hard negatives with the mine stage's guards, shared by the mine and train_reranker stages: a candidate that is
the positive or contains the answer text is dropped, one that scores within the relative margin of the positive
is never a candidate, and a question left short is topped up with seeded random passages (counted)."""

from __future__ import annotations

import random

from banglasim.config.params import MineParams
from banglasim.core.errors import UserError
from banglasim.retrieval.fusion import top_rows
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex

EXTRA_CANDIDATES = 5  # mined beyond N, so that dropping answer-bearing passages rarely leaves a question short


def answer_free(answer: str | None, positive: str, candidates: list[str]) -> list[str]:
    """Candidates that are not the positive and do not contain the answer text, in order, without repeats."""
    seen, out = {positive}, []
    for text in candidates:
        if text in seen or (answer and answer in text):
            continue
        seen.add(text)
        out.append(text)
    return out


def keep_negatives(rows: list[dict], n: int, found: dict, seed: int) -> tuple[list[dict], dict]:
    """Each row with its first n candidates (`found[(anchor, positive)]`) that lack the answer, topped up with
    seeded random passages (also without it) when fewer are left; and the counts."""
    corpus = sorted({r["positive"] for r in rows})
    rng = random.Random(seed)
    out, topped_up, answer_dropped = [], 0, 0
    for r in rows:
        candidates = found.get((r["anchor"], r["positive"]), [])
        kept = answer_free(r.get("answer"), r["positive"], candidates)
        answer_dropped += sum(1 for c in candidates if r.get("answer") and r["answer"] in c)
        if len(kept) < n:
            topped_up += 1
            pool = answer_free(r.get("answer"), r["positive"], rng.sample(corpus, len(corpus)))
            kept += [p for p in pool if p not in kept][: n - len(kept)]
        if len(kept) < n:
            raise UserError(
                f"question {r.get('query_id', '?')}: fewer than {n} training passages lack its answer",
                fix="lower train.hard_negatives",
            )
        out.append({**r, "negatives": kept[:n]})
    counts = {
        "hard_negatives": n,
        "questions": len(rows),
        "mined_in_full": len(rows) - topped_up,
        "topped_up_with_random": topped_up,
        "candidates_with_the_answer_dropped": answer_dropped,
    }
    return out, counts


def bm25_candidates(rows: list[dict], n: int, cfg: MineParams, bm25: Bm25Settings) -> dict[tuple[str, str], list[str]]:
    """For each (question, positive): BM25's top training passages that score below (1 - relative_margin) of the
    positive's score, best first (at most max(range_max, n + EXTRA_CANDIDATES) considered)."""
    corpus = sorted({r["positive"] for r in rows})
    row_of = {text: i for i, text in enumerate(corpus)}
    index = LexicalIndex.build(corpus, bm25)
    found = {}
    for r in rows:
        scores = index.scores(r["anchor"])
        if scores is None:  # no word of the question in any passage: random passages top it up
            found[(r["anchor"], r["positive"])] = []
            continue
        ceiling = scores[row_of[r["positive"]]] * (1 - cfg.relative_margin)
        top = top_rows(scores, max(cfg.range_max, n + EXTRA_CANDIDATES) + 1)
        found[(r["anchor"], r["positive"])] = [
            corpus[i] for i in top if corpus[i] != r["positive"] and 0 < scores[i] <= ceiling
        ]
    return found
