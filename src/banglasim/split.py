"""Stage `split`: train/validation split, grouped by passage so no passage sits on both sides.

Writes data/splits/train.jsonl (anchor, positive), data/splits/validation.jsonl (scored query-passage
pairs: own passage 1.0, passages of other documents 0.0) and metrics/split.json.
"""

from __future__ import annotations

import random
from pathlib import Path

from banglasim import atomic
from banglasim.errors import UserError
from banglasim.params import load_params
from banglasim.prepare import PREPARED_DIR

SPLITS_DIR = Path("data/splits")
METRICS_FILE = Path("metrics/split.json")


def split_examples(examples: list[dict], val_fraction: float, seed: int, group_by: str) -> tuple[list[dict], list[dict]]:
    """Return (train, validation). Grouped: whole passages go to validation until it holds its share."""
    rng = random.Random(seed)
    n_val = max(1, round(val_fraction * len(examples)))
    if group_by == "none":
        order = list(examples)
        rng.shuffle(order)
        return order[n_val:], order[:n_val]
    by_passage: dict[str, list[dict]] = {}
    for ex in examples:
        by_passage.setdefault(ex["passage_id"], []).append(ex)
    pids = sorted(by_passage)
    if len(pids) < 2:
        raise UserError(
            "split.group_by: passage needs at least 2 distinct passages, found " + str(len(pids)),
            fix="add data, or set split.group_by: none",
        )
    rng.shuffle(pids)
    val_pids: set[str] = set()
    taken = 0
    for pid in pids[:-1]:  # the last passage always stays in train
        if taken >= n_val:
            break
        val_pids.add(pid)
        taken += len(by_passage[pid])
    train = [ex for ex in examples if ex["passage_id"] not in val_pids]
    val = [ex for ex in examples if ex["passage_id"] in val_pids]
    return train, val


def scored_pairs(val: list[dict], passages: dict[str, str], negatives: int, seed: int) -> list[dict]:
    """Each validation query with its own passage (1.0) and `negatives` other passages (0.0), seeded."""
    rng = random.Random(seed)
    val_pids = sorted({ex["passage_id"] for ex in val})
    all_pids = sorted(passages)
    rows = []
    pool = val_pids if len(val_pids) > 1 else all_pids
    for ex in val:
        base = {"query_id": ex["query_id"], "query": ex["query"], "source": ex["source"]}
        rows.append({**base, "passage_id": ex["passage_id"], "passage": passages[ex["passage_id"]], "score": 1.0})
        drawn = rng.sample(pool, min(negatives + 1, len(pool)))  # one spare, in case it is the own passage
        for pid in [p for p in drawn if p != ex["passage_id"]][:negatives]:
            rows.append({**base, "passage_id": pid, "passage": passages[pid], "score": 0.0})
    return rows


def run(params_path: str = "params.yaml") -> None:
    cfg = load_params(params_path, ("split",))["split"]
    try:
        examples = atomic.read_jsonl(PREPARED_DIR / "examples.jsonl")
        passages = {p["passage_id"]: p["text"] for p in atomic.read_jsonl(PREPARED_DIR / "passages.jsonl")}
    except FileNotFoundError as exc:
        raise UserError(f"{exc.filename}: not found", fix="run the prepare stage first (dvc repro prepare)") from None
    if len(examples) < 2:
        raise UserError(f"{PREPARED_DIR}/examples.jsonl has {len(examples)} example(s); a split needs at least 2")
    train, val = split_examples(examples, cfg["val_fraction"], cfg["seed"], cfg["group_by"])
    pairs = scored_pairs(val, passages, cfg["negatives_per_query"], cfg["seed"])
    train_rows = [{"anchor": ex["query"], "positive": passages[ex["passage_id"]], "query_id": ex["query_id"],
                   "passage_id": ex["passage_id"], "source": ex["source"]} for ex in train]
    train_pids = {ex["passage_id"] for ex in train}
    val_pids = {ex["passage_id"] for ex in val}
    metrics = {
        "train_examples": len(train),
        "val_queries": len(val),
        "val_pairs": len(pairs),
        "train_passages": len(train_pids),
        "val_passages": len(val_pids),
        "val_passages_in_train": len(val_pids & train_pids),
    }
    with atomic.atomic_dir(SPLITS_DIR) as out:
        (out / "train.jsonl").write_text(atomic.jsonl_text(train_rows), encoding="utf-8")
        (out / "validation.jsonl").write_text(atomic.jsonl_text(pairs), encoding="utf-8")
    atomic.write_json(METRICS_FILE, metrics)
    print(f"split ({cfg['group_by']}): {len(train)} train, {len(val)} validation queries, {len(pairs)} scored pairs, "
          f"{metrics['val_passages_in_train']} validation passages also in train")
