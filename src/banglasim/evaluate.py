"""Stage `evaluate`: base model vs tuned model on the validation split, with 95% bootstrap intervals.

Retrieval: every validation question is searched against all validation passages (cosine); with one
relevant passage per question, MRR@10, Recall@k and nDCG@10 follow from the rank of that passage
(the definitions of sentence-transformers' InformationRetrievalEvaluator). The reference's metrics
come from `PairSimilarityEvaluator`. Writes metrics/evaluate.json and the training report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from banglasim import atomic
from banglasim.errors import UserError
from banglasim.evaluators import PairSimilarityEvaluator
from banglasim.modeling import load_model
from banglasim.params import load_params
from banglasim.split import SPLITS_DIR
from banglasim.train import MODEL_DIR

METRICS_FILE = Path("metrics/evaluate.json")
RECALL_AT = (1, 5, 10)
CI_METRICS = ("mrr_at_10", "eval_score")


def passage_ranks(model: SentenceTransformer, queries: list[str], corpus: list[str], positives: list[int],
                  batch_size: int) -> np.ndarray:
    """1-based rank of each query's own passage among all corpus passages, by cosine similarity."""
    q = model.encode(queries, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    c = model.encode(corpus, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    scores = q @ c.T
    own = scores[np.arange(len(queries)), positives]
    return 1 + (scores > own[:, None]).sum(axis=1)


def retrieval_metrics(ranks: np.ndarray) -> dict[str, float]:
    """MRR@10, Recall@1/5/10 and nDCG@10 for one relevant passage per query."""
    rr = np.where(ranks <= 10, 1.0 / ranks, 0.0)
    out = {"mrr_at_10": float(rr.mean())}
    for k in RECALL_AT:
        out[f"recall_at_{k}"] = float((ranks <= k).mean())
    out["ndcg_at_10"] = float(np.where(ranks <= 10, 1.0 / np.log2(ranks + 1), 0.0).mean())
    return out


def bootstrap_ci(ranks: np.ndarray, pair_query: np.ndarray, pair_cos: np.ndarray, labels: np.ndarray,
                 samples: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile intervals for MRR@10 and eval score, resampling questions (with all their pairs)."""
    if samples == 0:
        return {}
    rng = np.random.default_rng(seed)
    rr = np.where(ranks <= 10, 1.0 / ranks, 0.0)
    pairs_of = [np.flatnonzero(pair_query == i) for i in range(len(ranks))]
    mrr, score = np.empty(samples), np.empty(samples)
    for b in range(samples):
        pick = rng.integers(0, len(ranks), len(ranks))
        mrr[b] = rr[pick].mean()
        idx = np.concatenate([pairs_of[i] for i in pick])
        score[b] = spearmanr(labels[idx], pair_cos[idx]).statistic if len(set(labels[idx])) > 1 else np.nan
    return {"mrr_at_10": tuple(np.percentile(mrr, [2.5, 97.5])),
            "eval_score": tuple(np.nanpercentile(score, [2.5, 97.5]))}


def score_model(model: SentenceTransformer, rows: list[dict], cfg: dict) -> tuple[dict, np.ndarray]:
    """All metrics of one model: retrieval, the reference's pair metrics, intervals, per source."""
    query_ids = list(dict.fromkeys(r["query_id"] for r in rows))
    qpos = {qid: i for i, qid in enumerate(query_ids)}
    own = {r["query_id"]: r for r in rows if r["score"] >= 0.5}
    corpus_ids = list(dict.fromkeys(own[q]["passage_id"] for q in query_ids))
    cpos = {pid: i for i, pid in enumerate(corpus_ids)}
    corpus = {r["passage_id"]: r["passage"] for r in rows}
    ranks = passage_ranks(model, [own[q]["query"] for q in query_ids], [corpus[p] for p in corpus_ids],
                          [cpos[own[q]["passage_id"]] for q in query_ids], cfg["batch_size"])
    evaluator = PairSimilarityEvaluator([r["query"] for r in rows], [r["passage"] for r in rows],
                                        [float(r["score"]) for r in rows], batch_size=cfg["batch_size"])
    pair = evaluator(model)
    out = retrieval_metrics(ranks)
    out["eval_score"] = pair[evaluator.score_key]
    out["avg_cosine"] = pair[evaluator.cosine_key]
    if "val_avg_cosine_negative" in pair:
        out["avg_cosine_negative"] = pair["val_avg_cosine_negative"]
        out["cosine_gap"] = pair["val_cosine_gap"]
    labels = np.array([float(r["score"]) for r in rows])
    pair_query = np.array([qpos[r["query_id"]] for r in rows])
    for name, (lo, hi) in bootstrap_ci(ranks, pair_query, evaluator.pair_cosines, labels,
                                       cfg["bootstrap_samples"], cfg["seed"]).items():
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    sources = [own[q]["source"] for q in query_ids]
    per_source = {s: retrieval_metrics(ranks[[i for i, x in enumerate(sources) if x == s]])["mrr_at_10"]
                  for s in sorted(set(sources))}
    return {"metrics": out, "per_source_mrr_at_10": per_source}, ranks


def run(params_path: str = "params.yaml") -> None:
    params = load_params(params_path, ("model", "evaluate"))
    mp, cfg = params["model"], params["evaluate"]
    val_file = SPLITS_DIR / "validation.jsonl"
    if not val_file.exists():
        raise UserError(f"{val_file}: not found", fix="run the split stage first (dvc repro split)")
    if not (MODEL_DIR / "modules.json").exists():
        raise UserError(f"{MODEL_DIR}: no trained model", fix="run the train stage first (dvc repro train)")
    rows = atomic.read_jsonl(val_file)
    base, _ = score_model(load_model(mp["name"], mp["max_seq_length"], mp["pooling"]), rows, cfg)
    tuned, _ = score_model(load_model(str(MODEL_DIR)), rows, cfg)
    delta = {k: tuned["metrics"][k] - base["metrics"][k] for k in tuned["metrics"] if "_ci_" not in k}
    per_source = {s: {"base_mrr_at_10": base["per_source_mrr_at_10"][s], "tuned_mrr_at_10": v,
                      "delta_mrr_at_10": v - base["per_source_mrr_at_10"][s]}
                  for s, v in tuned["per_source_mrr_at_10"].items()}
    n_queries = sum(1 for r in rows if r["score"] >= 0.5)
    result = {"base": base["metrics"], "tuned": tuned["metrics"], "delta": delta, "per_source": per_source,
              "n_queries": n_queries, "n_passages": len({r["passage_id"] for r in rows if r["score"] >= 0.5})}
    atomic.write_json(METRICS_FILE, result)
    from banglasim.report import write_report

    write_report(params, result)
    b, t = base["metrics"], tuned["metrics"]
    print(f"evaluate: MRR@10 base {b['mrr_at_10']:.4f} -> tuned {t['mrr_at_10']:.4f} "
          f"(95% CI {t.get('mrr_at_10_ci_low', float('nan')):.4f}-{t.get('mrr_at_10_ci_high', float('nan')):.4f}); "
          f"eval score {b['eval_score']:.4f} -> {t['eval_score']:.4f} on {n_queries} questions")
