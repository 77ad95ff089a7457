"""The evaluate stage's code scores the export like a model: fp32 export = the model; export - tuned reported."""

from __future__ import annotations

import pytest
from qa_samples import validation_rows

from banglasim.config.params import EvaluateParams
from banglasim.evaluation.evaluate import compare, score_model
from banglasim.evaluation.report import _results_table, export_note
from banglasim.export import build
from banglasim.export.adapter import ExportModel
from banglasim.models.loading import load_model

from repo_helpers import sample_chars

PROMPTS = {"query": "query: ", "passage": "passage: "}


@pytest.fixture(scope="module")
def fp32_export(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "fp32"
    build.build(
        load_model(str(tiny_model_dir)),
        out,
        ["".join(sample_chars())],
        build.ExportOptions(quantize="fp32"),
        PROMPTS,
        source_sha256="0" * 64,
    )
    return out


def test_fp32_export_scores_exactly_like_the_model(tiny_model_dir, fp32_export):
    rows, cfg = validation_rows(), EvaluateParams(batch_size=4, bootstrap_samples=30, seed=42)
    model_result, model_ranks = score_model(load_model(str(tiny_model_dir)), rows, cfg, PROMPTS)
    export_result, export_ranks = score_model(ExportModel(fp32_export), rows, cfg, PROMPTS)
    for kind in ("corpus", "within_split"):
        assert (export_ranks[kind] == model_ranks[kind]).all(), kind
    for key, value in model_result["metrics"].items():
        assert export_result["metrics"][key] == pytest.approx(value, abs=1e-5), key


def test_compare_adds_the_export_and_its_paired_interval(tiny_model_dir, fp32_export):
    tiny = load_model(str(tiny_model_dir))
    part = compare(
        tiny,
        tiny,
        validation_rows(),
        EvaluateParams(batch_size=4, bootstrap_samples=30, seed=42),
        PROMPTS,
        export=ExportModel(fp32_export),
    )
    assert part["export"]["mrr_at_10"] == pytest.approx(part["tuned"]["mrr_at_10"], abs=1e-6)
    assert part["export_delta"]["mrr_at_10"] == pytest.approx(0.0, abs=1e-6)
    assert part["export_delta"]["mrr_at_10_ci_low"] <= 0 <= part["export_delta"]["mrr_at_10_ci_high"]
    table = _results_table(part)
    assert table[0] == "| metric | base | tuned | delta | export (ONNX) | export - tuned |"
    assert all(line.count("|") == 7 for line in table[:3])
    assert "export - tuned +0.0000 [" in export_note(part)[0]
    assert "export" not in compare(
        tiny, tiny, validation_rows(), EvaluateParams(batch_size=4, bootstrap_samples=0, seed=42), PROMPTS
    )
