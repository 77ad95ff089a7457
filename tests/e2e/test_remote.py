"""A DVC remote in a local folder: push, lose the cache and the outputs, pull, and the pipeline is in sync."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repo_helpers import dvc

pytestmark = pytest.mark.e2e


def test_local_remote_round_trip(repo: Path, tmp_path: Path) -> None:
    """Push to a local-folder remote, lose the cache and the outputs, pull: everything is back in sync."""
    remote = tmp_path / "remote-storage"
    dvc("remote", "add", "-d", "localremote", str(remote), cwd=repo)
    dvc("push", cwd=repo)
    assert any(remote.rglob("*")), "dvc push stored nothing in the remote"

    shutil.rmtree(repo / ".dvc" / "cache")
    for out in ("data/prepared", "data/splits", "models/base", "models/model"):
        shutil.rmtree(repo / out)
    assert "deleted" in dvc("status", cwd=repo).stdout

    dvc("pull", cwd=repo)
    status = dvc("status", cwd=repo).stdout
    assert "Data and pipelines are up to date" in status, status
    assert (repo / "models/model/model.safetensors").exists()
    assert (repo / "data/splits/train.jsonl").stat().st_size > 0
