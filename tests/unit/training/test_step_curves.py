"""The step series (training loss every few optimizer steps, learning rate) in DVCLive, with a fake trainer state."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_MRR_KEY, TRAINER_SCORE_KEY
from banglasim.training.callbacks import LiveMetrics, StepCurves, curve_every, curve_rows
from banglasim.training.progress import LossMeter
from dvclive import Live

from repo_helpers import read_tsv

MAIN, OTHER = SimpleNamespace(process_index=0), SimpleNamespace(process_index=1)


def fake_optimizer(lr: float):
    return SimpleNamespace(param_groups=[{"lr": lr}])


def lr_at(step: int) -> float:
    return 1e-3 * (1 - step / 100)


def loss_at(step: int) -> float:
    return 3.0 / step


def train(
    cb: StepCurves, metrics: LiveMetrics | None, meter: LossMeter, state, steps: range, evals=(), args=MAIN
) -> None:
    """What the Trainer does per optimizer step: the loss into the meter, the optimizer step, the step end; an
    evaluation (a log entry, then on_evaluate) at the steps in `evals`."""
    for step in steps:
        meter.add(loss_at(step))
        cb.on_optimizer_step(args, state, None, optimizer=fake_optimizer(lr_at(step)))
        state.global_step = step
        cb.on_step_end(args, state, None)
        if step in evals:
            state.log_history.append({"loss": 0.5, "step": step})
            state.log_history.append(
                {
                    TRAINER_SCORE_KEY: 0.1 * step,
                    TRAINER_COSINE_KEY: 0.5,
                    TRAINER_MRR_KEY: 0.7,
                    "epoch": step / steps.stop,
                    "step": step,
                }
            )
            metrics.on_evaluate(args, state, None)


def start(live, meter, state, points=4) -> tuple[StepCurves, LiveMetrics]:
    cb, metrics = StepCurves(meter, live, points=points), LiveMetrics(live)
    metrics.on_train_begin(MAIN, state, None)
    cb.on_train_begin(MAIN, state, None)
    return cb, metrics


def test_curve_every():
    assert [curve_every(n) for n in (1, 49, 50, 339, 1017)] == [1, 1, 1, 6, 20]


def test_series_files_have_the_expected_steps_and_stay_out_of_the_metrics_summary(tmp_path):
    live = Live(dir=str(tmp_path / "dvclive"), save_dvc_exp=False, dvcyaml=None)
    meter, state = LossMeter(), SimpleNamespace(max_steps=11, global_step=0, log_history=[])
    cb, metrics = start(live, meter, state)  # 11 // 4: a point every 2 steps, and at the last step
    assert cb.every == 2
    train(cb, metrics, meter, state, range(1, 12), evals=(6, 11))
    live.end()
    folder = tmp_path / "dvclive/plots/metrics"
    loss, rate = read_tsv(folder / "steps/train_loss.tsv"), read_tsv(folder / "steps/learning_rate.tsv")
    assert [int(r["step"]) for r in loss] == [int(r["step"]) for r in rate] == [2, 4, 6, 8, 10, 11]
    windows = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11,)]
    for row, window in zip(loss, windows):
        assert float(row["train_loss"]) == pytest.approx(sum(map(loss_at, window)) / len(window))
    for row in rate:
        assert float(row["learning_rate"]) == pytest.approx(lr_at(int(row["step"])))  # the rate the step used
    # the evaluation series keep their own steps
    assert [int(r["step"]) for r in read_tsv(folder / "eval_score.tsv")] == [6, 11]
    summary = json.loads((tmp_path / "dvclive/metrics.json").read_text())
    assert "steps" not in summary and summary["step"] == 11 and summary["eval_score"] == pytest.approx(1.1)
    assert [r["step"] for r in curve_rows(state.log_history)] == [2, 4, 6, 8, 10, 11]


def test_a_resumed_run_replays_the_points_before_its_checkpoint(tmp_path):
    """The points live in the log history (which checkpoints keep): a fresh DVCLive folder gets them back."""
    first = Live(dir=str(tmp_path / "a"), save_dvc_exp=False, dvcyaml=None)
    meter, state = LossMeter(), SimpleNamespace(max_steps=12, global_step=0, log_history=[])
    cb, metrics = start(first, meter, state)
    train(cb, metrics, meter, state, range(1, 8), evals=(6,))  # crashed after step 7; checkpoint at step 6
    checkpoint = [e for e in state.log_history if e["step"] <= 6]

    resumed = Live(dir=str(tmp_path / "b"), save_dvc_exp=False, dvcyaml=None)
    meter, state = LossMeter(), SimpleNamespace(max_steps=12, global_step=6, log_history=checkpoint)
    cb, metrics = start(resumed, meter, state)
    train(cb, metrics, meter, state, range(7, 13), evals=(12,))
    resumed.end()
    loss = read_tsv(tmp_path / "b/plots/metrics/steps/train_loss.tsv")
    assert [int(r["step"]) for r in loss] == [3, 6, 9, 12]
    assert float(loss[2]["train_loss"]) == pytest.approx(sum(map(loss_at, (7, 8, 9))) / 3)


def test_other_processes_log_nothing(tmp_path):
    meter, state = LossMeter(), SimpleNamespace(max_steps=4, global_step=0, log_history=[])
    cb = StepCurves(meter, None)
    cb.on_train_begin(OTHER, state, None)
    for step in range(1, 5):
        meter.add(1.0)
        cb.on_optimizer_step(OTHER, state, None, optimizer=fake_optimizer(1e-3))
        state.global_step = step
        cb.on_step_end(OTHER, state, None)
    assert state.log_history == []


def test_the_report_plots_the_loss_and_rate_panel(tmp_path):
    from banglasim.evaluation.report import _plot

    series = {
        0: {"eval_score": 0.1, "avg_cosine": 0.5, "val_mrr_at_10": 0.5},
        10: {"eval_score": 0.2, "avg_cosine": 0.6, "val_mrr_at_10": 0.6, "train_loss": 1.0},
    }
    steps = {s: {"train_loss": loss_at(s), "learning_rate": lr_at(s)} for s in range(1, 11)}
    _plot(series, steps, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
