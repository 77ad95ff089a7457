"""Stage `split`: train/validation/test split, grouped by passage so no passage sits in two of them.

Writes data/splits/train.jsonl (anchor, positive), data/splits/validation.jsonl (scored query-passage
pairs: own passage 1.0, passages of other documents 0.0) and metrics/split.json.
"""

from __future__ import annotations

import random

from banglasim.config.params import load_params
from banglasim.config.paths import (
    EXAMPLES_FILE,
    PASSAGES_FILE,
    SPLIT_METRICS,
    SPLITS_DIR,
    TEST_FILE,
    TRAIN_FILE,
    VALIDATION_FILE,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs


def split_examples(
    examples: list[dict], val_fraction: float, test_fraction: float, seed: int, group_by: str
) -> tuple[list[dict], list[dict], list[dict]]:
    """Return (train, validation, test). Grouped: whole passages go to validation, then to test, until each
    holds its share of the questions; at least one passage always stays in train."""
    rng = random.Random(seed)
    n_val = max(1, round(val_fraction * len(examples)))
    n_test = max(1, round(test_fraction * len(examples)))
    if n_val + n_test >= len(examples):
        raise UserError(
            f"{len(examples)} examples leave no training data after {n_val} validation and {n_test} test questions",
            fix="lower split.val_fraction / split.test_fraction, or add data",
        )
    if group_by == "none":
        order = list(examples)
        rng.shuffle(order)
        return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]
    by_passage: dict[str, list[dict]] = {}
    for ex in examples:
        by_passage.setdefault(ex["passage_id"], []).append(ex)
    pids = sorted(by_passage)
    if len(pids) < 3:
        raise UserError(
            f"split.group_by: passage needs at least 3 distinct passages (train, validation, test), found {len(pids)}",
            fix="add data, or set split.group_by: none",
        )
    rng.shuffle(pids)
    held: list[set[str]] = [set(), set()]
    side, taken = 0, 0
    for pid in pids[:-1]:  # the last passage always stays in train
        if side == 0 and taken >= n_val:
            side, taken = 1, 0
        if side == 1 and taken >= n_test:
            break
        held[side].add(pid)
        taken += len(by_passage[pid])
    if not held[1]:
        raise UserError(
            f"too few passages to hold out a test split ({len(pids)} passages)",
            fix="add data, or lower split.val_fraction",
        )
    val = [ex for ex in examples if ex["passage_id"] in held[0]]
    test = [ex for ex in examples if ex["passage_id"] in held[1]]
    train = [ex for ex in examples if ex["passage_id"] not in held[0] | held[1]]
    return train, val, test


MIN_HELD_OUT_PASSAGES = 2  # ranking one passage always scores MRR@10 = 1.0: it measures nothing


def check_measurable(val: list[dict], test: list[dict], n_passages: int, fractions: dict[str, float]) -> None:
    """Validation and test must each hold at least 2 distinct passages, or their ranking metrics mean nothing."""
    for name, rows in (("validation", val), ("test", test)):
        held = len({ex["passage_id"] for ex in rows})
        if held >= MIN_HELD_OUT_PASSAGES:
            continue
        key = "val_fraction" if name == "validation" else "test_fraction"
        if n_passages < 2 * MIN_HELD_OUT_PASSAGES + 1:
            fix = (
                f"add data: the examples hold {n_passages} distinct passage(s), and validation and test need "
                f"{MIN_HELD_OUT_PASSAGES} each, with at least 1 left for train"
            )
        else:
            fix = f"raise split.{key} (now {fractions[key]}), or add data"
        raise UserError(
            f"the {name} split holds {len(rows)} question(s) on {held} distinct passage(s): ranking fewer "
            f"than {MIN_HELD_OUT_PASSAGES} passages measures nothing (MRR@10 is 1.0 by construction)",
            fix=fix,
        )


def scored_pairs(val: list[dict], passages: dict[str, str], negatives: int, seed: int) -> list[dict]:
    """Each held-out query with its own passage (1.0) and `negatives` other passages (0.0) of the same split
    (of all passages when the split holds only one)."""
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


def run(params_path: str) -> None:
    cfg = load_params(params_path, ("split",)).split
    require_inputs([(EXAMPLES_FILE, "prepare"), (PASSAGES_FILE, "prepare")])
    examples = atomic.read_jsonl(EXAMPLES_FILE)
    passages = {p["passage_id"]: p["text"] for p in atomic.read_jsonl(PASSAGES_FILE)}
    if len(examples) < 3:
        raise UserError(f"{EXAMPLES_FILE} has {len(examples)} example(s); a split needs at least 3")
    train, val, test = split_examples(examples, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.group_by)
    check_measurable(
        val,
        test,
        len({ex["passage_id"] for ex in examples}),
        {"val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction},
    )
    val_pairs = scored_pairs(val, passages, cfg.negatives_per_query, cfg.seed)
    test_pairs = scored_pairs(test, passages, cfg.negatives_per_query, cfg.seed + 1)
    train_rows = [
        {
            "anchor": ex["query"],
            "positive": passages[ex["passage_id"]],
            "query_id": ex["query_id"],
            "passage_id": ex["passage_id"],
            "source": ex["source"],
            "answer": ex.get("answer"),
        }
        for ex in train
    ]
    pids = {name: {ex["passage_id"] for ex in rows} for name, rows in (("train", train), ("val", val), ("test", test))}
    metrics = {
        "train_examples": len(train),
        "val_queries": len(val),
        "test_queries": len(test),
        "val_pairs": len(val_pairs),
        "test_pairs": len(test_pairs),
        "train_passages": len(pids["train"]),
        "val_passages": len(pids["val"]),
        "test_passages": len(pids["test"]),
        "val_passages_in_train": len(pids["val"] & pids["train"]),
        "test_passages_in_train": len(pids["test"] & pids["train"]),
        "test_passages_in_validation": len(pids["test"] & pids["val"]),
    }
    with atomic.atomic_dir(SPLITS_DIR) as out:
        (out / TRAIN_FILE.name).write_text(atomic.jsonl_text(train_rows), encoding="utf-8")
        (out / VALIDATION_FILE.name).write_text(atomic.jsonl_text(val_pairs), encoding="utf-8")
        (out / TEST_FILE.name).write_text(atomic.jsonl_text(test_pairs), encoding="utf-8")
    atomic.write_json(SPLIT_METRICS, metrics)
    print(
        f"split ({cfg.group_by}): {len(train)} train, {len(val)} validation, {len(test)} test questions; "
        f"{metrics['val_passages_in_train'] + metrics['test_passages_in_train']} held-out passages also in train"
    )
