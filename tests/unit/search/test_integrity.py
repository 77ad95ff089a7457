"""The files search trusts (issue 26): the export and the index are checked against the sizes and hashes their
manifests record, their fields and rows are validated at load, and `banglasim verify` hashes every byte."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from banglasim.cli import main
from banglasim.core.errors import UserError
from banglasim.export import files as file_hashes
from banglasim.export.files import files_map
from banglasim.search import integrity

from search_helpers import QUESTIONS, make_workspace


def open_searcher(root: Path, model: str = "models/export"):
    from banglasim.search.query import open_searcher as real

    return real(root / model, root / "models/index")


def refused(root: Path, model: str = "models/export") -> UserError:
    with pytest.raises(UserError) as err:
        open_searcher(root, model)
    return err.value


def rehash(folder: Path) -> None:
    """Record the folder's files as they are now: a manifest consistent with damaged content (as a faulty writer
    would leave it), so that the check after the hashes is what must catch it."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = files_map(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            manifest[outer] = {**(manifest.get(outer) or {}), inner: value}
        else:
            manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture
def root(tmp_path, tiny_export_dir) -> Path:
    return make_workspace(tmp_path, tiny_export_dir)


def test_the_index_manifest_records_every_file_of_its_folder(root):
    manifest = json.loads((root / "models/index/manifest.json").read_text(encoding="utf-8"))
    bm25 = {f"lexical/{name}" for name in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")}
    bm25 |= {"lexical/params.index.json", "lexical/vocab.index.json"}
    assert set(manifest["files"]) == {"vectors.npy", "passages.jsonl", "windows.npy", *bm25}
    for name, rec in manifest["files"].items():
        assert rec == file_hashes.file_record(root / "models/index" / name)


# ---------------------------------------------------------------- 5. NaN vectors


@pytest.mark.parametrize("consistent", [False, True], ids=["copied-in", "recorded"])
def test_nan_vectors_are_refused_before_the_first_answer(root, consistent):
    """NaN vectors were served as `"score": NaN` (not JSON) with exit 0."""
    index = root / "models/index"
    np.save(index / "vectors.npy", np.full_like(np.load(index / "vectors.npy"), np.nan))
    if consistent:
        rehash(index)
    err = refused(root)
    assert "models/index/vectors.npy: damaged" in err.message and "dvc repro index" in err.fix
    assert ("NaN" in err.message) is consistent


# ---------------------------------------------------------------- 6. well-formed but wrong files


def _random_vectors(index: Path) -> None:
    data = (index / "vectors.npy").read_bytes()
    rng = random.Random(0)
    (index / "vectors.npy").write_bytes(data[:128] + bytes(rng.randrange(256) for _ in range(len(data) - 128)))


def _reversed_rows(index: Path) -> None:
    np.save(index / "vectors.npy", np.load(index / "vectors.npy")[::-1].copy())


def _swapped_lines(index: Path) -> None:
    lines = (index / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]
    (index / "passages.jsonl").write_text("".join(lines), encoding="utf-8")


def _overwritten_model(export: Path) -> None:
    data = bytearray((export / "model.onnx").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    (export / "model.onnx").write_bytes(bytes(data))


def _shuffled_vocabulary(export: Path) -> None:
    tok = json.loads((export / "tokenizer.json").read_text(encoding="utf-8"))
    pieces = list(tok["model"]["vocab"])
    ids = list(tok["model"]["vocab"].values())
    random.Random(0).shuffle(ids)
    tok["model"]["vocab"] = dict(zip(pieces, ids))
    (export / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")


WRONG = [
    ("random vectors", "index", _random_vectors, "models/index/vectors.npy"),
    ("reversed rows", "index", _reversed_rows, "models/index/vectors.npy"),
    ("swapped passages", "index", _swapped_lines, "models/index/passages.jsonl"),
    ("overwritten model", "export", _overwritten_model, "models/export/model.onnx"),
    ("shuffled vocabulary", "export", _shuffled_vocabulary, "models/export/tokenizer.json"),
]


@pytest.mark.parametrize(("what", "folder", "damage", "named"), WRONG, ids=[w[0] for w in WRONG])
def test_well_formed_but_wrong_files_are_refused_at_start(root, what, folder, damage, named):
    """Each gave confident wrong answers with exit 0: nothing compared the files with their manifests."""
    damage(root / "models" / folder)
    err = refused(root)
    assert named in err.message.replace(os.sep, "/") and "damaged" in err.message, err.message
    assert "dvc repro" in err.fix


def test_a_big_file_is_sampled_at_start_and_hashed_whole_by_verify(tmp_path, monkeypatch):
    """Above FULL_AT_START the start-up check hashes a sample; an overwrite longer than the gap between two
    blocks is caught, a one-byte edit between blocks only by the full check."""
    monkeypatch.setattr(integrity, "FULL_AT_START", 1024)
    monkeypatch.setattr(file_hashes, "BLOCK", 64)
    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    files = {"big.bin": file_hashes.file_record(path)}
    data = bytearray(path.read_bytes())
    data[100] ^= 1  # inside no sampled block (blocks of 64 bytes every ~2 KiB)
    path.write_bytes(bytes(data))
    integrity.quick_check(tmp_path, files, "fix")
    with pytest.raises(UserError, match="sha256 differs"):
        integrity.full_check(tmp_path, files, "fix")
    data[10_000:14_096] = bytes(4096)  # longer than the gap between two blocks
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sample hash differs"):
        integrity.quick_check(tmp_path, files, "fix")


def test_verify_hashes_every_file_and_names_the_damaged_one(root, monkeypatch, capsys):
    monkeypatch.chdir(root)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    for name in ("export/model.onnx", "export/tokenizer.json", "index/vectors.npy", "index/passages.jsonl"):
        assert f"ok models/{name} (" in out, out
    # an edit the start-up check cannot see (a big model is only sampled): verify finds it
    monkeypatch.setattr(integrity, "FULL_AT_START", 0)
    monkeypatch.setattr(file_hashes, "BLOCK", 16)
    edit_manifest(root / "models/export", files=files_map(root / "models/export"))  # samples of 16-byte blocks
    key = file_hashes.full_sha256(root / "models/export/manifest.json")
    edit_manifest(root / "models/index", export_manifest_sha256=key, files=files_map(root / "models/index"))
    _swap_two_bytes_between_blocks(root / "models/export/model.onnx")
    open_searcher(root)  # starts: the sample did not change
    capsys.readouterr()
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: models/export/model.onnx: damaged (its sha256 differs")
    assert "fix: run `dvc repro -f export`" in err and len(err.strip().splitlines()) == 2


def _swap_two_bytes_between_blocks(path: Path) -> None:
    """Swap two different bytes in the middle of the weights, between two sampled blocks."""
    data = bytearray(path.read_bytes())
    step = (len(data) - file_hashes.BLOCK) / (file_hashes.SAMPLE_BLOCKS - 1)
    at = round(15 * step) + file_hashes.BLOCK + 8
    while data[at] == data[at + 1]:
        at += 1
    assert at + 1 < round(16 * step)
    data[at], data[at + 1] = data[at + 1], data[at]
    path.write_bytes(bytes(data))


def test_verify_says_which_files_an_older_export_cannot_check(root, monkeypatch, capsys):
    manifest = json.loads((root / "models/export/manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]
    (root / "models/export/manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.chdir(root)
    assert main(["verify", "--index", ""]) == 0
    out = capsys.readouterr().out
    assert "ok models/export/model.onnx" in out and "unchecked models/export/tokenizer.json" in out


# ---------------------------------------------------------------- 7. passages.jsonl rows


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ({"title": "t", "text": "পদ্মা"}, "no passage_id"),
        ({"passage_id": "p-1", "title": "t", "text": 7}, "text is not a string"),
        ({"passage_id": 3, "title": "t", "text": "পদ্মা"}, "passage_id is not a non-empty string"),
        ({"passage_id": "p-1", "title": None, "text": "পদ্মা"}, "title is not a string"),
    ],
)
def test_every_passage_row_is_checked_at_load_naming_its_line(root, row, said):
    """A row without passage_id crashed the reader view (KeyError) and came back as "" with --json and serve."""
    index = root / "models/index"
    lines = (index / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = json.dumps(row, ensure_ascii=False) + "\n"
    (index / "passages.jsonl").write_text("".join(lines), encoding="utf-8")
    rehash(index)
    err = refused(root)
    assert f"models/index/passages.jsonl: damaged, line 3: {said}" in err.message, err.message


def test_a_bad_passages_line_is_named_by_its_own_number(root):
    """It was reported as "line 1" whatever its line."""
    index = root / "models/index"
    lines = (index / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = '{"passage_id": "p-4",\n'
    (index / "passages.jsonl").write_text("".join(lines), encoding="utf-8")
    rehash(index)
    assert "line 4 is not JSON" in refused(root).message


# ---------------------------------------------------------------- 8. a garbled approximate index


def test_a_garbled_approximate_index_is_refused_at_load(tmp_path, tiny_export_dir):
    """It loaded, then every search failed (IndexError: index 9187201950435737471 is out of bounds)."""
    root = make_workspace(tmp_path, tiny_export_dir, approximate_above=2)
    index = root / "models/index"
    data = bytearray((index / "approximate.faiss").read_bytes())
    tail = len(data) - 8 * 4  # the labels of the last list: 8-byte row numbers
    data[tail:] = b"\x7f" * (len(data) - tail)
    (index / "approximate.faiss").write_bytes(bytes(data))
    assert "models/index/approximate.faiss: damaged" in refused(root).message
    rehash(index)  # recorded as it is: the probe search catches the rows out of range
    err = refused(root)
    assert "approximate.faiss: damaged" in err.message, err.message


def test_rows_out_of_range_from_the_approximate_index_are_an_error_not_a_crash(tmp_path, tiny_export_dir):
    from banglasim.search.engine import approximate_top_k

    class Garbled:
        def search(self, queries, k):
            return np.full((len(queries), k), 9187201950435737471, dtype=np.int64), np.zeros((len(queries), k))

    vectors = np.eye(4, dtype=np.float32)
    with pytest.raises(UserError, match="returned row 9187201950435737471"):
        approximate_top_k(Garbled(), vectors, vectors[:1], 2)


# ---------------------------------------------------------------- 9. the vectors are read whole


def test_vectors_are_held_in_memory_not_mapped(root):
    searcher, _ = open_searcher(root)
    before = np.array(searcher.vectors)
    path = root / "models/index/vectors.npy"
    path.write_bytes(path.read_bytes()[:200])  # a truncated memory map would kill the process with SIGBUS
    assert not isinstance(searcher.vectors, np.memmap)
    assert np.array_equal(searcher.vectors, before)
    assert searcher.search([QUESTIONS[0]], 2)[0]


# ---------------------------------------------------------------- 10. a model folder without its tokenizer


def test_a_model_folder_without_tokenizer_json_is_refused(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """docs/guarantees.md promised it; `search --model COPY` answered (exit 0) through a fallback tokenizer."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "tokenizer.json").unlink()
    (tmp_path / "data/prepared").mkdir(parents=True)
    (tmp_path / "data/prepared/passages.jsonl").write_text('{"passage_id": "p", "text": "পদ্মা"}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["search", "পদ্মা সেতু", "--model", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --model '{copy}' is incomplete: tokenizer.json missing"), err


def test_an_export_tokenizer_that_knows_no_word_is_refused(root):
    tok = json.loads((root / "models/export/tokenizer.json").read_text(encoding="utf-8"))
    unk = tok["model"]["unk_token"]
    tok["model"]["vocab"] = {piece: i for i, piece in enumerate(p for p in tok["model"]["vocab"] if p.startswith("["))}
    assert unk in tok["model"]["vocab"]
    (root / "models/export/tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    rehash(root / "models/export")
    err = refused(root)
    assert "tokenizer.json: its tokenizer reads every word as unknown" in err.message, err.message


# ---------------------------------------------------------------- 11. hand-edited index manifests


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"count": "abc"}, '"count" is "abc"'),
        ({"count": None}, '"count" is null'),
        ({"dim": 0}, '"dim" is 0'),
        ({"export_manifest_sha256": 123}, '"export_manifest_sha256" is not a string'),
        ({"approximate_settings__nprobe": "abc"}, '"approximate_settings.nprobe" is "abc"'),
        ({"approximate_settings__nprobe": 0}, '"approximate_settings.nprobe" is 0'),
        ({"format": 99}, "format 99, this banglasim reads format 2"),
        ({"files": None}, 'no "files"'),
    ],
)
def test_wrong_types_in_the_index_manifest_are_one_error(root, monkeypatch, capsys, change, said):
    """They ended in tracebacks in search and serve; "format": 99 was accepted."""
    edit_manifest(root / "models/index", **change)
    err = refused(root)
    assert "models/index/manifest.json" in err.message.replace(os.sep, "/") and said in err.message, err.message
    monkeypatch.chdir(root)
    capsys.readouterr()
    assert main(["search", QUESTIONS[0]]) == 2
    assert "Traceback" not in capsys.readouterr().err
