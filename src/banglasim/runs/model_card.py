"""The project's section of the model card (sentence-transformers writes the rest of README.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from banglasim.config.params import Params
from banglasim.config.paths import BASE_MODEL_DIR
from banglasim.models.registry import BUILTIN_MODELS, hub_id
from banglasim.runs.run_record import data_counts


def base_model_name(name: str) -> str:
    """The base model as a reader knows it (a built-in one by its hub id and where the copy came from)."""
    return f"{hub_id(name)} (an offline copy shipped in a PyPI package)" if name in BUILTIN_MODELS else name


def base_provenance(base: Path = BASE_MODEL_DIR) -> dict:
    """The base folder's provenance.json, written by the base_model stage ({} when missing or unreadable)."""
    try:
        return json.loads((base / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def append_project_section(readme: Path, params: Params, step: int, row: dict) -> None:
    """Add base model, params, data counts, the published step and its metrics to the model's README.md."""
    mp = params.model
    base = base_model_name(mp.name)
    counts = data_counts()
    lines = [
        "",
        "## Fine-tuning in this project (banglasim)",
        "",
        f"- Base model: `{base}`",
        f"- Where its weights came from: `{json.dumps(base_provenance(), ensure_ascii=False)}`",
        f"- Published checkpoint: step {step} (`train.select: {params.train.select}`)",
        f"- Model params: `{json.dumps(asdict(mp), ensure_ascii=False)}`",
        f"- Train params: `{json.dumps(asdict(params.train), ensure_ascii=False)}`",
        f"- Data counts: `{json.dumps(counts, ensure_ascii=False)}`",
        f"- Validation at the published step: eval score (cosine Spearman) {row['eval_score']:.4f}, "
        f"average query-passage cosine {row['avg_cosine']:.4f}, MRR@10 {row.get('val_mrr_at_10', float('nan')):.4f}"
        + (f", train loss {row['train_loss']:.4f}" if "train_loss" in row else ""),
        "- Base vs tuned retrieval metrics (MRR@10, Recall@k, nDCG@10) with 95% intervals: "
        "`metrics/evaluate.json` and `reports/training_report.md` of the run.",
        "",
    ]
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(text + "\n".join(lines), encoding="utf-8")
