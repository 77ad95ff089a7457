"""Stage `mine`: hard negatives for each training question, mined with the base model.

For `train.hard_negatives: N > 0`, sentence-transformers' own `mine_hard_negatives` ranks the training
passages for each question with the base model (prompts as in training) and keeps the top candidates
that score below (1 - mine.relative_margin) of the question's own passage. Candidates that contain the
question's answer text are dropped as well (they likely answer it too); a question left with fewer
than N gets seeded random passages (also without its answer), counted in metrics/mine.json. With N = 0
the training pairs are written unchanged. Its own stage, so changing a train param never re-mines.
"""

from __future__ import annotations

import random

from banglasim.config.params import MineParams, load_params
from banglasim.config.paths import BASE_MODEL_DIR, MINE_METRICS, MINED_DIR, MINED_TRAIN_FILE, TRAIN_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.models.loading import load_model, quiet_library_bars, resolve_prompts

EXTRA_CANDIDATES = 5  # mined beyond N, so that dropping answer-bearing passages rarely leaves a question short


def answer_free(answer: str | None, positive: str, candidates: list[str]) -> list[str]:
    """Candidates that are not the positive and do not contain the answer text, in order, without repeats."""
    seen, out = {positive}, []
    for text in candidates:
        if text in seen or (answer and answer in text):
            continue
        seen.add(text)
        out.append(text)
    return out


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
    rng = random.Random(seed)
    out, topped_up, answer_dropped = [], 0, 0
    for r in rows:
        candidates = found.get((r["anchor"], r["positive"]), [])
        kept = answer_free(r.get("answer"), r["positive"], candidates)
        answer_dropped += sum(1 for c in candidates if r.get("answer") and r["answer"] in c)
        if len(kept) < n:
            topped_up += 1
            pool = answer_free(r.get("answer"), r["positive"], rng.sample(corpus, len(corpus)))
            kept += [p for p in pool if p not in kept][: n - len(kept)]
        if len(kept) < n:
            raise UserError(
                f"question {r.get('query_id', '?')}: fewer than {n} training passages lack its answer",
                fix="lower train.hard_negatives",
            )
        out.append({**r, "negatives": kept[:n]})
    counts = {
        "hard_negatives": n,
        "questions": len(rows),
        "mined_in_full": len(rows) - topped_up,
        "topped_up_with_random": topped_up,
        "candidates_with_the_answer_dropped": answer_dropped,
    }
    return out, counts


def run(params_path: str) -> None:
    quiet_library_bars()
    params = load_params(params_path, ("mine", "model", "train"))
    n, mp = params.train.hard_negatives, params.model
    require_inputs([(TRAIN_FILE, "split")] + ([(BASE_MODEL_DIR / "modules.json", "base_model")] if n else []))
    rows = atomic.read_jsonl(TRAIN_FILE)
    if n == 0:
        out, counts = rows, {"hard_negatives": 0, "questions": len(rows)}
    else:
        model = load_model(str(BASE_MODEL_DIR), mp.max_seq_length, mp.pooling)
        prompts = resolve_prompts(model, mp.query_prompt, mp.passage_prompt)
        out, counts = mine(rows, n, params.mine, model, prompts, params.train.seed)
    with atomic.atomic_dir(MINED_DIR) as tmp:
        (tmp / MINED_TRAIN_FILE.name).write_text(atomic.jsonl_text(out), encoding="utf-8")
    atomic.write_json(MINE_METRICS, counts)
    print(
        f"mine: {n} hard negative(s) for each of {len(rows)} questions"
        + (f" ({counts['topped_up_with_random']} topped up with random passages)" if n else "")
    )
