"""The re-ranker in evaluate: the hybrid's top passages of each question (whole corpus) re-ranked by the code
search and serve run (retrieval/rerank.py), against BM25 and the hybrid alone with paired intervals.

The fine-tuned re-ranker (torch, fp32) gives the figures; its export (ONNX) re-ranks the same candidates for
the parity check (`reranked_export_vs_reranked`). On validation only, `rerank_sweep` scores every top_k of
SWEEP_TOP_K and weight of SWEEP_WEIGHTS from one scoring of the deepest candidates, so reranker.top_k,
reranker.weight and reranker.default are read off the report; test never chooses anything.
"""

from __future__ import annotations

import json
import time

import numpy as np

from banglasim.evaluation.metrics import retrieval_metrics
from banglasim.evaluation.retrievers import paired_change, with_interval
from banglasim.retrieval.fusion import FusionSettings, candidate_rows, fuse
from banglasim.retrieval.rerank import PairScorer, RerankSettings, best_window_scores, rerank_ranks

SWEEP_TOP_K = (5, 10, 20)
SWEEP_WEIGHTS = (0.25, 0.5, 0.75, 1.0)


def hybrid_orders(
    dense: np.ndarray, lexical: list[np.ndarray | None], fusion: FusionSettings, depth: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each question's `depth` best passages by the hybrid (rows and fused scores, best first; ties by row)."""
    rows, scores = [], []
    for d, lex in zip(dense, lexical):
        cand = candidate_rows(d, lex, fusion.candidates)
        fused = fuse(d[cand], None if lex is None else lex[cand], fusion)
        order = np.lexsort((cand, -fused))[:depth]
        rows.append(cand[order])
        scores.append(fused[order])
    return rows, scores


def score_candidates(
    scorer: PairScorer, questions: list[str], corpus: list[str], rows: list[np.ndarray], depth: int, overlap: int
) -> tuple[list[np.ndarray], float]:
    """The scorer's best-window score of each question's first `depth` candidates; seconds per question."""
    started = time.perf_counter()
    texts = [[corpus[i] for i in r[:depth]] for r in rows]
    scored = best_window_scores(questions, texts, scorer, overlap, batch_size=32)
    return scored, (time.perf_counter() - started) / max(1, len(questions))


def sweep(first: dict, scored: list[np.ndarray], depth: int, overlap: int) -> list[dict]:
    """MRR@10 and Recall@1 of each top_k (up to `depth`) and weight, from one scoring of the candidates."""
    out = []
    for top_k in [k for k in SWEEP_TOP_K if k <= depth]:
        for weight in SWEEP_WEIGHTS:
            ranks = rerank_ranks(
                first["questions"], first["rows"], first["scores"], first["ranks"], first["positives"], scored,
                RerankSettings(top_k, weight, overlap),
            )  # fmt: skip
            m = retrieval_metrics(ranks)
            out.append({"top_k": top_k, "weight": weight, "mrr_at_10": m["mrr_at_10"], "recall_at_1": m["recall_at_1"]})
    return out


def reranked_block(
    scored: dict,
    lexical: list[np.ndarray | None],
    first_ranks: dict[str, np.ndarray],
    fusion: FusionSettings,
    scorers: dict[str, PairScorer],
    settings: RerankSettings,
    samples: int,
    seed: int,
    with_sweep: bool,
    depth: int | None = None,
) -> dict:
    """The re-ranked figures of one split: `scorers` "reranker" (the figures) and optionally "export" (parity);
    `first_ranks`: the own passage's rank by "bm25" and by the "hybrid" (the first stage); `depth`: the candidates
    scored per question (default: the sweep's deepest top_k on validation, else top_k)."""
    depth = depth or max(settings.top_k, max(SWEEP_TOP_K) if with_sweep else 0)
    rows, scores = hybrid_orders(scored["corpus_scores"], lexical, fusion, depth)
    first = {
        "questions": scored["queries"],
        "rows": rows,
        "scores": scores,
        "ranks": first_ranks["hybrid"],
        "positives": scored["positive_rows"],
    }
    model_scores, seconds = score_candidates(
        scorers["reranker"], scored["queries"], scored["corpus"], rows, depth, settings.overlap
    )
    ranks = rerank_ranks(first["questions"], rows, scores, first["ranks"], first["positives"], model_scores, settings)
    out = {
        "reranked": with_interval(ranks, samples, seed),
        "reranked_vs_bm25": paired_change(first_ranks["bm25"], ranks, samples, seed),
        "reranked_vs_hybrid": paired_change(first_ranks["hybrid"], ranks, samples, seed),
        "rerank": {
            **settings.as_dict(),
            "first_stage_recall_at_top_k": float(np.mean(first_ranks["hybrid"] <= settings.top_k)),
            "scored_depth": depth,  # candidates the torch model scored per question (the sweep's deepest)
            "torch_seconds_per_question": round(seconds, 4),
        },
    }
    if "export" in scorers:
        export_scores, export_seconds = score_candidates(
            scorers["export"], scored["queries"], scored["corpus"], rows, settings.top_k, settings.overlap
        )
        export_ranks = rerank_ranks(
            first["questions"], rows, scores, first["ranks"], first["positives"], export_scores, settings
        )
        out["reranked_export"] = with_interval(export_ranks, samples, seed)
        out["reranked_export_vs_reranked"] = paired_change(ranks, export_ranks, samples, seed)
        out["rerank"]["export_seconds_per_question"] = round(export_seconds, 4)
    if with_sweep:
        out["rerank_sweep"] = sweep(first, model_scores, depth, settings.overlap)
    return out


def rerank_note(part: dict) -> list[str]:
    """The report's lines on re-ranking: against the hybrid alone, the export's parity, the validation sweep."""
    if "reranked" not in part:
        return []
    r, d = part["rerank"], part["reranked_vs_hybrid"]
    interval = f" [{d['mrr_at_10_ci_low']:+.4f}, {d['mrr_at_10_ci_high']:+.4f}]" if "mrr_at_10_ci_low" in d else ""
    lines = [
        "",
        f"Re-ranking the hybrid's top {r['top_k']} (re-ranker weight {r['weight']}; the right passage is among them "
        f"for {r['first_stage_recall_at_top_k']:.1%} of the questions): MRR@10 - hybrid {d['mrr_at_10']:+.4f}"
        f"{interval} (paired 95% interval).",
    ]
    if "reranked_export_vs_reranked" in part:
        lines.append(
            f"The re-ranker's export scores {part['reranked_export']['mrr_at_10']:.4f}, export - fp32 "
            f"{part['reranked_export_vs_reranked']['mrr_at_10']:+.4f}."
        )
    if part.get("rerank_sweep"):
        best = max(part["rerank_sweep"], key=lambda row: row["mrr_at_10"])
        lines.append(
            f"Re-ranking sweep (this split): the best is top_k {best['top_k']} with weight {best['weight']} "
            f"(MRR@10 {best['mrr_at_10']:.4f}, hybrid alone {part['hybrid']['mrr_at_10']:.4f}); every row is in "
            "reports/evaluation.json (`rerank_sweep`)."
        )
    return lines


def reranker_training_lines(record: dict | None) -> list[str]:
    """The report's section on how the re-ranker was trained (metrics/reranker.json); nothing without one."""
    if not record:
        return []
    negatives = record.get("negatives", {})
    return [
        "## The re-ranker's training (metrics/reranker.json)",
        "",
        f"{record['train_questions']} training questions, {record['pairs']} pairs, {record['steps']} steps in "
        f"{record['seconds_training']} s ({record['seconds_per_step']} s a step, {record['device']}); "
        f"{negatives.get('hard_negatives', '?')} negatives a question from {negatives.get('from', '?')} "
        f"({negatives.get('topped_up_with_random', 0)} questions topped up with random passages). Validation, "
        f"BM25's top {record['top_k']} of {record['val_questions']} questions re-ranked: MRR@10 "
        f"{record['val_bm25_mrr_at_10']:.4f} (BM25) -> {record['val_mrr_at_10']:.4f}; DVCLive: `dvclive_reranker/`.",
        "",
        "```json",
        json.dumps(record.get("params", {}), indent=2),
        "```",
        "",
    ]
