"""The index stage and search on the ONNX export: exact ranking, batch answers, no torch, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest

from banglasim.core.errors import UserError
from banglasim.search.engine import exact_top_k

from search_helpers import PASSAGES, QUESTIONS, make_workspace, run_banglasim


def expected_top(export_dir, question: str, passages: list[dict], k: int) -> list[str]:
    """Passage ids ranked by the export's own embeddings (brute force, no search code)."""
    from banglasim.export.runtime import OnnxEncoder

    enc = OnnxEncoder(export_dir)
    scores = enc.encode([p["text"] for p in passages], "passage") @ enc.encode([question], "query")[0]
    return [passages[i]["passage_id"] for i in np.argsort(-scores, kind="stable")[:k]]


def test_exact_top_k_orders_by_score_then_row():
    vectors = np.eye(4, dtype=np.float32)[[0, 1, 1, 2]]  # rows 1 and 2 tie
    rows, scores = exact_top_k(vectors, np.array([[0.1, 0.9, 0.0, 0.0]], dtype=np.float32), 3)
    assert rows.tolist() == [[1, 2, 0]]
    assert scores[0].tolist() == pytest.approx([0.9, 0.9, 0.1])
    assert exact_top_k(vectors, np.ones((2, 4), dtype=np.float32), 10)[0].shape == (2, 4)


