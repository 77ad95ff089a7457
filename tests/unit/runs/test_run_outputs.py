"""What the train and evaluate stages say about a run: the published step, the wall time of a resumed run, no
"nan" interval; and the leftovers of killed writers are ignored by git (issue 19, minor points)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from types import SimpleNamespace

import pytest
from safetensors.torch import save_file

from banglasim.config.params import Params, load_params
from banglasim.models.loading import freeze_all_but_last, load_model
from banglasim.runs.checkpoints import (
    COMPLETE_MARKER,
    TRAINABLE_WEIGHTS,
    WALL_FILE,
    CheckpointMarker,
    trainable_state,
    wall_seconds_before,
)

from repo_helpers import REPO_ROOT


def test_select_best_says_which_step_was_published(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """`select: best` published step 6 while dvclive/metrics.json showed step 12, and nothing said so."""
    from banglasim.runs import publish
    from banglasim.training.train import publish_run
    from dvclive import Live

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / ".checkpoints" / "run"
    model = load_model(str(tiny_model_dir))
    freeze_all_but_last(model, 2)
    (run_dir / "checkpoint-6").mkdir(parents=True)
    save_file(trainable_state(model), str(run_dir / "checkpoint-6" / TRAINABLE_WEIGHTS))
    history = [
        {"step": s, "epoch": s / 12, "eval_score": 0.5, "avg_cosine": 0.5, "val_mrr_at_10": mrr}
        for s, mrr in ((0, 0.5), (6, 0.9), (12, 0.8))
    ]
    live = Live(dir=str(publish.staging_dir(run_dir) / "dvclive"), save_dvc_exp=False, dvcyaml=None)
    live.log_param("run", "run")
    for row in history:
        live.step = row["step"]
        live.log_metric("val_mrr_at_10", row["val_mrr_at_10"])
        live.next_step()
    repo = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    params = Params(
        model=replace(repo.model, name=str(tiny_model_dir), trainable_layers=2),
        train=replace(repo.train, select="best"),
    )
    trainer = SimpleNamespace(state=SimpleNamespace(global_step=12), model=model)
    publish_run(
        params,
        run_dir,
        trainer,
        history,
        live,
        {"wall_seconds": 3.0, "wall_seconds_this_part": 3.0, "seconds_per_step": 0.25, "resumed_from": None},
    )
    out = capsys.readouterr().out
    assert "published step 6 of 12 (train.select: best)" in out
    assert "dvclive/metrics.json shows the last step, 12, and names the published one as published_step" in out
    summary = json.loads((tmp_path / "dvclive/metrics.json").read_text())
    assert summary["step"] == 12 and summary["published_step"] == 6
    assert json.loads((tmp_path / "metrics/train.json").read_text())["selected_step"] == 6


def test_a_resumed_runs_wall_time_adds_the_parts_before_its_checkpoint(tmp_path):
    """A resumed run's record said wall_seconds: 0.3 (only its own short part)."""
    (tmp_path / "checkpoint-7").mkdir()
    marker = CheckpointMarker(wall_before=100.0)
    marker.on_train_begin(None, None, None)
    marker.on_save(SimpleNamespace(process_index=0, output_dir=str(tmp_path)), SimpleNamespace(global_step=7), None)
    assert (tmp_path / "checkpoint-7" / COMPLETE_MARKER).exists()
    seconds = wall_seconds_before(tmp_path / "checkpoint-7")
    assert 100.0 <= seconds < 160.0, seconds
    assert float((tmp_path / "checkpoint-7" / WALL_FILE).read_text()) == seconds
    assert wall_seconds_before(None) == 0.0
    (tmp_path / "checkpoint-9").mkdir()  # a checkpoint of an older version: no wall file
    assert wall_seconds_before(tmp_path / "checkpoint-9") == 0.0


def test_evaluate_prints_no_nan_interval_without_bootstrap():
    """`evaluate.bootstrap_samples: 0` printed "95% CI nan-nan"."""
    from banglasim.evaluation.headline import summary_line

    part = {
        "n_queries": 10,
        "n_passages": 30,
        "base": {"mrr_at_10": 0.5, "eval_score": 0.4},
        "tuned": {"mrr_at_10": 0.7, "eval_score": 0.6},
        "within_split": {"base": {"mrr_at_10": 0.6}, "tuned": {"mrr_at_10": 0.8}},
    }
    line = summary_line({"test": part})
    assert "nan" not in line and "no interval: evaluate.bootstrap_samples is 0" in line
    part["tuned"].update(mrr_at_10_ci_low=0.6, mrr_at_10_ci_high=0.8)
    assert "(95% CI 0.6000-0.8000)" in summary_line({"test": part})


@pytest.mark.parametrize(
    "path",
    [
        "models/.base.tmp-4242-x1y2/model.safetensors",
        "data/.prepared.old-4242-ab/p.jsonl",
        "metrics/.train.json.tmp-4242-q",
    ],
)
def test_temp_folders_of_killed_writers_are_ignored_by_git(path):
    """A killed base_model left a 449 MB `.base.tmp-PID-*` folder that `git status` offered to add."""
    proc = subprocess.run(["git", "check-ignore", "--no-index", path], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"{path} is not ignored by .gitignore"
