"""Shared fixtures: a tiny random BERT sentence-transformer (offline) and throw-away git+DVC repo copies.

Helper functions live in tests/helpers/ (on sys.path through pyproject.toml); fixtures that only the end-to-end
tests use are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.register_assert_rewrite("data_helpers", "repo_helpers")

from repo_helpers import build_tiny_model, make_repo_copy  # noqa: E402

# The Hugging Face hub is never reachable from the tests: fail fast instead of trying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config, items) -> None:
    """Every test under tests/e2e/ carries the e2e marker, so that `-m "not e2e"` is exactly the unit tests."""
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 4-layer, 32-dim random BERT with a character WordPiece vocab, saved as a sentence-transformers folder."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture
def repo_copy(tmp_path, tiny_model_dir) -> Path:
    """A committed copy of the repository (small params, the tiny model) in a fresh git repo."""
    return make_repo_copy(tmp_path / "repo", tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_export_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny BERT as an export folder (model.onnx with pooling and normalisation, tokenizer.json, manifest.json)."""
    from search_helpers import export_tiny_model

    return export_tiny_model(tiny_model_dir, tmp_path_factory.mktemp("tiny_export") / "export")
