"""The project's section of the model card (sentence-transformers writes the rest of README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from banglasim.modeling import resolve_model_name
from banglasim.run_record import data_counts


def append_project_section(readme: Path, params: dict, step: int) -> None:
    """Add base model, params, data counts and the published step to the saved model's README.md."""
    mp = params["model"]
    base = mp["name"] if mp["name"] != "default" else f"sentence-transformers/all-MiniLM-L6-v2 ({resolve_model_name('default')})"
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
        "- Final validation metrics: see the training logs above and `metrics/evaluate.json` of the run.",
        "",
    ]
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(text + "\n".join(lines), encoding="utf-8")
