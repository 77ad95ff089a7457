"""Stage `evaluate`: base model vs tuned model on the test split (and validation, labelled so), with 95% intervals.

The test split is read here and nowhere else: no training or choice (not even `train.select: best`,
which uses validation) has seen it. Retrieval, the headline: every question is ranked against all
passages of the prepared corpus (data/prepared/passages.jsonl, training passages included: what a
search engine holds, and the distractors a model that over-fits its training passages pays for),
cosine, pessimistic ranks. The same ranking within the split only (its questions against its own
passages) is kept as a labelled secondary block, `within_split`. With one relevant passage per
question, MRR@10, Recall@k and nDCG@10 follow from the rank of that passage (the definitions of
sentence-transformers' InformationRetrievalEvaluator). The reference's eval score and average cosine
come from the split's scored pairs (evaluators.py). The base model is evaluated with the settings the
run record says the tuned model was trained with (max_seq_length, pooling, prompts). Writes every
figure to reports/evaluation.json, the headline to metrics/evaluate.json (flat keys for
`dvc metrics diff`: `test.tuned.mrr_at_10`, ...), and the training report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

import numpy as np
from sentence_transformers import SentenceTransformer

from banglasim.config.params import EvaluateParams, load_params
from banglasim.config.paths import (
    BASE_MODEL_DIR,
    EVALUATE_METRICS,
    EVALUATION_DETAILS,
    EXPORT_DIR,
    MODEL_DIR,
    PASSAGES_FILE,
    RERANKER_DIR,
    RERANKER_EXPORT_DIR,
    RERANKER_METRICS,
    RUN_RECORD_FILE,
    TEST_FILE,
    VALIDATION_FILE,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.evaluation.evaluators import PairSimilarityEvaluator
from banglasim.evaluation.headline import headline, summary_line
from banglasim.evaluation.metrics import bootstrap_ci, bootstrap_mrr_ci, paired_delta_ci, retrieval_metrics
from banglasim.evaluation.report import write_report
from banglasim.evaluation.reranking import reranked_block
from banglasim.evaluation.retrievers import keyword_and_hybrid
from banglasim.export.adapter import ExportModel
from banglasim.export.reranker_runtime import OnnxPairScorer
from banglasim.models.loading import load_model, quiet_library_bars
from banglasim.models.reranker import TorchPairScorer
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.lexical import Bm25Settings
from banglasim.retrieval.rerank import RerankSettings
from banglasim.retrieval.settings import bm25_settings, fusion_settings, window_settings
from banglasim.retrieval.windows import WindowSettings

SPLITS = {"test": TEST_FILE, "validation": VALIDATION_FILE}


def score_model(
    model: SentenceTransformer,
    rows: list[dict],
    cfg: EvaluateParams,
    prompts: dict[str, str] | None = None,
    corpus: list[str] | None = None,
    memo: dict | None = None,
    windows: WindowSettings | None = None,
) -> tuple[dict, dict]:
    """All metrics of one model on one split: retrieval against `corpus` (the split's own passages when None;
    passages read by window with `windows`) and within the split, the reference's pair metrics, intervals,
    MRR@10 per source; and both rank arrays, with the corpus scores ("scored") the hybrid fuses.
    `memo` keeps the model's embeddings across calls (the corpus is embedded once for both splits)."""
    query_ids = list(dict.fromkeys(r["query_id"] for r in rows))
    qpos = {qid: i for i, qid in enumerate(query_ids)}
    positives = [r for r in rows if r["score"] >= 0.5]
    if [r["query_id"] for r in positives] != query_ids:
        raise UserError(
            "the split file must hold exactly one positive pair (score 1.0) per question, first",
            fix="rerun the split stage (dvc repro split)",
        )
    evaluator = PairSimilarityEvaluator.from_rows(
        rows, batch_size=cfg.batch_size, prompts=prompts, corpus=corpus, memo=memo, windows=windows
    )
    pair = evaluator.pair_metrics(model)
    ranks = {"corpus": evaluator.ranks, "within_split": evaluator.split_ranks}
    ranks["scored"] = {
        "corpus": evaluator.corpus,
        "queries": [r["query"] for r in positives],
        "corpus_scores": evaluator.corpus_scores,
        "positive_rows": evaluator.positive_rows,
    }
    out = {**retrieval_metrics(ranks["corpus"]), **{k: v for k, v in pair.items() if k != "mrr_at_10"}}
    within = retrieval_metrics(ranks["within_split"])
    labels = np.array([float(r["score"]) for r in rows])
    pair_query = np.array([qpos[r["query_id"]] for r in rows])
    for name, (lo, hi) in bootstrap_ci(
        ranks["corpus"], pair_query, evaluator.pair_cosines, labels, cfg.bootstrap_samples, cfg.seed
    ).items():
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    if cfg.bootstrap_samples:
        within["mrr_at_10_ci_low"], within["mrr_at_10_ci_high"] = bootstrap_mrr_ci(
            ranks["within_split"], cfg.bootstrap_samples, cfg.seed
        )
    sources = [r["source"] for r in positives]
    per_source = {
        s: retrieval_metrics(ranks["corpus"][[i for i, x in enumerate(sources) if x == s]])["mrr_at_10"]
        for s in sorted(set(sources))
    }
    return {
        "metrics": out,
        "within_split": within,
        "per_source_mrr_at_10": per_source,
        "n_passages": len(evaluator.corpus),
        "n_split_passages": len(evaluator.split_corpus),
    }, ranks


