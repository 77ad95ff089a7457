"""DVC remote round trip (push, lose everything, pull) and two-process DDP training on CPU (gloo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import banglasim, dvc, read_tsv
from data_helpers import edit_params

pytestmark = pytest.mark.e2e


def test_local_remote_round_trip(repo_copy: Path, tmp_path: Path) -> None:
    repo = repo_copy
    dvc("repro", cwd=repo)
    remote = tmp_path / "remote-storage"
    dvc("remote", "add", "-d", "localremote", str(remote), cwd=repo)
    dvc("push", cwd=repo)
    assert any(remote.rglob("*")), "dvc push stored nothing in the remote"

    shutil.rmtree(repo / ".dvc" / "cache")
    for out in ("data/prepared", "data/splits", "models/model"):
        shutil.rmtree(repo / out)
    assert "deleted" in dvc("status", cwd=repo).stdout

    dvc("pull", cwd=repo)
    status = dvc("status", cwd=repo).stdout
    assert "Data and pipelines are up to date" in status, status
    assert (repo / "models/model/model.safetensors").exists()
    assert (repo / "data/splits/train.jsonl").stat().st_size > 0


def test_two_process_training_logs_once(repo_copy: Path) -> None:
    repo = repo_copy
    dvc("repro", "mine", cwd=repo)
    edit_params(repo, train__processes=2)
    out = banglasim("train", cwd=repo)
    assert "launching 2 processes" in out.stdout

    train = json.loads((repo / "metrics/train.json").read_text())
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["processes"] == 2
    assert record["global_batch_size"] == 2 * record["per_device_batch_size"]
    n = train["total_steps"]
    evals = [0, -(-n // 2), n]  # step 0, the half epoch (rounded up), the end
    assert train["eval_steps"] == evals
    for name, want in (("eval_score", evals), ("avg_cosine", evals), ("val_mrr_at_10", evals),
                       ("train_loss", evals[1:])):
        steps = [int(r["step"]) for r in read_tsv(repo / f"dvclive/plots/metrics/{name}.tsv")]
        assert steps == want, f"{name}: steps {steps}, expected each of {want} once"

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    assert model.encode(["প্রশ্ন"]).shape[1] > 0
