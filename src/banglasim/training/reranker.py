"""Stage `train_reranker`: a CrossEncoder fine-tuned to re-order the first stage's top passages.

Each training question (a seeded sample of `reranker.max_questions`, 0: all) gives its passage's answer window
as the positive and `reranker.negatives` hard negatives from the first stage (data/rerank_pairs.py); the loss is
the library's BinaryCrossEntropyLoss over (question, window, 1/0) pairs, positives weighted by the negatives per
question (`bce`), or its MultipleNegativesRankingLoss over (question, positive, negatives) rows (`mnrl`). After
each epoch the re-ranker re-orders BM25's top 10 passages of `reranker.val_questions` validation questions (the
whole corpus) through retrieval/rerank.py; DVCLive (dvclive_reranker/) logs that MRR@10 and the mean training
loss since the previous point. Writes models/reranker/ (as one unit) and metrics/reranker.json.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from banglasim.config.params import load_params
from banglasim.config.paths import (
    BASE_MODEL_DIR,
    PASSAGES_FILE,
    RERANKER_DIR,
    RERANKER_LIVE_DIR,
    RERANKER_METRICS,
    TRAIN_FILE,
    VALIDATION_FILE,
)
from banglasim.core import atomic
from banglasim.core.errors import require_inputs
from banglasim.data.negatives import bm25_candidates
from banglasim.data.rerank_pairs import hybrid_candidates, sample_questions, training_examples
from banglasim.evaluation.metrics import retrieval_metrics
from banglasim.export.build import versions
from banglasim.models.loading import load_model, quiet_library_bars, resolve_prompts
from banglasim.models.reranker import TorchPairScorer, backbone_dir, freeze_for_training, load_backbone
from banglasim.retrieval.fusion import top_rows
from banglasim.retrieval.lexical import LexicalIndex
from banglasim.retrieval.rerank import RerankSettings, best_window_scores, rerank_ranks
from banglasim.retrieval.settings import bm25_settings, fusion_settings, window_settings
from banglasim.retrieval.windows import best_window, cut_windows, model_tokenizer
from banglasim.runs.run_record import device_info

VALIDATION_TOP_K = 10  # BM25's passages re-ranked in training's validation (reranker.top_k is how search re-ranks)


class BM25Validation:
    """Validation questions against the whole corpus: BM25's top_k, re-ranked by the model being trained."""

    def __init__(self, rows: list[dict], corpus: list[dict], bm25, settings: RerankSettings, limit: int, seed: int):
        first = [r for r in rows if r["score"] >= 0.5]  # one positive pair per question
        first = sample_questions(first, limit, seed)
        row_of = {p["passage_id"]: i for i, p in enumerate(corpus)}
        self.texts = [p["text"] for p in corpus]
        self.questions = [r["query"] for r in first]
        self.positives = np.array([row_of[r["passage_id"]] for r in first], dtype=np.int64)
        index = LexicalIndex.build(self.texts, bm25)
        zeros = np.zeros(len(corpus), dtype=np.float32)
        scores = [s if s is not None else zeros for s in (index.scores(q) for q in self.questions)]
        self.rows = [top_rows(s, settings.top_k) for s in scores]
        self.scores = [s[r] for s, r in zip(scores, self.rows)]
        self.first_ranks = np.array(
            [int((s > s[own]).sum()) + int((s == s[own]).sum()) for s, own in zip(scores, self.positives)]
        )
        self.settings = settings

    def bm25_mrr(self) -> float:
        return retrieval_metrics(self.first_ranks)["mrr_at_10"]

    def mrr(self, scorer, batch_size: int) -> float:
        candidates = [[self.texts[i] for i in rows] for rows in self.rows]
        scored = best_window_scores(self.questions, candidates, scorer, self.settings.overlap, batch_size)
        ranks = rerank_ranks(
            self.questions, self.rows, self.scores, self.first_ranks, self.positives, scored, self.settings
        )
        return retrieval_metrics(ranks)["mrr_at_10"]


def base_dense_scores(rows: list[dict], params) -> np.ndarray:
    """[questions, sorted training passages] base-model cosines, each passage by its best window (hybrid negatives)."""
    mp = params.model
    model = load_model(str(BASE_MODEL_DIR), mp.max_seq_length, mp.pooling)
    prompts = resolve_prompts(model, mp.query_prompt, mp.passage_prompt)
    corpus = sorted({r["positive"] for r in rows})
    tokenizer, length = model_tokenizer(model)
    windows = cut_windows(corpus, tokenizer, window_settings(params.retrieval), length, prompts["passage"])
    kw = {"normalize_embeddings": True, "batch_size": params.mine.batch_size, "convert_to_numpy": True}
    passages = model.encode(windows.texts, prompt=prompts["passage"] or None, **kw)
    questions = model.encode([r["anchor"] for r in rows], prompt=prompts["query"] or None, **kw)
    return best_window(questions @ passages.T, windows)


def dataset(examples: list[dict], loss: str):
    """The library's input columns: (query, passage, label) pairs for bce, (query, positive, negative_i) for mnrl."""
    from datasets import Dataset

    if loss == "bce":
        q, p, y = [], [], []
        for e in examples:
            for text, label in [(e["positive"], 1.0)] + [(n, 0.0) for n in e["negatives"]]:
                q.append(e["query"])
                p.append(text)
                y.append(label)
        return Dataset.from_dict({"query": q, "passage": p, "label": y})
    columns = {"query": [e["query"] for e in examples], "positive": [e["positive"] for e in examples]}
    for i in range(len(examples[0]["negatives"])):
        columns[f"negative_{i + 1}"] = [e["negatives"][i] for e in examples]
    return Dataset.from_dict(columns)


