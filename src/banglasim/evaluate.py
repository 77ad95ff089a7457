"""Stage `evaluate`: base model vs tuned model on the test split (and validation, labelled so), with 95% intervals.

The test split is read here and nowhere else: no training or choice (not even `train.select: best`,
which uses validation) has seen it. Retrieval: every question is ranked against all passages of its
split (cosine, pessimistic ranks); with one relevant passage per question, MRR@10, Recall@k and
nDCG@10 follow from the rank of that passage (the definitions of sentence-transformers'
InformationRetrievalEvaluator). The reference's eval score and average cosine come from the same
evaluator (evaluators.py). The base model is evaluated with the settings the run record says the
tuned model was trained with (max_seq_length, pooling, prompts). Writes metrics/evaluate.json with flat
keys (`test.tuned.mrr_at_10`, ...) for `dvc metrics diff`, and the training report.
"""

from __future__ import annotations

import json
import math

import numpy as np
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from banglasim import atomic
from banglasim.errors import UserError, require_inputs, stage_main
from banglasim.evaluators import PairSimilarityEvaluator, reciprocal_ranks, retrieval_metrics
from banglasim.modeling import load_model
from banglasim.params import load_params
from banglasim.progress import quiet_library_bars
from banglasim.paths import BASE_MODEL_DIR, EVALUATE_METRICS, MODEL_DIR, RUN_RECORD_FILE, TEST_FILE, VALIDATION_FILE
from banglasim.report import write_report

SPLITS = {"test": TEST_FILE, "validation": VALIDATION_FILE}


