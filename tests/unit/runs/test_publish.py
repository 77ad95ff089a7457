"""Publishing a run: a publish cut short is completed, never mixed; the chosen checkpoint's weights are published."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from banglasim.config.params import Params, load_params
from banglasim.models.loading import freeze_all_but_last, load_model
from banglasim.runs import publish
from banglasim.runs.checkpoints import (
    FINISHED_MARKER,
)

from data_helpers import (
    REPO_ROOT,
)

# ---------------------------------------------------------------- a publish cut short is completed, never mixed


def staged_run(root: Path, tag: str) -> Path:
    """A run folder with every output staged, each file saying which run it is from."""
    run_dir = root / ".checkpoints" / tag
    stage = publish.staging_dir(run_dir)
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "weights").write_text(tag)
    (stage / "dvclive" / "plots" / "metrics").mkdir(parents=True)
    (stage / "dvclive" / "plots" / "metrics" / "eval_score.tsv").write_text(tag)
    for name in ("dvclive/metrics.json", "dvclive/params.yaml", "train.json", "run_record.json"):
        (stage / name).write_text(tag)
    return run_dir


def published_runs(root: Path) -> set[str]:
    return {
        (root / p).read_text()
        for p in (
            "models/model/weights",
            "dvclive/plots/metrics/eval_score.tsv",
            "dvclive/metrics.json",
            "dvclive/params.yaml",
            "metrics/train.json",
            "reports/run_record.json",
        )
    }


def test_publish_failing_half_way_is_rolled_forward_to_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    publish.commit(staged_run(tmp_path, "old"))
    assert published_runs(tmp_path) == {"old"}
    new = staged_run(tmp_path, "new")
    real_replace, calls = os.replace, []

    def disk_full_on_fourth(src, dst):  # 1: READY, 2-3: the model moved aside and into place, 4: the plots
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full_on_fourth)
    with pytest.raises(OSError):
        publish.commit(new)
    assert published_runs(tmp_path) == {"old", "new"}, "cut short: the outputs are mixed for now"
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p.name for p in publish.roll_forward()] == ["new"]  # what the next train stage does first
    assert published_runs(tmp_path) == {"new"}
    assert (new / FINISHED_MARKER).exists() and not publish.staging_dir(new).exists()


def test_a_publish_not_yet_ready_is_not_rolled_forward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    publish.commit(staged_run(tmp_path, "old"))
    staged_run(tmp_path, "half")  # staged, but READY never written: the old outputs stay
    assert publish.roll_forward() == []
    assert published_runs(tmp_path) == {"old"}


# ---------------------------------------------------------------- the published weights


def test_publish_best_writes_the_chosen_checkpoints_weights(tiny_model_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    from banglasim.runs import publish
    from banglasim.runs.checkpoints import TRAINABLE_WEIGHTS, trainable_state

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / ".checkpoints" / "run"
    older = load_model(str(tiny_model_dir))
    freeze_all_but_last(older, 2)
    with torch.no_grad():
        for p in older.parameters():
            p.add_(0.5)
    (run_dir / "checkpoint-7").mkdir(parents=True)
    save_file(trainable_state(older), str(run_dir / "checkpoint-7" / TRAINABLE_WEIGHTS))
    final = load_model(str(tiny_model_dir))
    freeze_all_but_last(final, 2)
    final.prompts = {**final.prompts, "query": "query: ", "passage": "passage: "}  # as build_trainer sets them
    repo = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    params = Params(
        model=replace(repo.model, name=str(tiny_model_dir), max_seq_length=64, trainable_layers=2),
        train=replace(repo.train, select="best"),
    )
    publish.stage_model(
        final, run_dir, 7, 27, params, {"step": 7, "eval_score": 0.5, "avg_cosine": 0.6, "train_loss": 1.2}
    )
    stage = publish.staging_dir(run_dir)
    (stage / "dvclive" / "plots").mkdir(parents=True)
    for name in ("dvclive/metrics.json", "dvclive/params.yaml", "train.json", "run_record.json"):
        (stage / name).write_text("{}\n")
    publish.commit(run_dir)

    published = load_file(str(tmp_path / "models/model/model.safetensors"))
    base = load_model(str(tiny_model_dir))
    trained = {k for k, p in older.named_parameters() if p.requires_grad}
    for key, value in older.state_dict().items():
        want = value if key in trained else base.state_dict()[key]  # frozen weights are the base model's
        assert torch.equal(published[key.split(".", 2)[2]], want), key  # "0.model.<name>" -> "<name>"
    assert json.loads((tmp_path / "models/model/selection.json").read_text()) == {
        "run": "run",
        "step": 7,
        "select": "best",
    }
    assert "step 7" in (tmp_path / "models/model/README.md").read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "models/model/config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert saved["prompts"]["document"] == "passage: "  # encode_document applies the passage prompt
    assert (run_dir / "FINISHED").exists() and not stage.exists()
