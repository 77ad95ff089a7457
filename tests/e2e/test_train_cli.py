"""Bad params of the train stage stop it with one clear line, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_helpers import edit_params
from repo_helpers import banglasim

pytestmark = pytest.mark.e2e


def train_outputs(repo: Path) -> dict[Path, bytes]:
    """Every file the train stage writes: the published model, DVCLive, run folders, its metrics and record."""
    paths = [repo / "metrics/train.json", repo / "reports/run_record.json"]
    for folder in ("models/model", "dvclive", ".checkpoints"):
        paths += [p for p in (repo / folder).rglob("*") if p.is_file() and p.name != "train.lock"]  # holder's PID
    return {p: p.read_bytes() for p in paths}


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("model", "trainable_layers", 99, "model.trainable_layers"),
        ("model", "max_seq_length", 256, "model.max_seq_length"),  # the tiny BERT has 128 positions (issue 19.6)
        ("train", "learning_rate", -1.0, "train.learning_rate"),
    ],
)
def test_bad_train_param_writes_nothing(repo, section, key, value, named):
    before = train_outputs(repo)
    edit_params(repo, **{f"{section}__{key}": value})
    proc = banglasim("train", cwd=repo, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and named in error_lines[0], proc.stderr
    assert train_outputs(repo) == before
