"""Retrieval ranks and metrics from embeddings, and their bootstrap intervals: pure numpy, no model.

`pessimistic_ranks` is the one ranking both train (validation MRR@10) and evaluate use, over each
question's scores of every passage of a corpus (cosine of its best window, BM25 or fused: `cosine_ranks`
for plain vectors). Ranks are pessimistic (a passage that ties with the right one counts against it), so
a collapsed model cannot score well; NaN or identical embeddings stop the run with a clear error.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from banglasim.core.errors import UserError

RECALL_AT = (1, 5, 10)


def check_embeddings(emb: np.ndarray, what: str) -> None:
    """Refuse embeddings that make every metric meaningless: NaN/inf, or all rows identical."""
    if not np.isfinite(emb).all():
        raise UserError(
            f"{what}: the model's embeddings contain NaN or inf",
            fix="the weights are broken (did training diverge?): lower train.learning_rate and retrain",
        )
    if len(emb) > 1 and float(np.ptp(emb, axis=0).max()) < 1e-6:
        raise UserError(
            f"{what}: all {len(emb)} embeddings are identical (a collapsed model)",
            fix="retrain with a lower train.learning_rate, or check the base model",
        )


def pessimistic_ranks(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """1-based rank of each row's own column (positives[i]) by score; any tie with it counts against it."""
    own = scores[np.arange(len(scores)), positives]
    return (scores >= own[:, None]).sum(axis=1)


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def cosine_ranks(queries: np.ndarray, corpus: np.ndarray, positives: np.ndarray, chunk: int = 512) -> np.ndarray:
    """1-based pessimistic rank of each query's own passage (corpus row `positives[i]`) among all corpus rows,
    by cosine similarity; `chunk` queries at a time, so memory stays chunk x corpus."""
    q, c = normalised(queries), normalised(corpus)
    positives = np.asarray(positives, dtype=int)
    if len(q) != len(positives):
        raise ValueError(f"{len(q)} queries but {len(positives)} positives")
    ranks = np.empty(len(q), dtype=int)
    for start in range(0, len(q), chunk):
        end = start + chunk
        ranks[start:end] = pessimistic_ranks(q[start:end] @ c.T, positives[start:end])
    return ranks


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    """Each query's contribution to MRR@10: 1/rank within the top 10, else 0."""
    return np.where(ranks <= 10, 1.0 / ranks, 0.0)


def retrieval_metrics(ranks: np.ndarray) -> dict[str, float]:
    """MRR@10, Recall@1/5/10 and nDCG@10 for one relevant passage per query."""
    out = {"mrr_at_10": float(reciprocal_ranks(ranks).mean())}
    for k in RECALL_AT:
        out[f"recall_at_{k}"] = float((ranks <= k).mean())
    out["ndcg_at_10"] = float(np.where(ranks <= 10, 1.0 / np.log2(ranks + 1), 0.0).mean())
    return out


def bootstrap_ci(
    ranks: np.ndarray, pair_query: np.ndarray, pair_cos: np.ndarray, labels: np.ndarray, samples: int, seed: int
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals for MRR@10 and eval score, resampling questions (with all their pairs)."""
    if samples == 0:
        return {}
    rng = np.random.default_rng(seed)
    rr = reciprocal_ranks(ranks)
    pairs_of = [np.flatnonzero(pair_query == i) for i in range(len(ranks))]
    mrr, score = np.empty(samples), np.empty(samples)
    for b in range(samples):
        pick = rng.integers(0, len(ranks), len(ranks))
        mrr[b] = rr[pick].mean()
        idx = np.concatenate([pairs_of[i] for i in pick])
        score[b] = spearmanr(labels[idx], pair_cos[idx]).statistic if len(set(labels[idx])) > 1 else np.nan
    out = {"mrr_at_10": tuple(np.percentile(mrr, [2.5, 97.5]))}
    if np.isfinite(score).any():
        out["eval_score"] = tuple(np.nanpercentile(score, [2.5, 97.5]))
    return out


def bootstrap_mrr_ci(ranks: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of MRR@10 alone, from the same resampled questions as bootstrap_ci (same seed)."""
    rng = np.random.default_rng(seed)
    rr = reciprocal_ranks(ranks)
    means = [rr[rng.integers(0, len(rr), len(rr))].mean() for _ in range(samples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_delta_ci(base_ranks: np.ndarray, tuned_ranks: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """95% interval of tuned minus base MRR@10, resampling the questions once for both (a paired bootstrap)."""
    diff = reciprocal_ranks(tuned_ranks) - reciprocal_ranks(base_ranks)
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(samples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
