"""How often `banglasim search` puts the right passage in its top k, for the first validation questions.

Runs the search command's own code (banglasim.search.query.search) over the prepared passages (all of them:
train, validation and test), for the first N questions of data/splits/validation.jsonl, after a
`dvc repro`. Figures only.

    python benchmarks/search_check.py [--questions 10] [--top-k 5] [--model models/model]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from banglasim.config.paths import MODEL_DIR, SEARCH_CACHE_DIR, VALIDATION_FILE
from banglasim.search.query import search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--model", default=str(MODEL_DIR))
    args = parser.parse_args()
    rows = [json.loads(line) for line in VALIDATION_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r for r in rows if r["score"] >= 0.5][: args.questions]
    found = 0
    for row in questions:
        hits, _ = search(row["query"], Path(args.model), None, args.top_k, SEARCH_CACHE_DIR)
        ranks = [h["rank"] for h in hits if h["passage_id"] == row["passage_id"]]
        found += bool(ranks)
        print(f"{'hit ' if ranks else 'miss'}  rank {ranks[0] if ranks else '>' + str(args.top_k):>3}  {row['query']}")
    corpus = sum(1 for line in Path("data/prepared/passages.jsonl").read_text(encoding="utf-8").splitlines() if line)
    print(
        f"right passage in the top {args.top_k} for {found} of the first {len(questions)} validation questions "
        f"(searching all {corpus} prepared passages, model {args.model})"
    )


if __name__ == "__main__":
    main()
