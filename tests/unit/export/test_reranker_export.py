"""The re-ranker's ONNX export (tiny cross-encoder): fp32 = CrossEncoder logits, int8 close, order kept, manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from banglasim.export import build
from banglasim.export.reranker_build import build_reranker
from banglasim.export.reranker_runtime import OnnxPairScorer

from repo_helpers import REPO_ROOT, tool_env

LONG = "ঢাকা শহর " * 12  # past max_length 64 as a pair: truncated, longest first
PAIRS = [
    ("পদ্মা কোথায়?", "পদ্মা বাংলাদেশের প্রধান নদী।"),
    ("নদী", LONG),
    ("a", "নদী"),
    (LONG, "কোথায়?"),
    ("ঢাকা কোথায়?", "ঢাকা শহর"),
    ("প্রধান নদী", "a"),
]
CORPUS = [t for pair in PAIRS for t in pair]  # lacks some of the tiny vocabulary's characters (— ‘ ’)


def _ce(model_dir: Path):
    """The tiny BERT as a cross-encoder, its classifier drawn with a fixed seed wide enough to spread the logits."""
    import torch
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(model_dir), num_labels=1, max_length=64, device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ce.model.classifier.weight.copy_(torch.randn(ce.model.classifier.weight.shape, generator=gen))
        ce.model.classifier.bias.fill_(0.5)
    return ce


def _expected(model_dir: Path, pairs=PAIRS) -> np.ndarray:
    import torch

    return _ce(model_dir).predict(pairs, activation_fn=torch.nn.Identity(), batch_size=len(pairs))


@pytest.fixture(scope="module")
def exports(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """fp32 with the full vocabulary, fp32 pruned to CORPUS, int8 pruned (the default)."""
    root = tmp_path_factory.mktemp("reranker_exports")
    out = {}
    for name, opts in {
        "fp32_full": build.ExportOptions(vocab="full", quantize="fp32"),
        "fp32": build.ExportOptions(quantize="fp32"),
        "int8": build.ExportOptions(),
    }.items():
        out[name] = root / name
        build_reranker(_ce(tiny_model_dir), out[name], CORPUS, opts, source_sha256="0" * 64)
    return out


@pytest.mark.parametrize("name", ["fp32_full", "fp32"])
def test_fp32_matches_cross_encoder(tiny_model_dir, exports, name):
    expected = _expected(tiny_model_dir)
    assert np.diff(np.sort(expected)).min() > 1e-3  # distinct logits (a random BERT's are close): order is testable
    scorer = OnnxPairScorer(exports[name])
    got = scorer.score([q for q, _ in PAIRS], [t for _, t in PAIRS], batch_size=2)
    assert got.dtype == np.float32 and got.shape == (len(PAIRS),)
    assert np.abs(got - expected).max() < 1e-4


def test_order_kept_and_batching_changes_nothing(exports):
    scorer = OnnxPairScorer(exports["fp32"])
    questions, texts = [q for q, _ in PAIRS], [t for _, t in PAIRS]
    together = scorer.score(questions, texts, batch_size=32)
    single = np.array([scorer.score([q], [t])[0] for q, t in PAIRS], dtype=np.float32)
    assert np.abs(together - single).max() < 1e-4
    perm = [3, 0, 5, 1, 4, 2]
    shuffled = scorer.score([questions[i] for i in perm], [texts[i] for i in perm], batch_size=3)
    assert np.abs(shuffled - together[perm]).max() < 1e-4
    assert scorer.score([], []).shape == (0,)
    with pytest.raises(ValueError, match="one question per text"):
        scorer.score(["a"], ["a", "b"])


def test_pruned_vocab_scores_as_full(exports):
    full, pruned = OnnxPairScorer(exports["fp32_full"]), OnnxPairScorer(exports["fp32"])
    assert pruned.manifest["pieces_kept"] < full.manifest["pieces_kept"] == full.manifest["pieces_total"]
    questions, texts = [q for q, _ in PAIRS], [t for _, t in PAIRS]
    assert np.abs(full.score(questions, texts) - pruned.score(questions, texts)).max() < 1e-5


def test_int8_close_to_fp32_and_smaller(exports):
    questions, texts = [q for q, _ in PAIRS], [t for _, t in PAIRS]
    a = OnnxPairScorer(exports["fp32"]).score(questions, texts)
    b = OnnxPairScorer(exports["int8"]).score(questions, texts)
    assert np.abs(a - b).max() < 0.05 * np.ptp(a) + 0.02
    assert np.corrcoef(a, b)[0, 1] > 0.99 and (np.argsort(a) == np.argsort(b)).all()
    assert (exports["int8"] / "model.onnx").stat().st_size < (exports["fp32"] / "model.onnx").stat().st_size


def test_manifest_and_window_tokenizer(exports):
    m = json.loads((exports["int8"] / "manifest.json").read_text(encoding="utf-8"))
    assert m["format"] == "banglasim-reranker/1" and m["kind"] == "reranker" and m["output"] == "logits"
    assert m["quantize"] == "int8" and m["vocab"] == "bengali_latin" and m["max_length"] == 64 and m["opset"] == 21
    assert m["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]  # BERT's tokenizer makes type ids
    assert m["model_sha256"] == build.file_sha256(exports["int8"] / "model.onnx")
    assert m["source_model_sha256"] == "0" * 64 and m["pad_id"] == 0
    assert m["sizes"]["model.onnx"] == (exports["int8"] / "model.onnx").stat().st_size
    assert set(m["files"]) == {"model.onnx", "tokenizer.json"} and set(m["versions"]) >= {"torch", "onnxruntime"}
    assert json.loads((exports["fp32"] / "manifest.json").read_text(encoding="utf-8"))["opset"] == 17
    scorer = OnnxPairScorer(exports["int8"])
    assert scorer.key == m["model_sha256"] and scorer.max_length == 64
    tokenizer, length = scorer.window_tokenizer()
    assert length == 64 and tokenizer.truncation["strategy"] == "longest_first"
    assert len(tokenizer.encode(*PAIRS[1]).ids) == 64


def test_wrong_format_is_a_clear_error(exports, tmp_path):
    folder = tmp_path / "not_reranker"
    shutil.copytree(exports["fp32"], folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format": "banglasim-export/1"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"banglasim-export/1.*expected 'banglasim-reranker/1'"):
        OnnxPairScorer(folder)


def test_runtime_imports_no_torch(exports):
    code = (
        "import sys; from banglasim.export.reranker_runtime import OnnxPairScorer; "
        f"s = OnnxPairScorer({str(exports['int8'])!r}).score(['নদী'], ['পদ্মা নদী']); "
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "print(s.shape, bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, env=tool_env(REPO_ROOT), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(1,) []" in proc.stdout


def test_stage_writes_the_folder(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from banglasim.core.errors import UserError
    from banglasim.export import export_reranker
    from banglasim.models.folder import folder_digest

    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="models/reranker/config.json: not found"):
        export_reranker.run("params.yaml")
    _ce(tiny_model_dir).save(str(tmp_path / "models/reranker"))
    prepared = tmp_path / "data/prepared"
    prepared.mkdir(parents=True)
    (prepared / "passages.jsonl").write_text(json.dumps({"passage_id": "p1", "text": PAIRS[0][1]}) + "\n")
    (prepared / "examples.jsonl").write_text(json.dumps({"query_id": "q1", "query": PAIRS[0][0]}) + "\n")
    export_reranker.run("params.yaml")
    out = tmp_path / "models/reranker_export"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx", "tokenizer.json"]
    scorer = OnnxPairScorer(out)
    assert scorer.manifest["source_model_sha256"] == folder_digest(tmp_path / "models/reranker")
    assert scorer.score([PAIRS[0][0]], [PAIRS[0][1]]).shape == (1,)
    assert "export_reranker: models/reranker_export/" in capsys.readouterr().out


def test_no_type_ids_when_the_tokenizer_makes_none(tiny_model_dir, tmp_path):
    """e5/XLM-R tokenizers make no token_type_ids: the graph then has two inputs (here: BERT told so)."""
    import torch

    ce = _ce(tiny_model_dir)
    ce.tokenizer.model_input_names = ["input_ids", "attention_mask"]
    expected = ce.predict(PAIRS, activation_fn=torch.nn.Identity())
    opts = build.ExportOptions(vocab="full", quantize="fp32")
    manifest = build_reranker(ce, tmp_path / "two", CORPUS, opts, source_sha256="0" * 64)
    assert manifest["inputs"] == ["input_ids", "attention_mask"]
    got = OnnxPairScorer(tmp_path / "two").score([q for q, _ in PAIRS], [t for _, t in PAIRS])
    assert np.abs(got - expected).max() < 1e-4
