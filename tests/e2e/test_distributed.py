"""Two-process DDP training on CPU (gloo): one DVCLive series, no step twice, only rank 0 deletes old runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_helpers import edit_params
from repo_helpers import banglasim, read_tsv

pytestmark = pytest.mark.e2e


def test_two_process_training_logs_once(repo: Path) -> None:
    edit_params(repo, train__processes=2)
    stale = repo / ".checkpoints" / "0123456789abcdef" / "checkpoint-3"
    stale.mkdir(parents=True)
    out = banglasim("train", cwd=repo)
    assert "launching 2 processes" in out.stdout
    assert not stale.parent.exists(), "the old run folder is removed (by rank 0)"
    assert len([p for p in (repo / ".checkpoints").iterdir() if p.is_dir()]) == 1

    train = json.loads((repo / "metrics/train.json").read_text())
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["processes"] == 2
    assert record["global_batch_size"] == 2 * record["per_device_batch_size"]
    n = train["total_steps"]
    evals = [0, -(-n // 2), n]  # step 0, the half epoch (rounded up), the end
    assert train["eval_steps"] == evals
    for name, want in (
        ("eval_score", evals),
        ("avg_cosine", evals),
        ("val_mrr_at_10", evals),
        ("train_loss", evals[1:]),
    ):
        steps = [int(r["step"]) for r in read_tsv(repo / f"dvclive/plots/metrics/{name}.tsv")]
        assert steps == want, f"{name}: steps {steps}, expected each of {want} once"

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    assert model.encode(["প্রশ্ন"]).shape[1] > 0
