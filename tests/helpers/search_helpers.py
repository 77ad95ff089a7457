"""A tiny ONNX export (of the tiny BERT of conftest.py) and a workspace with it, its index and prepared passages."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from repo_helpers import tool_env

PASSAGES = [
    {"passage_id": "p-1", "text": "পদ্মা বাংলাদেশের একটি প্রধান নদী।", "title": "পদ্মা", "sources": ["D2"], "files": []},
    {"passage_id": "p-2", "text": "রসগোল্লা একটি জনপ্রিয় মিষ্টি।", "title": "রসগোল্লা", "sources": ["D4"], "files": []},
    {"passage_id": "p-3", "text": "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।", "title": "চাঁদ", "sources": ["D3"], "files": []},
    {"passage_id": "p-4", "text": "ঢাকা বাংলাদেশের রাজধানী।", "title": "ঢাকা", "sources": ["D1"], "files": []},
]
QUESTIONS = ["পদ্মা কোন দেশের নদী?", "চাঁদ কী?", "বাংলাদেশের রাজধানী কোথায়?"]


def export_tiny_model(st_dir: Path, out: Path) -> Path:
    """The export interface (model.onnx, tokenizer.json, manifest.json) for a Sentence Transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer

    from banglasim.export.files import files_map

    model = SentenceTransformer(str(st_dir), device="cpu").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            features = self.model({"input_ids": input_ids, "attention_mask": attention_mask})
            return torch.nn.functional.normalize(features["sentence_embedding"], p=2.0, dim=1)

    out.mkdir(parents=True)
    ids = torch.ones((2, 8), dtype=torch.long)
    dynamic = {0: "batch", 1: "seq"}
    torch.onnx.export(
        Pooled(),
        (ids, torch.ones_like(ids)),
        str(out / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["sentence_embedding"],
        dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "sentence_embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    shutil.copy(st_dir / "tokenizer.json", out / "tokenizer.json")
    manifest = {
        "format": "banglasim-export/1",
        "model_sha256": hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest(),
        "dim": model.get_embedding_dimension(),
        "max_seq_length": 64,
        "prompts": {"query": "query: ", "passage": "passage: "},
        "files": files_map(out),  # as export/build.py records them
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def write_passages(path: Path, passages: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages), encoding="utf-8")


def make_workspace(
    root: Path, export_dir: Path, passages: list[dict] = PASSAGES, approximate_above: int = 100_000, index: bool = True
) -> Path:
    """root/ with models/export, data/prepared/passages.jsonl and (index=True) models/index built from them."""
    from banglasim.search.index import build

    shutil.copytree(export_dir, root / "models" / "export")
    write_passages(root / "data" / "prepared" / "passages.jsonl", passages)
    if index:
        build(
            root / "models" / "export",
            root / "data" / "prepared" / "passages.jsonl",
            root / "models" / "index",
            approximate_above=approximate_above,
        )
    return root


def run_banglasim(cwd: Path, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "banglasim", *args],
        cwd=cwd,
        env=tool_env(),
        input=stdin,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )
