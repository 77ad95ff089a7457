"""BM25 and the hybrid in evaluate: the keyword engine every figure faces, and the default search, ranked by
the same code search and serve run (retrieval/lexical.py and retrieval/fusion.py) against the whole corpus.

The hybrid fuses the export's dense scores (the product's model, each passage by its best window) with BM25.
On validation only, `fusion_sweep` scores the other fusions (z-score weights, RRF), so the choice of
retrieval.fusion and retrieval.dense_weight can be read off the report; test never chooses anything.
"""

from __future__ import annotations

import numpy as np

from banglasim.evaluation.metrics import bootstrap_mrr_ci, paired_delta_ci, pessimistic_ranks, retrieval_metrics
from banglasim.retrieval.fusion import FusionSettings, hybrid_ranks
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex

SWEEP_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def lexical_scores(corpus: list[str], queries: list[str], settings: Bm25Settings) -> list[np.ndarray | None]:
    """BM25 scores of every corpus passage for each query (None: no term of the query occurs in the corpus)."""
    index = LexicalIndex.build(corpus, settings)
    return [index.scores(q) for q in queries]


def bm25_ranks(lexical: list[np.ndarray | None], positives: np.ndarray, passages: int) -> np.ndarray:
    """Pessimistic ranks by BM25 alone; a query BM25 cannot rank ties every passage (ranks last)."""
    scores = np.stack([s if s is not None else np.zeros(passages, dtype=np.float32) for s in lexical])
    return pessimistic_ranks(scores, positives)


def with_interval(ranks: np.ndarray, samples: int, seed: int) -> dict:
    out = retrieval_metrics(ranks)
    if samples:
        out["mrr_at_10_ci_low"], out["mrr_at_10_ci_high"] = bootstrap_mrr_ci(ranks, samples, seed)
    return out


def paired_change(before: np.ndarray, after: np.ndarray, samples: int, seed: int) -> dict:
    """After minus before: MRR@10 and Recall@1 changes, with the paired 95% interval of MRR@10's."""
    a, b = retrieval_metrics(after), retrieval_metrics(before)
    out = {k: a[k] - b[k] for k in ("mrr_at_10", "recall_at_1", "recall_at_10")}
    if samples:
        out["mrr_at_10_ci_low"], out["mrr_at_10_ci_high"] = paired_delta_ci(before, after, samples, seed)
    return out


def fusion_sweep(
    dense: np.ndarray, lexical: list[np.ndarray | None], positives: np.ndarray, candidates: int, rrf_k: int
) -> list[dict]:
    """MRR@10 and Recall@1 of each fusion method and dense weight (the choice is read off validation)."""
    rows = []
    for method in ("zscore", "rrf"):
        for weight in SWEEP_WEIGHTS:
            settings = FusionSettings(method, weight, rrf_k, candidates)
            m = retrieval_metrics(hybrid_ranks(dense, lexical, positives, settings))
            rows.append({"method": method, "dense_weight": weight, **{k: m[k] for k in ("mrr_at_10", "recall_at_1")}})
    return rows


def keyword_and_hybrid(
    scored: dict, bm25: Bm25Settings, fusion: FusionSettings, dense_ranks: dict, samples: int, seed: int, sweep: bool
) -> dict:
    """The bm25 and hybrid blocks of one split, their changes against BM25 (and the hybrid's against the export's
    dense ranking), from the export's scores (`scored`: corpus, queries, corpus_scores, positive_rows)."""
    positives, passages = scored["positive_rows"], len(scored["corpus"])
    lexical = lexical_scores(scored["corpus"], scored["queries"], bm25)
    keyword = bm25_ranks(lexical, positives, passages)
    hybrid = hybrid_ranks(scored["corpus_scores"], lexical, positives, fusion)
    out = {
        "bm25": with_interval(keyword, samples, seed),
        "hybrid": with_interval(hybrid, samples, seed),
        "hybrid_vs_bm25": paired_change(keyword, hybrid, samples, seed),
        "hybrid_vs_export": paired_change(dense_ranks["export"], hybrid, samples, seed),
        "tuned_vs_bm25": paired_change(keyword, dense_ranks["tuned"], samples, seed),
        "bm25_cannot_rank": sum(s is None for s in lexical),
        "retrieval": {"bm25": bm25.as_dict(), "fusion": fusion.as_dict()},
    }
    out["_first_stage"] = {"lexical": lexical, "bm25": keyword, "hybrid": hybrid}  # compare() pops it (re-ranking)
    if sweep:
        out["fusion_sweep"] = fusion_sweep(scored["corpus_scores"], lexical, positives, fusion.candidates, fusion.rrf_k)
    return out


def best_retriever(part: dict) -> str:
    """Which of BM25, the dense model (the export) and the hybrid ranks the right passage first most often."""
    figures = {
        "BM25": part["bm25"]["mrr_at_10"],
        "dense (the export)": part["export"]["mrr_at_10"],
        "hybrid": part["hybrid"]["mrr_at_10"],
    }
    best = max(figures, key=figures.get)
    detail = ", ".join(f"{name} {value:.4f}" for name, value in figures.items())
    return f"{best} finds the right passage most often (MRR@10: {detail})"
