"""The hybrid's figures through search's own path: a built index (models/index) and the export, each split's
questions answered by `Searcher.answers` (exact search), whole-corpus MRR@10 and Recall@1 for BM25, the dense
side and the hybrid at any fusion settings, with the paired 95% interval of hybrid - BM25.

    PYTHONPATH=src python benchmarks/fusion_check.py --repo REPO [--splits validation,test] \
        [--fusion zscore:0.1 zscore:0.4 rrf:0.5]

REPO is a workspace after the index stage (on the full data: the figures of docs/retrieval.md). It checks
that the search path gives evaluate's figures (run it at the index's own settings), and scores other fusions
without re-embedding the corpus (the index's vectors are the export's). Choose on validation only.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from banglasim.core import atomic
from banglasim.evaluation.metrics import paired_delta_ci, retrieval_metrics
from banglasim.search.query import open_searcher


def ranks_of(searcher, questions: list[str], own: list[str], mode: str) -> np.ndarray:
    """1-based rank of each question's own passage in search's answer (len + 1 when it is not there)."""
    n = len(searcher)
    answers = searcher.answers(questions, 100, mode)
    out = []
    for answer, pid in zip(answers, own):
        ids = [h["passage_id"] for h in answer.get("hits", [])]
        out.append(ids.index(pid) + 1 if pid in ids else n + 1)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--splits", default="validation,test")
    parser.add_argument("--fusion", nargs="*", default=[], help="METHOD:DENSE_WEIGHT (default: the index's)")
    args = parser.parse_args()
    searcher, origin = open_searcher(args.repo / "models/export", args.repo / "models/index")
    print(f"{origin}; index fusion {searcher.fusion}")
    base = searcher.fusion
    print("| split | ranking | MRR@10 | Recall@1 | MRR@10 - BM25 [paired 95%] |\n|---|---|---|---|---|")
    for split in args.splits.split(","):
        rows = [r for r in atomic.read_jsonl(args.repo / f"data/splits/{split}.jsonl") if r["score"] >= 0.5]
        questions, own = [r["query"] for r in rows], [r["passage_id"] for r in rows]
        keyword = ranks_of(searcher, questions, own, "bm25")
        table = [("bm25", keyword), ("dense", ranks_of(searcher, questions, own, "dense"))]
        for spec in args.fusion or [f"{base.method}:{base.dense_weight}"]:
            method, weight = spec.split(":")
            searcher.fusion = replace(base, method=method, dense_weight=float(weight))
            table.append((f"hybrid {spec}", ranks_of(searcher, questions, own, "hybrid")))
        searcher.fusion = base
        for name, ranks in table:
            m = retrieval_metrics(ranks)
            delta = ""
            if name.startswith("hybrid"):
                lo, hi = paired_delta_ci(keyword, ranks, 1000, 42)
                d = retrieval_metrics(ranks)["mrr_at_10"] - retrieval_metrics(keyword)["mrr_at_10"]
                delta = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            print(f"| {split} ({len(rows)}) | {name} | {m['mrr_at_10']:.4f} | {m['recall_at_1']:.4f} | {delta} |")


if __name__ == "__main__":
    main()
