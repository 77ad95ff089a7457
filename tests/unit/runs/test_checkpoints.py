"""Checkpoints: which step is published, completion markers, the run key."""

from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from banglasim.config.params import Params, load_params
from banglasim.core.errors import UserError
from banglasim.runs.checkpoints import (
    COMPLETE_MARKER,
    FINISHED_MARKER,
    CheckpointMarker,
    completed_checkpoints,
    run_key,
    select_step,
    train_lock,
)

from data_helpers import (
    REPO_ROOT,
)


def test_select_step_last_and_best():
    rows = [
        {"step": 0, "val_mrr_at_10": 0.9, "eval_score": 0.1},
        {"step": 14, "val_mrr_at_10": 0.5, "eval_score": 0.1},
        {"step": 27, "val_mrr_at_10": 0.3, "eval_score": 0.9},
        {"step": 40, "val_mrr_at_10": 0.5, "eval_score": 0.2},
    ]
    assert select_step(rows, "last") == 40
    # best = highest validation MRR@10 (not the eval score); step 0 (the base model) never wins; ties: earlier step
    assert select_step(rows, "best") == 14


def test_select_step_without_a_trained_evaluation_is_a_user_error():
    with pytest.raises(UserError):
        select_step([{"step": 0, "eval_score": 0.5}], "last")


def test_checkpoint_marker_marks_the_saved_checkpoint(tmp_path):
    (tmp_path / "checkpoint-7").mkdir()
    state = SimpleNamespace(global_step=7, is_world_process_zero=True)
    CheckpointMarker().on_save(SimpleNamespace(process_index=0, output_dir=str(tmp_path)), state, None)
    assert (tmp_path / "checkpoint-7" / COMPLETE_MARKER).exists()
    (tmp_path / "checkpoint-14").mkdir()
    state = SimpleNamespace(global_step=14, is_world_process_zero=False)
    CheckpointMarker().on_save(SimpleNamespace(process_index=1, output_dir=str(tmp_path)), state, None)
    assert not (tmp_path / "checkpoint-14" / COMPLETE_MARKER).exists()


def test_completed_checkpoints_only_marked_ones_in_numeric_order(tmp_path):
    for step, complete in [(7, True), (14, False), (100, True), (21, True)]:
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        if complete:
            (ckpt / COMPLETE_MARKER).write_text(f"{step}\n")
    assert [p.name for p in completed_checkpoints(tmp_path)] == ["checkpoint-7", "checkpoint-21", "checkpoint-100"]
    assert completed_checkpoints(tmp_path / "missing") == []


def test_run_key_changes_with_params_data_base_model_precision_and_code(tmp_path, monkeypatch):
    import banglasim.runs.checkpoints as checkpoints_mod

    data = tmp_path / "train.jsonl"
    data.write_text('{"anchor": "a", "positive": "b"}\n')
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"weights")
    code = tmp_path / "code" / "module.py"
    code.parent.mkdir()
    code.write_text("x = 1\n")
    monkeypatch.setattr(checkpoints_mod, "code_folders", lambda module: [str(code.parent)])
    params = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    mp, tp = params.model, params.train

    def key(model=mp, train=tp, precision="fp32"):
        return run_key(Params(model=model, train=train), [base, data], precision)

    first = key()
    assert first == key(replace(mp), replace(tp))
    assert first != key(train=replace(tp, learning_rate=2e-3))
    assert first != key(model=replace(mp, max_seq_length=32))
    assert first != key(precision="bf16")
    for path, changed, original in (
        (code, "x = 2\n", "x = 1\n"),
        (base / "model.safetensors", "other", "weights"),
        (data, '{"anchor": "a", "positive": "c"}\n', '{"anchor": "a", "positive": "b"}\n'),
    ):
        path.write_text(changed)
        assert first != key(), path.name
        path.write_text(original)
        assert first == key(), path.name


def test_select_best_refuses_a_nan_score():
    rows = [
        {"step": 0, "val_mrr_at_10": 0.5},
        {"step": 5, "val_mrr_at_10": math.nan},
        {"step": 9, "val_mrr_at_10": 0.4},
    ]
    with pytest.raises(UserError, match="NaN"):
        select_step(rows, "best")
    assert select_step(rows, "last") == 9


def hold_train_lock() -> int:
    """Fork a child that holds train_lock() until it is killed (a fork: no second interpreter to start)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only os and fcntl calls, then a hard exit
        try:
            os.close(read_fd)
            with train_lock():
                os.write(write_fd, b"held")
                time.sleep(120)
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        assert os.read(read_fd, 4) == b"held", "the child did not get the lock"
    finally:
        os.close(read_fd)
    return pid


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_second_trainer_stops_with_the_holders_pid_and_a_stale_lock_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    holder = hold_train_lock()
    try:
        with pytest.raises(UserError, match=rf"PID {holder}"):
            with train_lock():
                pass
    finally:
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
    # the holder was killed: its lock file (with its PID) stays, but the lock is free
    assert (tmp_path / ".checkpoints/train.lock").read_text().strip() == str(holder)
    with train_lock():
        assert (tmp_path / ".checkpoints/train.lock").read_text().strip() == str(os.getpid())


def test_only_the_main_process_deletes_run_folders(tmp_path, monkeypatch):
    from banglasim.runs.checkpoints import remove_other_runs, resume_point

    monkeypatch.chdir(tmp_path)
    finished, other = tmp_path / ".checkpoints" / "finished", tmp_path / ".checkpoints" / "other"
    for run in (finished, other):
        (run / "checkpoint-4").mkdir(parents=True)
        (run / "checkpoint-4" / "COMPLETE").write_text("4\n")
    (finished / FINISHED_MARKER).write_text("published\n")
    assert resume_point(finished, remove_finished=False) is None and finished.exists()  # another rank: hands off
    assert resume_point(finished, remove_finished=True) is None and not finished.exists()  # the main process
    remove_other_runs(keep=finished)  # (train calls it on the main process only; the 2-process test runs that)
    assert not other.exists()
