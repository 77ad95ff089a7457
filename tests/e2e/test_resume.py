"""Crash and resume: a training run killed after a checkpoint picks up where it stopped, logging each step once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from banglasim.training.callbacks import eval_steps

from conftest import banglasim, make_repo_copy, read_tsv, tool_env
from data_helpers import edit_params

pytestmark = pytest.mark.e2e

EVALS_PER_EPOCH = 4
LIVE = Path("dvclive/plots/metrics")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_model_dir) -> Path:
    """A repo copy with prepare and split done; 240 examples at batch 8 give 27 steps, evaluated 4 times."""
    repo = make_repo_copy(tmp_path_factory.mktemp("resume") / "repo", tiny_model_dir)
    edit_params(repo, train__evals_per_epoch=EVALS_PER_EPOCH)
    for stage in ("base-model", "ingest", "prepare", "split", "mine"):
        banglasim(stage, cwd=repo)
    return repo


def fresh_copy(prepared: Path, dest: Path) -> Path:
    shutil.copytree(prepared, dest, symlinks=True)
    # Outputs of the reference run may be committed: start without them, so what we check is this run's.
    shutil.rmtree(dest / "dvclive", ignore_errors=True)
    for name in ("metrics/train.json", "reports/run_record.json"):
        (dest / name).unlink(missing_ok=True)
    return dest


@pytest.fixture
def repo(prepared, tmp_path) -> Path:
    return fresh_copy(prepared, tmp_path / "repo")


@pytest.fixture(scope="module")
def finished(prepared, tmp_path_factory) -> Path:
    """A repo copy where the same training ran to the end without a crash (do not modify: copy it)."""
    repo = fresh_copy(prepared, tmp_path_factory.mktemp("finished") / "repo")
    banglasim("train", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def uninterrupted(finished) -> dict[str, bytes]:
    """Outputs of the training run without a crash."""
    return run_outputs(finished)


def run_outputs(repo: Path) -> dict[str, bytes]:
    files = ["dvclive/metrics.json", "models/model/model.safetensors",
             *(f"{LIVE}/{name}.tsv" for name in ("eval_score", "avg_cosine", "train_loss"))]
    out = {}
    for name in files:
        data = (repo / name).read_bytes()
        if name.endswith(".tsv"):  # drop DVCLive's timestamp column
            data = b"\n".join(b"\t".join(line.split(b"\t")[1:]) for line in data.splitlines())
        out[name] = data
    return out


def train_until_first_checkpoint_then_kill(repo: Path) -> list[Path]:
    """Start training, SIGKILL it as soon as one checkpoint is marked complete; the complete ones at the kill."""
    log = open(repo / "killed_train.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "banglasim", "train"], cwd=repo, env=tool_env(repo),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while True:
            done = sorted(repo.glob(".checkpoints/*/checkpoint-*/COMPLETE"))
            if done:
                break
            assert proc.poll() is None, f"training ended (rc {proc.returncode}) before any checkpoint:\n" + \
                (repo / "killed_train.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "no checkpoint within the deadline"
            time.sleep(0.05)
        finished_before_kill = proc.poll() is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not finished_before_kill, "training finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert not (repo / "metrics/train.json").exists(), "the killed run must not have got to the end"
    return sorted(repo.glob(".checkpoints/*/checkpoint-*/COMPLETE"))


def assert_complete_series(repo: Path) -> None:
    total = json.loads((repo / "metrics/train.json").read_text())["total_steps"]
    expected = [0, *eval_steps(total, 1, EVALS_PER_EPOCH)]
    assert len(expected) == EVALS_PER_EPOCH + 1
    for name, want in (("eval_score", expected), ("avg_cosine", expected), ("val_mrr_at_10", expected),
                       ("train_loss", expected[1:])):
        rows = read_tsv(repo / LIVE / f"{name}.tsv")
        steps = [int(r["step"]) for r in rows]
        assert steps == want, f"{name}: steps {steps}, expected {want}"
        for r in rows:
            assert r[name] not in ("", "null", "nan", "None"), f"{name}: empty at step {r['step']}"
            float(r[name])
    assert json.loads((repo / "metrics/train.json").read_text())["eval_steps"] == expected
    live = json.loads((repo / "dvclive/metrics.json").read_text())
    assert live["step"] == total and all(v is not None for v in live.values())
    assert (repo / "models/model/model.safetensors").exists()


@pytest.mark.parametrize("clear_live", [False, True], ids=["live-files-kept", "live-files-removed"])
def test_killed_training_resumes_from_its_last_checkpoint(repo, clear_live, uninterrupted):
    complete = train_until_first_checkpoint_then_kill(repo)
    assert complete
    if clear_live:  # the killed run's staged DVCLive files are lost too: the series must be rebuilt from the checkpoint
        for staged in repo.glob(".checkpoints/*/publish"):
            shutil.rmtree(staged)
    proc = banglasim("train", cwd=repo)
    assert "resuming from" in proc.stdout
    last = complete[-1].parent
    assert f"resuming from {last.relative_to(repo)}" in proc.stdout or str(last.name) in proc.stdout
    assert_complete_series(repo)
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["resumed_from"]
    # Resuming is exact: the same series, metrics and weights as a run that was never interrupted.
    resumed = run_outputs(repo)
    for name, data in uninterrupted.items():
        assert resumed[name] == data, f"{name} differs from the uninterrupted run"


def test_changed_train_param_after_a_kill_starts_fresh(repo):
    train_until_first_checkpoint_then_kill(repo)
    edit_params(repo, train__learning_rate=2e-3)
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    assert_complete_series(repo)
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["resumed_from"] is None


def run_folders(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".checkpoints").iterdir() if p.is_dir()}


def test_a_code_change_gives_a_new_run_key(finished, tmp_path):
    """The run key hashes the train stage's code: changed code trains in a new run folder, and the old
    run's folder is removed once the new run is published."""
    repo = tmp_path / "repo"
    shutil.copytree(finished, repo, symlinks=True)
    before = run_folders(repo)
    assert len(before) == 1
    code = repo / "src/banglasim/runs/publish.py"  # a module train imports, not train.py itself
    code.write_text(code.read_text(encoding="utf-8") + "\n# a change to the training code\n", encoding="utf-8")
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    after = run_folders(repo)
    assert len(after) == 1 and after != before, (before, after)


def test_a_finished_run_is_trained_afresh_not_resumed(finished, tmp_path):
    """Same params, data and code (so the same run key): a rerun (dvc repro -f) trains again from step 0
    instead of republishing the finished run's last checkpoint."""
    repo = tmp_path / "repo"
    shutil.copytree(finished, repo, symlinks=True)
    before = run_folders(repo)
    (key,) = before
    assert (repo / ".checkpoints" / key / "FINISHED").exists()
    first = json.loads((repo / "reports/run_record.json").read_text())
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    assert run_folders(repo) == before, "same run key"
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["resumed_from"] is None and record["wall_seconds"] != first["wall_seconds"]
    assert_complete_series(repo)