def run(params_path: str) -> None:
    quiet_library_bars()
    params = load_params(params_path, ("reranker", "mine", "model", "retrieval"))
    cfg = params.reranker
    require_inputs([(TRAIN_FILE, "split"), (VALIDATION_FILE, "split"), (PASSAGES_FILE, "prepare")])
    started = time.perf_counter()
    rows = sample_questions(atomic.read_jsonl(TRAIN_FILE), cfg.max_questions, cfg.seed)
    bm25 = bm25_settings(params.retrieval)
    if cfg.negatives_from == "hybrid":
        require_inputs([(BASE_MODEL_DIR / "modules.json", "base_model")])
        dense = base_dense_scores(rows, params)
        found = hybrid_candidates(rows, cfg.negatives, params.mine, bm25, fusion_settings(params.retrieval), dense)
    else:
        found = bm25_candidates(rows, cfg.negatives, params.mine, bm25)
    model = load_backbone(backbone_dir(cfg.backbone), cfg.max_length, cfg.layers)
    trainable = freeze_for_training(model, cfg.trainable_layers)
    scorer = TorchPairScorer(model)
    tokenizer, _ = scorer.window_tokenizer()
    overlap = params.retrieval.window_overlap
    examples, counts = training_examples(
        rows, cfg.negatives, found, tokenizer, cfg.max_length, overlap, bm25.analyzer, cfg.seed
    )
    settings = RerankSettings(VALIDATION_TOP_K, 1.0, overlap)
    validation = BM25Validation(
        atomic.read_jsonl(VALIDATION_FILE),
        atomic.read_jsonl(PASSAGES_FILE),
        bm25,
        settings,
        cfg.val_questions,
        cfg.seed,
    )
    prep_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        fit = fit_reranker(model, examples, cfg, validation, scorer, tmp)
    with atomic.atomic_dir(RERANKER_DIR) as out:
        model.save_pretrained(str(out))
    metrics = {
        "val_mrr_at_10": fit["val_mrr_at_10"],
        "val_bm25_mrr_at_10": validation.bm25_mrr(),
        "val_questions": len(validation.questions),
        "top_k": VALIDATION_TOP_K,
        "train_questions": len(examples),
        "pairs": fit["pairs"],
        "steps": fit["steps"],
        "trainable_parameters": trainable,
        "seconds_preparing": round(prep_seconds, 1),
        "seconds_training": round(fit["seconds"], 1),
        "seconds_per_step": round(fit["seconds"] / max(1, fit["steps"]), 3),
        "precision": fit["precision"],
        **device_info(),  # the CPU (and GPU) the timings are of
        "negatives": {"from": cfg.negatives_from, **counts},
        "params": params.as_dict()["reranker"],
        "versions": versions(),
    }
    atomic.write_json(RERANKER_METRICS, metrics)
    print(
        f"train_reranker: {len(examples)} questions, {fit['steps']} steps in {fit['seconds']:.0f} s; validation "
        f"MRR@10 re-ranking BM25's top {VALIDATION_TOP_K} of {len(validation.questions)} questions "
        f"{metrics['val_bm25_mrr_at_10']:.4f} -> {metrics['val_mrr_at_10']:.4f}"
    )


def fit_reranker(model, examples: list[dict], cfg, validation: BM25Validation, scorer, out_dir: str) -> dict:
    """Train with the library's CrossEncoderTrainer; DVCLive logs loss and validation MRR@10 after each epoch."""
    import torch
    from sentence_transformers.base import BatchSamplers
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments, losses
    from transformers import PrinterCallback

    from banglasim.training.precision import resolve_precision
    from banglasim.training.reranker_live import RerankerLive
    from dvclive import Live

    data = dataset(examples, cfg.loss)
    if cfg.loss == "bce":
        loss = losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(cfg.negatives)))
    else:
        loss = losses.MultipleNegativesRankingLoss(model)
    cuda = torch.cuda.is_available()
    precision = resolve_precision("auto")  # bf16 on CPUs with bf16 units and on GPUs that have it, as train's auto
    args = CrossEncoderTrainingArguments(
        output_dir=out_dir,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the steps
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        batch_sampler=BatchSamplers.NO_DUPLICATES if cfg.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
    )
    live = Live(dir=str(RERANKER_LIVE_DIR), save_dvc_exp=False, dvcyaml=None, report=None)
    callback = RerankerLive(live, lambda: validation.mrr(scorer, cfg.batch_size * 2))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss, callbacks=[callback])
    trainer.remove_callback(PrinterCallback)  # no raw metric dicts in the log; the stage prints its own lines
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started - callback.validation_seconds
    live.end()
    return {
        "val_mrr_at_10": callback.last_mrr,
        "pairs": len(data) * (1 if cfg.loss == "bce" else 1 + cfg.negatives),
        "steps": trainer.state.global_step,
        "seconds": seconds,
        "device": "cuda" if cuda else "cpu",
        "precision": precision,
    }
