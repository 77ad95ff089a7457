"""Stage train_reranker end to end on the tiny BERT: negatives, windows, DVCLive series, the saved CrossEncoder,
its metrics; then export_reranker on its output and search's loader of that export."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from qa_samples import sample_qa

from banglasim.core.errors import UserError

from data_helpers import REPO_ROOT, edit_params


def _workspace(root, tiny_model_dir) -> None:
    passages, queries, positives = sample_qa(n_passages=10, per_passage=2)
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    edit_params(
        root,
        reranker__backbone=str(tiny_model_dir),
        reranker__layers=2,
        reranker__max_length=64,
        reranker__negatives=2,
        reranker__batch_size=8,
        reranker__top_k=3,
        reranker__val_questions=0,
        reranker__learning_rate=1e-3,
    )
    prepared, splits = root / "data/prepared", root / "data/splits"
    prepared.mkdir(parents=True)
    splits.mkdir(parents=True)
    rows = [{"passage_id": f"p{i}", "text": t} for i, t in enumerate(passages)]
    (prepared / "passages.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (prepared / "examples.jsonl").write_text(json.dumps({"query": queries[0]}, ensure_ascii=False) + "\n")
    train, val = [], []
    for i, (q, pos) in enumerate(zip(queries, positives)):
        if pos < 7:
            train.append({"anchor": q, "positive": passages[pos], "query_id": f"q{i}", "passage_id": f"p{pos}",
                          "source": "D2", "answer": passages[pos][10:20]})  # fmt: skip
        else:
            base = {"query_id": f"q{i}", "query": q, "source": "D2"}
            val.append({**base, "passage_id": f"p{pos}", "passage": passages[pos], "score": 1.0})
            val.append({**base, "passage_id": "p0", "passage": passages[0], "score": 0.0})
    (splits / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train))
    (splits / "validation.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in val))


def test_train_then_export_then_search_loads_it(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from banglasim.export import export_reranker
    from banglasim.search.query import load_reranker
    from banglasim.training import reranker

    _workspace(tmp_path, tiny_model_dir)
    monkeypatch.chdir(tmp_path)
    reranker.run("params.yaml")
    assert (tmp_path / "models/reranker/config.json").is_file()
    metrics = json.loads((tmp_path / "metrics/reranker.json").read_text())
    assert metrics["train_questions"] == 14 and metrics["pairs"] == 14 * 3 and metrics["steps"] == 6
    assert metrics["negatives"]["positive_windows"]["whole"] + metrics["negatives"]["positive_windows"]["answer"] > 0
    assert 0 <= metrics["val_mrr_at_10"] <= 1 and metrics["val_questions"] == 6
    live = json.loads((tmp_path / "dvclive_reranker/metrics.json").read_text())
    assert {"train_loss", "val_mrr_at_10", "step"} <= set(live) and live["step"] == 6
    assert (tmp_path / "dvclive_reranker/plots/metrics/val_mrr_at_10.tsv").is_file()
    assert "train_reranker: 14 questions" in capsys.readouterr().out

    export_reranker.run("params.yaml")
    scorer, settings, default = load_reranker(tmp_path / "models/reranker_export")
    assert (settings.top_k, settings.weight, default) == (3, 1.0, False)
    from banglasim.models.reranker import TorchPairScorer

    torch_scores = TorchPairScorer.from_folder(tmp_path / "models/reranker").score(["ক"], ["খ গ"])
    assert np.abs(scorer.score(["ক"], ["খ গ"]) - torch_scores).max() < 0.05  # int8

    from banglasim.search.integrity import verify

    lines = verify(None, None, tmp_path / "models/reranker_export")
    assert any("model.onnx" in line for line in lines)
    tokenizer = tmp_path / "models/reranker_export/tokenizer.json"
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8").replace("[UNK]", "[UNX]", 1), encoding="utf-8")
    with pytest.raises(UserError, match="tokenizer.json: damaged"):  # a file search trusts, checked at start
        load_reranker(tmp_path / "models/reranker_export")


def test_a_backbone_that_is_no_model_is_named(tiny_model_dir, tmp_path, monkeypatch):
    from banglasim.training import reranker

    _workspace(tmp_path, tiny_model_dir)
    edit_params(tmp_path, reranker__backbone=str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="nowhere is not a model folder"):
        reranker.run("params.yaml")
    assert not (tmp_path / "models/reranker").exists()