def change(base: dict, tuned: dict, base_ranks: np.ndarray, tuned_ranks: np.ndarray, cfg: EvaluateParams) -> dict:
    """Tuned minus base for every metric, and the paired 95% interval of the change in MRR@10."""
    delta = {k: tuned[k] - base[k] for k in tuned if "_ci_" not in k}
    if cfg.bootstrap_samples:
        delta["mrr_at_10_ci_low"], delta["mrr_at_10_ci_high"] = paired_delta_ci(
            base_ranks, tuned_ranks, cfg.bootstrap_samples, cfg.seed
        )
    return delta


def compare(
    base_model: SentenceTransformer,
    tuned_model: SentenceTransformer,
    rows: list[dict],
    cfg: EvaluateParams,
    prompts: dict[str, str],
    corpus: list[str] | None = None,
    memo: dict | None = None,
    export: ExportModel | None = None,
    retrieval: Retrieval | None = None,
) -> dict:
    """Base vs tuned on one split, ranked against `corpus`: both models' metrics, the deltas, MRR@10 per source,
    the same ranked within the split (`within_split`), the counts; with the export and `retrieval`, BM25 and the
    hybrid too (and, when retrieval.sweep, every fusion's figure)."""
    windows = retrieval.windows if retrieval is not None else None
    base, base_ranks = score_model(base_model, rows, cfg, prompts, corpus, memo, windows)
    tuned, tuned_ranks = score_model(tuned_model, rows, cfg, prompts, corpus, memo, windows)
    per_source = {
        s: {
            "base_mrr_at_10": base["per_source_mrr_at_10"][s],
            "tuned_mrr_at_10": v,
            "delta_mrr_at_10": v - base["per_source_mrr_at_10"][s],
        }
        for s, v in tuned["per_source_mrr_at_10"].items()
    }
    within = {
        "base": base["within_split"],
        "tuned": tuned["within_split"],
        "delta": change(
            base["within_split"], tuned["within_split"], base_ranks["within_split"], tuned_ranks["within_split"], cfg
        ),
    }
    out = {
        "base": base["metrics"],
        "tuned": tuned["metrics"],
        "delta": change(base["metrics"], tuned["metrics"], base_ranks["corpus"], tuned_ranks["corpus"], cfg),
        "per_source": per_source,
        "within_split": within,
        "n_queries": len(base_ranks["corpus"]),
        "n_passages": tuned["n_passages"],
        "n_split_passages": tuned["n_split_passages"],
    }
    if export is not None:  # models/export, scored by the same code; export_delta: export - tuned, paired
        scored, export_ranks = score_model(export, rows, cfg, prompts, corpus, memo, windows)
        out["export"] = scored["metrics"]
        out["export_delta"] = change(
            tuned["metrics"], scored["metrics"], tuned_ranks["corpus"], export_ranks["corpus"], cfg
        )
        if retrieval is not None:
            dense = {"tuned": tuned_ranks["corpus"], "export": export_ranks["corpus"]}
            out.update(
                keyword_and_hybrid(
                    export_ranks["scored"],
                    retrieval.bm25,
                    retrieval.fusion,
                    dense,
                    cfg.bootstrap_samples,
                    cfg.seed,
                    retrieval.sweep,
                )
            )
            first = out.pop("_first_stage")
            if retrieval.scorers:
                out.update(
                    reranked_block(
                        export_ranks["scored"],
                        first["lexical"],
                        first,
                        retrieval.fusion,
                        retrieval.scorers,
                        retrieval.rerank,
                        cfg.bootstrap_samples,
                        cfg.seed,
                        retrieval.sweep,
                    )
                )
    return out


