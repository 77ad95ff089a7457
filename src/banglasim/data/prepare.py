"""Stage `prepare`: merge the ingested sources into passages and (query, passage) training examples.

Reads data/sources/NAME/ for every source of `data.sources` (in that order), merges identical
passages, drops duplicate pairs, and writes up to `prepare.num_samples` examples chosen with
`prepare.seed` to data/prepared/{passages,examples}.jsonl, with the counts in metrics/prepare.json.
"""

from __future__ import annotations

import json
import random

from banglasim.config.params import load_params
from banglasim.config.paths import (
    EXAMPLES_FILE,
    PASSAGES_FILE,
    PREPARE_METRICS,
    PREPARED_DIR,
    source_counts_file,
    source_records_file,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.data.sources import SourceCounts, counts_from_dict, merge_sources, totals


def load_ingested(names: list[str]) -> dict[str, tuple[list[dict], SourceCounts]]:
    """Records and counts of each ingested source, in the order of data.sources."""
    out = {}
    for name in names:
        counts_file = source_counts_file(name)
        if not counts_file.exists():
            raise UserError(
                f"{counts_file.parent}: source '{name}' has not been ingested",
                fix=f"run `dvc repro` (or python -m banglasim ingest {name})",
            )
        counts = counts_from_dict(json.loads(counts_file.read_text(encoding="utf-8")))
        out[name] = (atomic.read_jsonl(source_records_file(name)), counts)
    return out


def run(params_path: str) -> None:
    params = load_params(params_path, ("data", "prepare"))
    cfg = params.prepare
    sources = load_ingested(list(params.data.sources))
    passages_by_id, all_examples = merge_sources(sources)
    examples = sorted(all_examples, key=lambda e: e["query_id"])  # input order must not matter
    random.Random(cfg.seed).shuffle(examples)
    examples = examples[: cfg.num_samples]
    used = {e["passage_id"] for e in examples}
    passages = [p for pid, p in sorted(passages_by_id.items()) if pid in used]
    counts = {label: c for label, (_, c) in sources.items()}
    metrics = {
        "total": {**totals(counts), "distinct_passages": len(passages_by_id), "examples": len(examples)},
        "sources": {label: {k: v for k, v in vars(c).items() if k != "skipped_files"} for label, c in counts.items()},
        "skipped_files": [f for c in counts.values() for f in c.skipped_files],
    }
    with atomic.atomic_dir(PREPARED_DIR) as out:
        (out / PASSAGES_FILE.name).write_text(atomic.jsonl_text(passages), encoding="utf-8")
        (out / EXAMPLES_FILE.name).write_text(atomic.jsonl_text(examples), encoding="utf-8")
    atomic.write_json(PREPARE_METRICS, metrics)
    t = metrics["total"]
    print(
        f"prepare: {t['questions']} questions, {t['passages']} passage entries -> {t['distinct_passages']} distinct, "
        f"{t['duplicates_dropped']} duplicates dropped, {len(examples)} examples written to {PREPARED_DIR}/"
    )
