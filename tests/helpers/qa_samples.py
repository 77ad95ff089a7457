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


def ir_evaluator(queries: dict[str, str], passages: list[str], relevant: dict[str, int]):
    """sentence-transformers' InformationRetrievalEvaluator over `passages` (ids c000, c001, ...), the
    reference our ranks are checked against: `relevant` maps a query id to its passage's index."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    return InformationRetrievalEvaluator(
        queries=queries,
        corpus={f"c{j:03d}": p for j, p in enumerate(passages)},
        relevant_docs={qid: {f"c{pos:03d}"} for qid, pos in relevant.items()},
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=[1, 5, 10],
        map_at_k=[10],
        name="ir",
        write_csv=False,
        batch_size=8,
    )
