"""The ONNX export of the tiny BERT: fp32 matches Sentence Transformers, int8 is close, the runtime needs no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from banglasim.export import build
from banglasim.export.runtime import OnnxEncoder, export_embeddings

from repo_helpers import REPO_ROOT, sample_chars, tool_env

PROMPTS = {"query": "query: ", "passage": "passage: "}
TEXTS = ["পদ্মা বাংলাদেশের প্রধান নদী।", "কোথায়?", "ঢাকা শহর " * 12, "নদী", "a"]


def _st(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def exports(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """fp32 with the full vocabulary, fp32 pruned, int8 pruned (the default), all of the tiny model."""
    root = tmp_path_factory.mktemp("exports")
    corpus = ["".join(sample_chars())]
    out = {}
    for name, opts in {
        "fp32_full": build.ExportOptions(vocab="full", quantize="fp32"),
        "fp32": build.ExportOptions(quantize="fp32"),
        "int8": build.ExportOptions(),
    }.items():
        out[name] = root / name
        build.build(_st(tiny_model_dir), out[name], corpus, opts, PROMPTS, source_sha256="0" * 64)
    return out


@pytest.mark.parametrize("name", ["fp32_full", "fp32"])
def test_fp32_graph_matches_sentence_transformers(tiny_model_dir, exports, name):
    model = _st(tiny_model_dir)
    encoder = OnnxEncoder(exports[name])
    for prompt_name in ("query", "passage"):
        expected = model.encode(TEXTS, prompt=PROMPTS[prompt_name], normalize_embeddings=True)
        got = encoder.encode(TEXTS, prompt_name, batch_size=2)
        assert got.dtype == np.float32 and got.shape == (len(TEXTS), model.get_embedding_dimension())
        assert np.abs(got - expected).max() < 1e-5
    single = np.vstack([encoder.encode([t], "query") for t in TEXTS])  # batching and padding change nothing
    assert np.abs(single - encoder.encode(TEXTS, "query")).max() < 1e-5


def test_int8_close_to_fp32_and_smaller(exports):
    fp32, int8 = OnnxEncoder(exports["fp32"]), OnnxEncoder(exports["int8"])
    a, b = fp32.encode(TEXTS, "passage"), int8.encode(TEXTS, "passage")
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.95
    assert (exports["int8"] / "model.onnx").stat().st_size < (exports["fp32"] / "model.onnx").stat().st_size


def test_manifest(exports, tiny_model_dir):
    m = json.loads((exports["int8"] / "manifest.json").read_text(encoding="utf-8"))
    assert m["format"] == "banglasim-export/1" and m["quantize"] == "int8" and m["vocab"] == "bengali_latin"
    assert m["prompts"] == PROMPTS and m["dim"] == 32 and m["max_seq_length"] == 64 and m["opset"] == 21
    assert m["model_sha256"] == build.file_sha256(exports["int8"] / "model.onnx")
    assert m["sizes"]["model.onnx"] == (exports["int8"] / "model.onnx").stat().st_size
    assert m["pieces_kept"] <= m["pieces_total"] and set(m["versions"]) >= {"torch", "onnx", "onnxruntime"}
    full = json.loads((exports["fp32_full"] / "manifest.json").read_text(encoding="utf-8"))
    assert full["pieces_kept"] == full["pieces_total"]


def test_runtime_imports_no_torch(exports):
    code = (
        "import sys; from banglasim.export.runtime import OnnxEncoder; "
        f"e = OnnxEncoder({str(exports['int8'])!r}).encode(['নদী'], 'query'); "
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "print(e.shape, bad); sys.exit(1 if bad else 0)"
    )
    env = tool_env(REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(1, 32) []" in proc.stdout


def test_unknown_prompt_and_one_shot_helper(exports):
    with pytest.raises(KeyError, match="document"):
        OnnxEncoder(exports["int8"]).encode(["x"], "document")
    emb = export_embeddings(exports["int8"], ["নদী", "পদ্মা"], "passage")
    assert emb.shape == (2, 32)
