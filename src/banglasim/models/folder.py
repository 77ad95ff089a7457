"""Saved model folders as files: their digest and the Transformer module's loading kwargs (no torch needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def folder_digest(folder: Path) -> str:
    """sha256 over the names and bytes of every file under a (model) folder."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def set_transformer_kwargs(folder: Path, model_kwargs: dict) -> None:
    """Write the Transformer module's `model_kwargs` (e.g. e5's add_pooling_layer: false) into a saved model:
    the library does not save them, and without them every load would add an unused random pooler."""
    config = folder / "sentence_bert_config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**data, "model_kwargs": model_kwargs}, indent=2) + "\n", encoding="utf-8")


def transformer_kwargs(folder: Path) -> dict:
    """The `model_kwargs` a saved model's Transformer module is loaded with ({} when none)."""
    config = folder / "sentence_bert_config.json"
    return json.loads(config.read_text(encoding="utf-8")).get("model_kwargs", {}) if config.exists() else {}
