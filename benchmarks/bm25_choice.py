"""BM25 settings on validation: whole-corpus MRR@10 of the validation questions for k1, b, stop words and
stemming (the retrieval section's bm25_* defaults are chosen from this table; test is never read).

    python benchmarks/bm25_choice.py --repo REPO   # REPO: a workspace after `dvc repro split` (data/ filled)
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from banglasim.core import atomic
from banglasim.evaluation.metrics import pessimistic_ranks, retrieval_metrics
from banglasim.retrieval.lexical import Analyzer, Bm25Settings, LexicalIndex


def bm25_ranks(index: LexicalIndex, questions: list[str], positives: np.ndarray) -> np.ndarray:
    """Pessimistic whole-corpus ranks; a question with no indexable term ranks its passage last."""
    scores = np.stack([s if (s := index.scores(q)) is not None else np.zeros(len(index)) for q in questions])
    return pessimistic_ranks(scores, positives)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=".")
    parser.add_argument("--split", default="validation", choices=("validation", "train"))
    args = parser.parse_args()
    repo = Path(args.repo)
    passages = [p["text"] for p in atomic.read_jsonl(repo / "data/prepared/passages.jsonl")]
    row = {t: i for i, t in enumerate(passages)}
    pairs = [r for r in atomic.read_jsonl(repo / f"data/splits/{args.split}.jsonl") if r.get("score", 1.0) >= 0.5]
    questions = [r.get("query", r.get("anchor")) for r in pairs]
    positives = np.array([row[r.get("passage", r.get("positive"))] for r in pairs])
    print(f"{args.split}: {len(questions)} questions against {len(passages)} passages (MRR@10, Recall@1)")
    print("| stop words | stem | k1 | b | MRR@10 | R@1 | build s |\n|---|---|---|---|---|---|---|")
    for stop, stem, k1, b in itertools.product((False, True), (False, True), (0.9, 1.2, 1.5), (0.5, 0.75, 0.9)):
        start = time.perf_counter()
        index = LexicalIndex.build(passages, Bm25Settings(k1, b, Analyzer(stopwords=stop, stem=stem)))
        took = time.perf_counter() - start
        m = retrieval_metrics(bm25_ranks(index, questions, positives))
        print(f"| {stop} | {stem} | {k1} | {b} | {m['mrr_at_10']:.4f} | {m['recall_at_1']:.4f} | {took:.2f} |")


if __name__ == "__main__":
    main()
