"""The re-ranker's figures through the product's own code on a built workspace: the index's export ranks each
question against the whole corpus (dense by window, BM25, the hybrid: search's Searcher), then evaluate's
re-ranking block (evaluation/reranking.py) re-ranks the hybrid's top passages with the fine-tuned re-ranker
(torch fp32) and, with --export, its ONNX export (parity); paired 95% intervals against BM25 and the hybrid.
--sweep scores every top_k and weight of evaluate's validation sweep; --latency times `Searcher.answers` with
re-ranking through the exports, one question at a time, at each top_k.

    PYTHONPATH=src python benchmarks/rerank_check.py --repo REPO --split validation [--questions 200] [--sweep] \
        [--export] [--top-k 10] [--weight 1.0] [--latency 10,20,50]

REPO is a workspace after train_reranker (and export_reranker for --export/--latency), e.g. the full data's
(docs/reranker.md). Each run appends its figures, the hardware and the command to
benchmarks/results/rerank.jsonl. Choose on validation only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from banglasim.core import atomic
from banglasim.evaluation.reranking import reranked_block
from banglasim.evaluation.retrievers import bm25_ranks, with_interval
from banglasim.export.reranker_runtime import OnnxPairScorer
from banglasim.models.reranker import TorchPairScorer
from banglasim.retrieval.fusion import hybrid_ranks
from banglasim.retrieval.rerank import RerankSettings
from banglasim.runs.run_record import cpu_name
from banglasim.search.query import open_searcher

RESULTS = Path(__file__).parent / "results" / "rerank.jsonl"


def first_stage(searcher, questions: list[str], own: np.ndarray) -> tuple[dict, list, dict]:
    """evaluate's inputs from the index: the export's dense scores (best window), BM25's, and both rankings."""
    dense = searcher.dense_all(searcher.encoder.encode(questions, "query"))
    lexical = [searcher.lexical.scores(q) for q in questions]
    ranks = {
        "bm25": bm25_ranks(lexical, own, len(searcher)),
        "hybrid": hybrid_ranks(dense, lexical, own, searcher.fusion),
    }
    corpus = [p["text"] for p in searcher.passages]
    return {"corpus": corpus, "queries": questions, "corpus_scores": dense, "positive_rows": own}, lexical, ranks


def latency(searcher, questions: list[str], top_ks: list[int]) -> dict:
    """p50/p95 ms of one question answered (hybrid, 10 hits) with re-ranking of each top_k, through the exports."""
    out = {}
    searcher.answers(questions[:1], 10, "hybrid", rerank=True)  # warm-up
    for k in top_ks:
        searcher.rerank = RerankSettings(k, searcher.rerank.weight, searcher.rerank.overlap)
        times = []
        for q in questions:
            started = time.perf_counter()
            searcher.answers([q], 10, "hybrid", rerank=True)
            times.append((time.perf_counter() - started) * 1000)
        out[str(k)] = {
            "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
        }
        print(f"latency top_k {k}: p50 {out[str(k)]['p50_ms']} ms, p95 {out[str(k)]['p95_ms']} ms")
    plain = []
    for q in questions:
        started = time.perf_counter()
        searcher.answers([q], 10, "hybrid", rerank=False)
        plain.append((time.perf_counter() - started) * 1000)
    out["none"] = {
        "p50_ms": round(float(np.percentile(plain, 50)), 1),
        "p95_ms": round(float(np.percentile(plain, 95)), 1),
    }
    print(f"latency without re-ranking: p50 {out['none']['p50_ms']} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--reranker", default="models/reranker", help="the re-ranker folder, relative to --repo")
    parser.add_argument("--reranker-export", default="models/reranker_export", help="its export, relative to --repo")
    parser.add_argument("--reranker-metrics", default="metrics/reranker.json", help="its record, relative to --repo")
    parser.add_argument("--split", default="validation", choices=("validation", "test"))
    parser.add_argument("--questions", type=int, default=0, help="a seeded sample of N questions (0: all)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument(
        "--depth", type=int, default=None, help="candidates scored per question (cost; default: 20 with --sweep)"
    )
    parser.add_argument("--export", action="store_true", help="also re-rank with models/reranker_export (parity)")
    parser.add_argument("--latency", default="", help="top_k values to time through the exports, e.g. 10,20,50")
    parser.add_argument("--latency-questions", type=int, default=30)
    args = parser.parse_args()

    searcher, origin = open_searcher(args.repo / "models/export", args.repo / "models/index", reranker="")
    print(origin)
    rows = [r for r in atomic.read_jsonl(args.repo / f"data/splits/{args.split}.jsonl") if r["score"] >= 0.5]
    if args.questions and args.questions < len(rows):
        rows = [rows[i] for i in sorted(random.Random(42).sample(range(len(rows)), args.questions))]
    row_of = {p["passage_id"]: i for i, p in enumerate(searcher.passages)}
    questions, own = [r["query"] for r in rows], np.array([row_of[r["passage_id"]] for r in rows])
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", *sys.argv]),
        "cpu": cpu_name(),
        "split": args.split,
        "questions": len(rows),
        "reranker_metrics": json.loads((args.repo / args.reranker_metrics).read_text()),
    }
    started = time.perf_counter()
    scored, lexical, first = first_stage(searcher, questions, own)
    scorers = {"reranker": TorchPairScorer.from_folder(args.repo / args.reranker)}
    if args.export:
        scorers["export"] = OnnxPairScorer(args.repo / args.reranker_export)
    settings = RerankSettings(args.top_k, args.weight, args.overlap)
    block = reranked_block(scored, lexical, first, searcher.fusion, scorers, settings, 1000, 42, args.sweep, args.depth)
    block["bm25"], block["hybrid"] = with_interval(first["bm25"], 1000, 42), with_interval(first["hybrid"], 1000, 42)
    record["seconds"] = round(time.perf_counter() - started, 1)
    record.update(block)
    print(f"| {args.split}, {len(rows)} questions | MRR@10 | Recall@1 | - BM25 [paired 95%] | - hybrid [paired 95%] |")
    print("|---|---|---|---|---|")
    for name in ("bm25", "hybrid", "reranked", "reranked_export"):
        if name not in block:
            continue
        m = block[name]
        deltas = [block.get(f"{name}_vs_bm25"), block.get(f"{name}_vs_hybrid")]
        cells = [
            f"{d['mrr_at_10']:+.4f} [{d['mrr_at_10_ci_low']:+.4f}, {d['mrr_at_10_ci_high']:+.4f}]" if d else ""
            for d in deltas
        ]
        print(f"| {name} | {m['mrr_at_10']:.4f} | {m['recall_at_1']:.4f} | {cells[0]} | {cells[1]} |")
    print(f"re-ranking: {block['rerank']}")
    for row in block.get("rerank_sweep", []):
        print(f"  sweep top_k {row['top_k']:>2} weight {row['weight']:.2f}: MRR@10 {row['mrr_at_10']:.4f}")
    if args.latency:
        searcher.reranker = OnnxPairScorer(args.repo / args.reranker_export)
        searcher.rerank = settings
        record["latency"] = latency(
            searcher, questions[: args.latency_questions], [int(k) for k in args.latency.split(",")]
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