def test_index_stage_writes_vectors_passages_and_manifest(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir)
    index = root / "models" / "index"
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    export_manifest = json.loads((tiny_export_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["count"] == len(PASSAGES) and manifest["dim"] == export_manifest["dim"]
    assert manifest["export_model_sha256"] == export_manifest["model_sha256"]
    assert manifest["approximate"] is False and not (index / "approximate.faiss").exists()
    vectors = np.load(index / "vectors.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (len(PASSAGES), manifest["dim"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    rows = [json.loads(line) for line in (index / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["passage_id"], r["title"], r["text"]) for r in rows] == [
        (p["passage_id"], p["title"], p["text"]) for p in PASSAGES
    ]


def test_the_approximate_index_is_built_above_the_threshold_and_agrees(tmp_path, tiny_export_dir):
    from banglasim.search.query import open_searcher

    root = make_workspace(tmp_path, tiny_export_dir, approximate_above=2)
    assert json.loads((root / "models/index/manifest.json").read_text())["approximate"] is True
    searcher, origin = open_searcher(root / "models/export", root / "models/index")
    assert searcher.ann is not None and "approximate" in origin
    for question in QUESTIONS:
        (hits,) = searcher.search([question], 4)
        assert [h["passage_id"] for h in hits] == expected_top(tiny_export_dir, question, PASSAGES, 4)


def test_search_json_matches_brute_force_and_imports_no_torch(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir)
    code = (
        "import json, sys\nfrom banglasim.cli import main\nrc = main(sys.argv[1:])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy}), file=sys.stderr)\nsys.exit(rc)"
    )
    import subprocess

    from repo_helpers import tool_env

    proc = subprocess.run(
        [sys.executable, "-c", code, "search", QUESTIONS[0], "--json", "--top-k", "3", "--mode", "dense"],
        cwd=root,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"heavy": []}
    answer = json.loads(proc.stdout)
    assert answer["question"] == QUESTIONS[0]
    assert answer["mode"] == "dense"
    assert [sorted(h) for h in answer["hits"]] == [["dense_score", "passage_id", "rank", "score", "text", "title"]] * 3
    assert [h["rank"] for h in answer["hits"]] == [1, 2, 3]
    assert [h["passage_id"] for h in answer["hits"]] == expected_top(tiny_export_dir, QUESTIONS[0], PASSAGES, 3)
    scores = [h["score"] for h in answer["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_batch_of_1000_questions_answers_every_line_in_order(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir)
    lines = [f"{QUESTIONS[i % 3]} {i}" for i in range(1000)]
    lines[10] = ""
    lines[500] = "   "
    (root / "questions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_banglasim(root, "search", "--batch", "questions.txt", "--top-k", "2", "--mode", "dense")
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == 1000
    assert [a["question"] for a in answers] == lines
    assert "error" in answers[10] and "error" in answers[500] and "hits" not in answers[10]
    assert all(len(a["hits"]) == 2 for i, a in enumerate(answers) if i not in (10, 500))
    first = [h["passage_id"] for h in answers[0]["hits"]]
    assert first == expected_top(tiny_export_dir, lines[0], PASSAGES, 2)


def test_corpus_folder_is_embedded_once_then_cached(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir, index=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "qa.jsonl").write_text(
        json.dumps({"question": "নদী?", "context": "যমুনা একটি বড় নদী।"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    first = run_banglasim(root, "search", "যমুনা কী?", "--corpus", str(corpus))
    assert first.returncode == 0, first.stderr
    assert "computed and cached" in first.stdout and "যমুনা একটি বড় নদী।" in first.stdout
    second = run_banglasim(root, "search", "যমুনা কী?", "--corpus", str(corpus), "--json")
    assert second.returncode == 0, second.stderr
    assert "from cache" in second.stderr and json.loads(second.stdout)["hits"][0]["text"] == "যমুনা একটি বড় নদী।"


def _damage(root, what: str) -> None:
    export, index = root / "models" / "export", root / "models" / "index"
    if what == "no export":
        for f in export.iterdir():
            f.unlink()
        export.rmdir()
    elif what == "export manifest":
        (export / "manifest.json").write_text("{not json", encoding="utf-8")
    elif what == "model.onnx":
        data = (export / "model.onnx").read_bytes()
        (export / "model.onnx").write_bytes(data[: len(data) // 3])
    elif what == "no index":
        shutil.rmtree(index)
        index.mkdir()
    elif what == "vectors.npy":
        (index / "vectors.npy").write_bytes((index / "vectors.npy").read_bytes()[:100])
    elif what == "passages.jsonl":
        (index / "passages.jsonl").write_text('{"passage_id": "p-1"', encoding="utf-8")
    elif what == "another export":
        manifest = json.loads((index / "manifest.json").read_text())
        (index / "manifest.json").write_text(json.dumps({**manifest, "export_manifest_sha256": "0" * 64}))


DAMAGE = [  # what is broken -> (file named in the message, the stage to rerun)
    ("no export", "models/export/manifest.json", "dvc repro export"),
    ("export manifest", "models/export/manifest.json", "dvc repro export"),
    ("model.onnx", "models/export", "dvc repro -f export"),
    ("no index", "models/index/manifest.json", "dvc repro index"),
    ("vectors.npy", "models/index/vectors.npy", "dvc repro index"),
    ("passages.jsonl", "models/index/passages.jsonl", "dvc repro index"),
    ("another export", "models/index/manifest.json", "dvc repro index"),
]


@pytest.mark.parametrize(("what", "named", "fix"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_missing_or_damaged_export_or_index_is_one_clear_error(
    tmp_path, tiny_export_dir, monkeypatch, what, named, fix
):
    from banglasim.search.query import open_searcher

    root = make_workspace(tmp_path, tiny_export_dir)
    _damage(root, what)
    monkeypatch.chdir(root)
    with pytest.raises(UserError) as err:
        open_searcher("models/export", "models/index")
    assert named in err.value.message.replace(os.sep, "/") and fix in err.value.fix


def test_the_command_line_error_is_one_paragraph(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir)
    _damage(root, "vectors.npy")
    proc = run_banglasim(root, "search", QUESTIONS[0])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: models/index/vectors.npy: damaged") and "dvc repro index" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_index_stage_reads_its_params_and_writes_models_index(tmp_path, tiny_export_dir):
    import yaml

    from data_helpers import REPO_ROOT

    root = make_workspace(tmp_path, tiny_export_dir, index=False)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["index"]["approximate_above"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    proc = run_banglasim(root, "index")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((root / "models/index/manifest.json").read_text(encoding="utf-8"))
    assert manifest["count"] == len(PASSAGES) and manifest["approximate"] is True
    assert manifest["approximate_settings"]["nprobe"] == params["index"]["nprobe"]
    answer = json.loads(run_banglasim(root, "search", QUESTIONS[0], "--json").stdout)
    assert [h["passage_id"] for h in answer["hits"]] == expected_top(tiny_export_dir, QUESTIONS[0], PASSAGES, 4)


def test_the_index_stage_without_an_export_names_the_stage_to_run(tmp_path, tiny_export_dir):
    from data_helpers import REPO_ROOT

    root = make_workspace(tmp_path, tiny_export_dir, index=False)
    shutil.rmtree(root / "models/export")
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    proc = run_banglasim(root, "index")
    assert proc.returncode == 2 and "models/export/manifest.json" in proc.stderr and "dvc repro export" in proc.stderr
