"""A full disk while saving a checkpoint, the trained model or any output: one `error:` paragraph naming the file or
folder and the free space, never torch's or safetensors' own traceback; outputs stay consistent and a rerun resumes
(issue 19.4). The disk is simulated: the save functions raise what they raise on a full tmpfs."""

from __future__ import annotations

import errno
import os
from dataclasses import replace

import pytest
from datasets import Dataset
from safetensors import SafetensorError
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import TrainerCallback

from banglasim.config.params import Params, load_params
from banglasim.core import atomic
from banglasim.core.errors import UserError, exit_code
from banglasim.models.loading import freeze_all_but_last, load_model
from banglasim.runs import publish
from banglasim.runs.checkpoints import CheckpointingTrainer, CheckpointMarker, completed_checkpoints

from repo_helpers import REPO_ROOT

# what each library raises on a full disk, as seen on a 40 MB tmpfs (issue 19.4)
TORCH_FULL = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4416 vs 4310")
SAFETENSORS_FULL = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
OS_FULL = OSError(errno.ENOSPC, "No space left on device")  # no file name: what a failed write() gives


def _raise(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc

    return fail


class SaveAtStep1(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        control.should_save = state.global_step == 1
        return control


def _train_two_steps(model_dir, run_dir) -> CheckpointingTrainer:
    model = load_model(str(model_dir))
    freeze_all_but_last(model, 2)
    pairs = Dataset.from_dict(
        {
            "anchor": ["ঢাকা কোথায়?", "পদ্মা কী?", "চাঁদ কী?", "কে?"],
            "positive": ["ঢাকা রাজধানী।", "পদ্মা নদী।", "চাঁদ উপগ্রহ।", "রবীন্দ্রনাথ।"],
        }
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(run_dir),
        max_steps=2,
        per_device_train_batch_size=2,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    loss = MultipleNegativesRankingLoss(model)
    trainer = CheckpointingTrainer(
        model=model, args=args, train_dataset=pairs, loss=loss, callbacks=[SaveAtStep1(), CheckpointMarker()]
    )
    trainer.train()
    return trainer


@pytest.mark.parametrize(
    ("target", "exc", "reason"),
    [
        ("torch.save", TORCH_FULL, "RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos"),
        ("banglasim.runs.checkpoints.save_file", SAFETENSORS_FULL, "the disk is full"),
        ("banglasim.runs.checkpoints.save_file", OS_FULL, "the disk is full"),
    ],
    ids=["torch", "safetensors", "os"],
)
def test_a_full_disk_at_a_checkpoint_is_one_error_and_the_rerun_resumes(
    tiny_model_dir, tmp_path, monkeypatch, target, exc, reason
):
    run_dir = tmp_path / ".checkpoints" / "run"
    with monkeypatch.context() as patch:
        patch.setattr(target, _raise(exc))
        with pytest.raises(UserError) as caught:
            _train_two_steps(tiny_model_dir, run_dir)
    message = str(caught.value)
    assert message.startswith(f"{run_dir}/checkpoint-1: saving the checkpoint of step 1 failed ({reason}"), message
    assert "MB free there, about " in message and "MB needed" in message and "\n  fix: free disk space" in message
    assert not (run_dir / "checkpoint-1").exists(), "the half-written checkpoint is removed (its space freed)"
    _train_two_steps(tiny_model_dir, run_dir)  # space freed: the rerun saves the checkpoint whole
    assert [p.name for p in completed_checkpoints(run_dir)] == ["checkpoint-1"]


def test_a_full_disk_at_the_model_save_is_one_error_and_the_published_outputs_stay(
    tiny_model_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / ".checkpoints" / "run"
    run_dir.mkdir(parents=True)
    (tmp_path / "models/model").mkdir(parents=True)
    (tmp_path / "models/model/selection.json").write_text('{"run": "old"}\n')  # the last published run
    model = load_model(str(tiny_model_dir))
    freeze_all_but_last(model, 2)
    repo = load_params(REPO_ROOT / "params.yaml", ("model", "train"))
    params = Params(model=replace(repo.model, name=str(tiny_model_dir), trainable_layers=2), train=repo.train)
    row = {"step": 2, "eval_score": 0.5, "avg_cosine": 0.6}
    with monkeypatch.context() as patch:
        patch.setattr(model, "save", _raise(SAFETENSORS_FULL))
        with pytest.raises(UserError) as caught:
            publish.stage_model(model, run_dir, 2, 2, params, row)
    staged = publish.staging_dir(run_dir) / "model"
    message = str(caught.value)
    assert message.startswith(f"{staged}: saving the trained model failed (the disk is full); "), message
    assert "MB free there, about " in message and "fix:" in message
    assert not staged.exists()
    assert (tmp_path / "models/model/selection.json").read_text() == '{"run": "old"}\n'
    publish.stage_model(model, run_dir, 2, 2, params, row)  # space freed: the same call completes
    assert (staged / "model.safetensors").exists()


def test_a_failed_write_names_its_file_and_the_free_space(tmp_path, monkeypatch, capsys):
    """The bare `error: No space left on device` named no file: a write() or fsync() error carries none."""
    target = tmp_path / "metrics" / "train.json"
    monkeypatch.setattr(os, "fsync", _raise(OS_FULL))
    assert exit_code(lambda: atomic.write_json(target, {"step": 1})) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target}: No space left on device (") and "MB free on the disk of" in err, err
    assert "fix: free some disk space" in err
    assert not target.exists() and not list(target.parent.iterdir()), "no temp file left behind"


def test_other_save_errors_are_not_called_a_full_disk():
    from banglasim.core.errors import saving

    with pytest.raises(RuntimeError, match="CUDA"), saving("x", "something"):
        raise RuntimeError("CUDA error: device-side assert triggered")
    with pytest.raises(ValueError), saving("x", "something"):
        raise ValueError("not a write failure")