def bootstrap_ci(ranks: np.ndarray, pair_query: np.ndarray, pair_cos: np.ndarray, labels: np.ndarray,
                 samples: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile intervals for MRR@10 and eval score, resampling questions (with all their pairs)."""
    if samples == 0:
        return {}
    rng = np.random.default_rng(seed)
    rr = reciprocal_ranks(ranks)
    pairs_of = [np.flatnonzero(pair_query == i) for i in range(len(ranks))]
    mrr, score = np.empty(samples), np.empty(samples)
    for b in range(samples):
        pick = rng.integers(0, len(ranks), len(ranks))
        mrr[b] = rr[pick].mean()
        idx = np.concatenate([pairs_of[i] for i in pick])
        score[b] = spearmanr(labels[idx], pair_cos[idx]).statistic if len(set(labels[idx])) > 1 else np.nan
    out = {"mrr_at_10": tuple(np.percentile(mrr, [2.5, 97.5]))}
    if np.isfinite(score).any():
        out["eval_score"] = tuple(np.nanpercentile(score, [2.5, 97.5]))
    return out


def paired_delta_ci(base_ranks: np.ndarray, tuned_ranks: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """95% interval of tuned minus base MRR@10, resampling the questions once for both (a paired bootstrap)."""
    diff = reciprocal_ranks(tuned_ranks) - reciprocal_ranks(base_ranks)
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(samples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def score_model(model: SentenceTransformer, rows: list[dict], cfg: dict,
                prompts: dict[str, str] | None = None) -> tuple[dict, np.ndarray]:
    """All metrics of one model on one split: retrieval, the reference's pair metrics, intervals, per source."""
    query_ids = list(dict.fromkeys(r["query_id"] for r in rows))
    qpos = {qid: i for i, qid in enumerate(query_ids)}
    positives = [r for r in rows if r["score"] >= 0.5]
    if [r["query_id"] for r in positives] != query_ids:
        raise UserError("the split file must hold exactly one positive pair (score 1.0) per question, first",
                        fix="rerun the split stage (dvc repro split)")
    evaluator = PairSimilarityEvaluator.from_rows(rows, batch_size=cfg["batch_size"], prompts=prompts)
    pair = evaluator.pair_metrics(model)
    ranks = evaluator.ranks
    out = {**retrieval_metrics(ranks), **{k: v for k, v in pair.items() if k != "mrr_at_10"}}
    labels = np.array([float(r["score"]) for r in rows])
    pair_query = np.array([qpos[r["query_id"]] for r in rows])
    for name, (lo, hi) in bootstrap_ci(ranks, pair_query, evaluator.pair_cosines, labels,
                                       cfg["bootstrap_samples"], cfg["seed"]).items():
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    sources = [r["source"] for r in positives]
    per_source = {s: retrieval_metrics(ranks[[i for i, x in enumerate(sources) if x == s]])["mrr_at_10"]
                  for s in sorted(set(sources))}
    return {"metrics": out, "per_source_mrr_at_10": per_source}, ranks


def compare(base_model: SentenceTransformer, tuned_model: SentenceTransformer, rows: list[dict], cfg: dict,
            prompts: dict[str, str]) -> dict:
    """Base vs tuned on one split: both models' metrics, the deltas, MRR@10 per source, the counts."""
    base, base_ranks = score_model(base_model, rows, cfg, prompts)
    tuned, tuned_ranks = score_model(tuned_model, rows, cfg, prompts)
    delta = {k: tuned["metrics"][k] - base["metrics"][k] for k in tuned["metrics"] if "_ci_" not in k}
    if cfg["bootstrap_samples"]:
        delta["mrr_at_10_ci_low"], delta["mrr_at_10_ci_high"] = paired_delta_ci(
            base_ranks, tuned_ranks, cfg["bootstrap_samples"], cfg["seed"])
    per_source = {s: {"base_mrr_at_10": base["per_source_mrr_at_10"][s], "tuned_mrr_at_10": v,
                      "delta_mrr_at_10": v - base["per_source_mrr_at_10"][s]}
                  for s, v in tuned["per_source_mrr_at_10"].items()}
    positives = [r for r in rows if r["score"] >= 0.5]
    return {"base": base["metrics"], "tuned": tuned["metrics"], "delta": delta, "per_source": per_source,
            "n_queries": len(positives), "n_passages": len({r["passage_id"] for r in positives})}


def _finite(result: dict, path: str = "") -> None:
    """Never write NaN or inf into a metrics file: name the metric instead."""
    for key, value in result.items():
        if isinstance(value, dict):
            _finite(value, f"{path}{key}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"metric {path}{key} is {value}",
                            fix="see the error above it; the metrics were not written")


def run(params_path: str) -> None:
    quiet_library_bars()
    cfg = load_params(params_path, ("evaluate",))["evaluate"]
    require_inputs([(TEST_FILE, "split"), (VALIDATION_FILE, "split"), (MODEL_DIR / "modules.json", "train"),
                    (RUN_RECORD_FILE, "train"), (BASE_MODEL_DIR / "modules.json", "base_model")])
    record = json.loads(RUN_RECORD_FILE.read_text(encoding="utf-8"))
    mp, prompts = record["params"]["model"], record["prompts"]
    base = load_model(str(BASE_MODEL_DIR), mp["max_seq_length"], mp["pooling"])
    tuned = load_model(str(MODEL_DIR))
    result = {split: compare(base, tuned, atomic.read_jsonl(path), cfg, prompts) for split, path in SPLITS.items()}
    _finite(result)
    atomic.write_json(EVALUATE_METRICS, result)
    write_report(result)
    b, t = result["test"]["base"], result["test"]["tuned"]
    print(f"evaluate (test, {result['test']['n_queries']} questions): MRR@10 base {b['mrr_at_10']:.4f} "
          f"-> tuned {t['mrr_at_10']:.4f} (95% CI {t.get('mrr_at_10_ci_low', math.nan):.4f}-"
          f"{t.get('mrr_at_10_ci_high', math.nan):.4f}); eval score {b['eval_score']:.4f} -> {t['eval_score']:.4f}")


if __name__ == "__main__":
    stage_main(run)
