"""What evaluate puts first: the headline metrics of metrics/evaluate.json (what `dvc exp show` lists) and the
stage's closing line."""

from __future__ import annotations

from banglasim.evaluation.retrievers import best_retriever

# What `dvc exp show` / `dvc metrics diff` list: the test split's headline, whole-corpus ranking, kept short so
# that every metric of a run stays within 34 values (validation MRR@10 of the base and of the published step:
# metrics/train.json; everything else, within-split figures included: reports/evaluation.json)
HEADLINE_KEYS = {
    "base": ("mrr_at_10",),
    "tuned": ("mrr_at_10",),
    "delta": ("mrr_at_10", "mrr_at_10_ci_low", "mrr_at_10_ci_high"),
    "export": ("mrr_at_10",),
    "bm25": ("mrr_at_10",),
    "hybrid": ("mrr_at_10", "recall_at_1"),
    "hybrid_vs_bm25": ("mrr_at_10", "mrr_at_10_ci_low", "mrr_at_10_ci_high"),
    "tuned_vs_bm25": ("mrr_at_10", "mrr_at_10_ci_low", "mrr_at_10_ci_high"),
    "reranked": ("mrr_at_10",),
    "reranked_vs_bm25": ("mrr_at_10", "mrr_at_10_ci_low", "mrr_at_10_ci_high"),
}


def headline(result: dict) -> dict:
    """The headline metrics of the test split: HEADLINE_KEYS of each model present (intervals where computed)."""
    test = result["test"]
    return {
        "test": {
            model: {k: test[model][k] for k in keys if k in test[model]}
            for model, keys in HEADLINE_KEYS.items()
            if model in test
        }
    }


def summary_line(result: dict) -> str:
    """The stage's closing line: which retriever wins on test, then MRR@10 base -> tuned (with its 95% interval),
    BM25 and the hybrid against BM25."""
    test = result["test"]
    b, t, w = test["base"], test["tuned"], test["within_split"]
    ci = (
        f" (95% CI {t['mrr_at_10_ci_low']:.4f}-{t['mrr_at_10_ci_high']:.4f})"
        if "mrr_at_10_ci_low" in t
        else " (no interval: evaluate.bootstrap_samples is 0)"
    )
    line = (
        f"evaluate (test, {test['n_queries']} questions against all {test['n_passages']} "
        f"passages): MRR@10 base {b['mrr_at_10']:.4f} -> tuned {t['mrr_at_10']:.4f}{ci}; within the split "
        f"{w['base']['mrr_at_10']:.4f} -> {w['tuned']['mrr_at_10']:.4f}; eval score {b['eval_score']:.4f} -> "
        f"{t['eval_score']:.4f}" + (f"; export MRR@10 {test['export']['mrr_at_10']:.4f}" if "export" in test else "")
    )
    if "hybrid" in test:
        d = test["hybrid_vs_bm25"]
        interval = f" [{d['mrr_at_10_ci_low']:+.4f}, {d['mrr_at_10_ci_high']:+.4f}]" if "mrr_at_10_ci_low" in d else ""
        line = f"evaluate (test): {best_retriever(test)}; hybrid - BM25 {d['mrr_at_10']:+.4f}{interval}\n" + line
    if "reranked" in test:
        d = test["reranked_vs_bm25"]
        interval = f" [{d['mrr_at_10_ci_low']:+.4f}, {d['mrr_at_10_ci_high']:+.4f}]" if "mrr_at_10_ci_low" in d else ""
        line += (
            f"\nre-ranked (hybrid's top {test['rerank']['top_k']}): MRR@10 {test['reranked']['mrr_at_10']:.4f}, "
            f"- BM25 {d['mrr_at_10']:+.4f}{interval}"
        )
    return line
