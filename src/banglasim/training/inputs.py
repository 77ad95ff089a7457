"""What the train stage trains on: the (anchor, positive[, negative_1..N]) dataset, its loss, its batches.

A passage has about five questions, so with plain random batches one batch in ten or so holds one
passage twice, and MultipleNegativesRankingLoss then treats a true positive as a negative. The
no-duplicates batch sampler (sentence-transformers' own) never puts a text twice in a batch;
`in_batch_duplicates` counts what each choice leaves, for the log and the run record.
"""

from __future__ import annotations

import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers.sentence_transformer.losses import (
    CachedMultipleNegativesRankingLoss,
    MultipleNegativesRankingLoss,
)

from banglasim.retrieval.windows import WindowSettings, answer_window, model_tokenizer, window_spans

# train.batch_sampler -> the sentence-transformers BatchSamplers value
SAMPLERS = {"no_duplicates": "no_duplicates", "plain": "batch_sampler"}


def negative_columns(n: int) -> list[str]:
    return [f"negative_{i}" for i in range(1, n + 1)]


def train_dataset(rows: list[dict], n_negatives: int) -> Dataset:
    """anchor, positive and n_negatives hard-negative columns, in the order of the rows."""
    data = {"anchor": [r["anchor"] for r in rows], "positive": [r["positive"] for r in rows]}
    for i, column in enumerate(negative_columns(n_negatives)):
        data[column] = [r["negatives"][i] for r in rows]
    return Dataset.from_dict(data)


def answer_windows(
    rows: list[dict], model: SentenceTransformer, windows: WindowSettings, prompt: str
) -> tuple[list[dict], dict[str, int]]:
    """Rows whose positive is the window of its passage that holds the answer (train.positive_window: answer), and
    how many pairs each rule made: "whole" (the passage fits one window), "answer", "first" (no answer text)."""
    tokenizer, max_seq_length = model_tokenizer(model)
    texts = sorted({r["positive"] for r in rows})
    spans = dict(zip(texts, window_spans(texts, tokenizer, windows, max_seq_length, prompt)))
    counts = {"whole": 0, "answer": 0, "first": 0}
    out = []
    for r in rows:
        window, rule = answer_window(r["positive"], spans[r["positive"]], r.get("answer"))
        counts[rule] += 1
        out.append({**r, "positive": window})
    return out, counts


def column_prompts(prompts: dict[str, str], n_negatives: int) -> dict[str, str] | None:
    """The Trainer's per-column prompts: the query prompt for anchors, the passage prompt for the rest."""
    columns = {"anchor": prompts["query"], "positive": prompts["passage"]}
    columns.update({c: prompts["passage"] for c in negative_columns(n_negatives)})
    return {c: p for c, p in columns.items() if p} or None


def make_loss(model: SentenceTransformer, loss: str, mini_batch_size: int) -> torch.nn.Module:
    """MultipleNegativesRankingLoss, or its gradient-caching variant for batches larger than memory allows."""
    if loss == "cached_mnrl":
        return CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size, show_progress_bar=False)
    return MultipleNegativesRankingLoss(model)


def in_batch_duplicates(trainer: SentenceTransformerTrainer, passage_ids: list[str]) -> dict[str, dict[str, int]]:
    """For each batch sampler: batches of the first epoch, and how many hold one passage twice or more."""
    args, chosen = trainer.args, trainer.args.batch_sampler
    out = {}
    try:
        for name, library_name in SAMPLERS.items():
            args.batch_sampler = library_name
            sampler = trainer.get_batch_sampler(
                trainer.train_dataset,
                batch_size=args.per_device_train_batch_size,
                drop_last=args.dataloader_drop_last,
                generator=torch.Generator().manual_seed(args.seed),
                seed=args.seed,
            )
            batches = list(sampler)
            twice = sum(1 for b in batches if len({passage_ids[i] for i in b}) < len(b))
            out[name] = {"batches": len(batches), "batches_with_a_passage_twice": twice}
    finally:
        args.batch_sampler = chosen
    return out
