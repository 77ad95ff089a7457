"""`banglasim serve`: started on a free local port, answers JSON, refuses bad requests with a 400, stops at start when
the export or the index is missing or damaged."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from banglasim.search.engine import MAX_QUESTION_CHARS

from repo_helpers import tool_env
from search_helpers import QUESTIONS, make_workspace, run_banglasim


def request(base: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(
        base + path,
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server(tmp_path, tiny_export_dir):
    root = make_workspace(tmp_path, tiny_export_dir)
    args = [sys.executable, "-m", "banglasim", "serve", "--host", "127.0.0.1", "--port", "0", "--quiet"]
    proc = subprocess.Popen(args, cwd=root, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[1].startswith("serving on http://127.0.0.1:"), (lines, proc.stderr.read() if proc.poll() else "")
        yield lines[1].split()[2]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_answers_questions_and_health(server):
    status, health = request(server, "/health")
    assert status == 200 and health["status"] == "ok" and health["passages"] == 4
    for question in QUESTIONS:
        status, answer = request(server, "/search", json.dumps({"question": question, "top_k": 3}).encode())
        assert status == 200 and answer["question"] == question
        assert [h["rank"] for h in answer["hits"]] == [1, 2, 3]
        keys = ["dense_score", "lexical_score", "passage_id", "rank", "score", "text", "title"]
        assert answer["mode"] == "hybrid" and all(sorted(h) == keys for h in answer["hits"]), answer
    status, answer = request(server, "/search", json.dumps({"question": QUESTIONS[0]}).encode())
    assert status == 200 and len(answer["hits"]) == 4  # the default top_k (5) is capped by the corpus size


BAD = [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"top_k": 3}).encode(), '"question"'),
    (json.dumps({"question": 7}).encode(), '"question"'),
    (json.dumps({"question": "  "}).encode(), "empty"),
    (json.dumps({"question": "ক" * (MAX_QUESTION_CHARS + 1)}).encode(), "characters long"),
    (json.dumps({"question": "নদী?", "top_k": 0}).encode(), "top_k"),
    (json.dumps({"question": "নদী?", "top_k": "3"}).encode(), "top_k"),
    (json.dumps({"question": "নদী?", "top_k": True}).encode(), "top_k"),
    (json.dumps({"question": "নদী?", "top_k": 101}).encode(), "top_k"),
    (json.dumps({"question": "নদী?", "top_k": 2.5}).encode(), "top_k"),
]


def test_serve_refuses_bad_requests_with_400(server):
    for body, said in BAD:
        status, answer = request(server, "/search", body)
        assert status == 400 and said in answer["error"], (body, answer)
    assert request(server, "/nowhere")[0] == 404
    assert request(server, "/search", json.dumps({"question": "নদী?"}).encode())[0] == 200  # still serving


def _break(root: Path, what: str) -> None:
    if what == "no export":
        for f in (root / "models/export").iterdir():
            f.unlink()
    elif what == "damaged export":
        (root / "models/export/model.onnx").write_bytes(b"\x08\x01garbage")
    elif what == "no index":
        (root / "models/index/manifest.json").unlink()
    elif what == "damaged index":
        (root / "models/index/vectors.npy").write_bytes(b"\x93NUMPY")


@pytest.mark.parametrize(
    ("what", "named", "fix"),
    [
        ("no export", "models/export/manifest.json", "dvc repro export"),
        ("damaged export", "models/export", "dvc repro -f export"),
        ("no index", "models/index/manifest.json", "dvc repro index"),
        ("damaged index", "models/index/vectors.npy", "dvc repro index"),
    ],
)
def test_serve_stops_at_start_on_a_missing_or_damaged_export_or_index(tmp_path, tiny_export_dir, what, named, fix):
    root = make_workspace(tmp_path, tiny_export_dir)
    _break(root, what)
    proc = run_banglasim(root, "serve", "--port", "0", timeout=60)
    assert proc.returncode == 2 and "serving" not in proc.stdout
    paragraph = proc.stderr.strip()
    assert paragraph.startswith(f"error: {named}") and f"fix: {'run `' + fix}" in paragraph, paragraph
    assert "Traceback" not in paragraph and len(paragraph.splitlines()) == 2


def test_vectors_rewritten_under_a_running_server_change_nothing(server, tmp_path):
    """The vectors were memory-mapped: truncating vectors.npy in place killed the server with a bus error (exit 135,
    nothing logged), a same-size rewrite made it answer from new vectors with old passages (issue 26.9)."""

    def answers() -> list:
        return [request(server, "/search", json.dumps({"question": q, "top_k": 4}).encode()) for q in QUESTIONS]

    before = answers()
    path = tmp_path / "models/index/vectors.npy"
    data = path.read_bytes()
    with open(path, "r+b") as fh:  # the same file, cut short (a memory map of it would fault)
        fh.truncate(len(data) // 2)
    assert answers() == before
    with open(path, "r+b") as fh:  # the same size again, other values (the header kept, the bytes reversed)
        fh.write(data[:128] + data[128:][::-1])
    assert answers() == before
    assert request(server, "/health")[0] == 200
