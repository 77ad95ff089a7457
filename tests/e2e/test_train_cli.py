"""Bad params of the train stage stop it with one clear line, before anything is written."""

from __future__ import annotations

import pytest

from conftest import banglasim, dvc, git, make_repo_copy
from data_helpers import edit_params

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model_dir):
    """A repo copy with every stage before train done (shared: each case restores params.yaml)."""
    path = make_repo_copy(tmp_path_factory.mktemp("train-cli") / "repo", tiny_model_dir)
    dvc("repro", "mine", cwd=path)
    return path


@pytest.mark.parametrize(("section", "key", "value", "named"), [
    ("model", "trainable_layers", 99, "model.trainable_layers"),
    ("train", "learning_rate", -1.0, "train.learning_rate"),
])
def test_bad_train_param_writes_nothing(repo, section, key, value, named):
    before = {p: p.read_bytes() for p in (repo / "dvclive").rglob("*") if p.is_file()}
    edit_params(repo, **{f"{section}__{key}": value})
    try:
        proc = banglasim("train", cwd=repo, check=False)
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and named in error_lines[0], proc.stderr
    assert not (repo / "models" / "model").exists()
    assert not (repo / ".checkpoints").exists() or not any((repo / ".checkpoints").rglob("checkpoint-*"))
    assert {p: p.read_bytes() for p in (repo / "dvclive").rglob("*") if p.is_file()} == before
