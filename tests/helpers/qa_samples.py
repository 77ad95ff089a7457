"""Small question-passage sets from the embedded sample data, for the evaluation and export tests."""

from __future__ import annotations

import json

from data_helpers import REPO_ROOT


def sample_qa(n_passages: int = 15, per_passage: int = 2):
    """(passages, queries, positive index per query) from the D2 sample file."""
    data = json.loads((REPO_ROOT / "data/raw/sample/D2/BanQA/data/qa.json").read_text(encoding="utf-8"))
    passages, queries, positives = [], [], []
    seen_heads = set()
    for article in data["data"]:
        for para in article["paragraphs"]:
            head = para["context"][:40]
            if head in seen_heads or len(passages) == n_passages:
                continue
            seen_heads.add(head)
            passages.append(para["context"])
            for qa in para["qas"][:per_passage]:
                queries.append(qa["question"])
                positives.append(len(passages) - 1)
    assert len(passages) == n_passages
    return passages, queries, positives


def validation_rows():
    passages, queries, positives = sample_qa(n_passages=6, per_passage=2)
    rows = []
    for i, (q, pos) in enumerate(zip(queries, positives)):
        neg = (pos + 1) % len(passages)
        base = {"query_id": f"q{i}", "query": q, "source": "D2" if i % 2 else "D3"}
        rows.append({**base, "passage_id": f"p{pos}", "passage": passages[pos], "score": 1.0})
        rows.append({**base, "passage_id": f"p{neg}", "passage": passages[neg], "score": 0.0})
    return rows
