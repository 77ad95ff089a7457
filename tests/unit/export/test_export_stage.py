"""The `export` stage on the tiny model in a scratch folder: the folder it writes, its params, its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from banglasim.cli import main
from banglasim.export.runtime import OnnxEncoder
from banglasim.models.folder import folder_digest

from data_helpers import edit_params
from repo_helpers import REPO_ROOT

PASSAGES = [
    {"passage_id": "p1", "title": "নদী", "text": "পদ্মা বাংলাদেশের প্রধান নদী।"},
    {"passage_id": "p2", "title": "শহর", "text": "ঢাকা বাংলাদেশের রাজধানী।"},
]
EXAMPLES = [
    {"query_id": "q1", "query": "প্রধান নদী কোনটি?", "passage_id": "p1", "source": "D2"},
    {"query_id": "q2", "query": "রাজধানী কোথায়?", "passage_id": "p2", "source": "D3"},
]


@pytest.fixture
def workdir(tmp_path, tiny_model_dir, monkeypatch) -> Path:
    """A folder with what the stage reads: params.yaml, models/model, the run record, data/prepared."""
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(tiny_model_dir, tmp_path / "models/model")
    (tmp_path / "reports").mkdir()
    record = {"prompts": {"query": "query: ", "passage": "passage: "}, "params": {"model": {"name": "tiny-bert"}}}
    (tmp_path / "reports/run_record.json").write_text(json.dumps(record), encoding="utf-8")
    prepared = tmp_path / "data/prepared"
    prepared.mkdir(parents=True)
    for name, rows in (("passages", PASSAGES), ("examples", EXAMPLES)):
        (prepared / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_export_stage_writes_the_folder(workdir, capsys):
    assert main(["export"]) == 0
    out = workdir / "models/export"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "manifest.json", "model.onnx", "tokenizer.json"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source_model_sha256"] == folder_digest(workdir / "models/model")
    assert manifest["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert manifest["quantize"] == "int8" and manifest["vocab"] == "bengali_latin"
    assert set(manifest["sizes"]) == {"model.onnx", "tokenizer.json", "README.md"}
    assert "D2, D3" in (out / "README.md").read_text(encoding="utf-8")
    emb = OnnxEncoder(out).encode(["পদ্মা নদী"], "passage")
    assert emb.shape == (1, 32) and np.isclose(np.linalg.norm(emb), 1.0, atol=1e-5)
    assert "export: models/export/" in capsys.readouterr().out


def test_export_params_choose_fp32_full(workdir):
    edit_params(workdir, export__vocab="full", export__quantize="fp32")
    assert main(["export"]) == 0
    manifest = json.loads((workdir / "models/export/manifest.json").read_text(encoding="utf-8"))
    assert manifest["quantize"] == "fp32" and manifest["pieces_kept"] == manifest["pieces_total"]


def test_bad_export_param_and_missing_model(workdir, capsys):
    edit_params(workdir, export__quantize="int4")
    assert main(["export"]) == 2
    assert "export.quantize = 'int4' is invalid" in capsys.readouterr().err
    edit_params(workdir, export__quantize="int8")
    shutil.rmtree(workdir / "models/model")
    assert main(["export"]) == 2
    err = capsys.readouterr().err
    assert "models/model/modules.json: not found" in err and "dvc repro train" in err
    assert not (workdir / "models/export").exists()