def _finite(result: dict, path: str = "") -> None:
    """Never write NaN or inf into a metrics file: name the metric instead."""
    for key, value in result.items():
        if isinstance(value, dict):
            _finite(value, f"{path}{key}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise UserError(
                f"metric {path}{key} is {value}", fix="see the error above it; the metrics were not written"
            )


@dataclass(frozen=True)
class Retrieval:
    """How evaluate reads passages (windows) and ranks with BM25 and the hybrid: the retrieval section."""

    windows: WindowSettings
    bm25: Bm25Settings
    fusion: FusionSettings
    sweep: bool = False  # also score every fusion and re-ranking setting (validation)
    scorers: dict | None = None  # "reranker" (torch) and "export" (ONNX) PairScorers: the re-ranked figures
    rerank: RerankSettings = RerankSettings()


def run(params_path: str) -> None:
    quiet_library_bars()
    params = load_params(params_path, ("evaluate", "retrieval", "reranker"))
    cfg, rp, rr = params.evaluate, params.retrieval, params.reranker
    require_inputs(
        [
            (TEST_FILE, "split"),
            (VALIDATION_FILE, "split"),
            (PASSAGES_FILE, "prepare"),
            (MODEL_DIR / "modules.json", "train"),
            (RUN_RECORD_FILE, "train"),
            (BASE_MODEL_DIR / "modules.json", "base_model"),
            (EXPORT_DIR / "manifest.json", "export"),
            (RERANKER_DIR / "config.json", "train_reranker"),
            (RERANKER_EXPORT_DIR / "manifest.json", "export_reranker"),
        ]
    )
    record = json.loads(RUN_RECORD_FILE.read_text(encoding="utf-8"))
    mp, prompts = record["params"]["model"], record["prompts"]
    base = load_model(str(BASE_MODEL_DIR), mp["max_seq_length"], mp["pooling"])
    tuned = load_model(str(MODEL_DIR))
    corpus, memo = [p["text"] for p in atomic.read_jsonl(PASSAGES_FILE)], {}  # each model embeds it once
    export = ExportModel(EXPORT_DIR)
    scorers = {"reranker": TorchPairScorer.from_folder(RERANKER_DIR), "export": OnnxPairScorer(RERANKER_EXPORT_DIR)}
    rerank = RerankSettings(rr.top_k, rr.weight, rp.window_overlap)
    retrieval = Retrieval(window_settings(rp), bm25_settings(rp), fusion_settings(rp), False, scorers, rerank)
    result = {
        split: compare(
            base,
            tuned,
            atomic.read_jsonl(path),
            cfg,
            prompts,
            corpus,
            memo,
            export,
            replace(retrieval, sweep=split == "validation"),
        )
        for split, path in SPLITS.items()
    }
    _finite(result)
    if RERANKER_METRICS.exists():  # how the re-ranker was trained (train_reranker's record), next to its figures
        result["reranker_training"] = json.loads(RERANKER_METRICS.read_text(encoding="utf-8"))
    atomic.write_json(EVALUATION_DETAILS, result)
    atomic.write_json(EVALUATE_METRICS, headline(result))
    write_report(result)
    print(summary_line(result))
