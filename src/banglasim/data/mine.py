"""Stage `mine`: hard negatives for each training question, mined with the base model or with BM25.

For `train.hard_negatives: N > 0`, the training passages are ranked for each question by the base model
(`mine.negatives_from: base`: sentence-transformers' own `mine_hard_negatives`, prompts as in training) or
by BM25 (`bm25`: the keyword engine of retrieval/lexical.py with the retrieval section's settings, DPR's
recipe), and the top `mine.range_max` candidates that score below (1 - mine.relative_margin) of the
question's own passage are kept (the same guard against unmarked positives for both). Candidates that contain the
question's answer text are dropped as well (they likely answer it too); a question left with fewer
than N gets seeded random passages (also without its answer), counted in metrics/mine.json. With N = 0
the training pairs are written unchanged. Its own stage, so changing a train param never re-mines.
"""

from __future__ import annotations

from banglasim.config.params import MineParams, load_params
from banglasim.config.paths import BASE_MODEL_DIR, MINE_METRICS, MINED_DIR, MINED_TRAIN_FILE, TRAIN_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.data.negatives import EXTRA_CANDIDATES, bm25_candidates, keep_negatives
from banglasim.models.loading import load_model, quiet_library_bars, resolve_prompts
from banglasim.retrieval.settings import bm25_settings


def mine(
    rows: list[dict], n: int, cfg: MineParams, model, prompts: dict[str, str], seed: int
) -> tuple[list[dict], dict]:
    """Rows with `negatives` (n passages each) added; and the counts."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    corpus = sorted({r["positive"] for r in rows})
    k = n + EXTRA_CANDIDATES
    if len(corpus) < n + 1:
        raise UserError(
            f"train.hard_negatives = {n} needs more than {n} training passages; there are {len(corpus)}",
            fix="lower train.hard_negatives",
        )
    pairs = Dataset.from_dict({"anchor": [r["anchor"] for r in rows], "positive": [r["positive"] for r in rows]})
    mined = mine_hard_negatives(
        pairs,
        model,
        corpus=corpus,
        range_max=max(cfg.range_max, k),
        relative_margin=cfg.relative_margin,
        num_negatives=min(k, len(corpus) - 1),
        sampling_strategy="top",
        output_format="n-tuple",
        query_prompt=prompts["query"] or None,
        corpus_prompt=prompts["passage"] or None,
        batch_size=cfg.batch_size,
        verbose=False,
    )
    columns = [c for c in mined.column_names if c.startswith("negative")]
    found = {(r["anchor"], r["positive"]): [r[c] for c in columns] for r in mined}
    out, counts = keep_negatives(rows, n, found, seed)
    counts["negatives_from"] = "base"
    return out, counts


def run(params_path: str) -> None:
    quiet_library_bars()
    params = load_params(params_path, ("mine", "model", "train", "retrieval"))
    n, mp, cfg = params.train.hard_negatives, params.model, params.mine
    by_model = n > 0 and cfg.negatives_from == "base"
    require_inputs([(TRAIN_FILE, "split")] + ([(BASE_MODEL_DIR / "modules.json", "base_model")] if by_model else []))
    rows = atomic.read_jsonl(TRAIN_FILE)
    if n == 0:
        out, counts = rows, {"hard_negatives": 0, "questions": len(rows)}
    elif cfg.negatives_from == "bm25":
        found = bm25_candidates(rows, n, cfg, bm25_settings(params.retrieval))
        out, counts = keep_negatives(rows, n, found, params.train.seed)
        counts["negatives_from"] = "bm25"
    else:
        model = load_model(str(BASE_MODEL_DIR), mp.max_seq_length, mp.pooling)
        prompts = resolve_prompts(model, mp.query_prompt, mp.passage_prompt)
        out, counts = mine(rows, n, params.mine, model, prompts, params.train.seed)
    with atomic.atomic_dir(MINED_DIR) as tmp:
        (tmp / MINED_TRAIN_FILE.name).write_text(atomic.jsonl_text(out), encoding="utf-8")
    atomic.write_json(MINE_METRICS, counts)
    print(
        f"mine: {n} hard negative(s) for each of {len(rows)} questions"
        + (f", from {cfg.negatives_from}" if n else "")
        + (f" ({counts['topped_up_with_random']} topped up with random passages)" if n else "")
    )
