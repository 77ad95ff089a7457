"""DVC remote round trip (push, lose everything, pull) and two-process DDP training on CPU (gloo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import banglasim, dvc, read_tsv, write_params

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
    dvc("repro", "split", cwd=repo)
    params = small_params_from(repo)
    params["train"]["processes"] = 2
    write_params(repo, params)
    out = banglasim("train", cwd=repo)
    assert "launching 2 processes" in out.stdout

    train = json.loads((repo / "metrics/train.json").read_text())
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["processes"] == 2
    assert record["global_batch_size"] == 2 * params["train"]["batch_size"]
    n = train["total_steps"]
    for name in ("eval_score", "avg_cosine", "train_loss"):
        steps = [int(r["step"]) for r in read_tsv(repo / f"dvclive/plots/metrics/{name}.tsv")]
        assert len(steps) == len(set(steps)), f"{name} logged a step twice: {steps}"
        assert steps[-1] == n
        assert steps[0] == (0 if name != "train_loss" else steps[0])

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    assert model.encode(["প্রশ্ন"]).shape[1] > 0


def small_params_from(repo: Path) -> dict:
    import yaml

    return yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
