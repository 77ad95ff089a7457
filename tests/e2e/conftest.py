"""Fixtures of the end-to-end tests: one tiny repository reproduced once per session and shared read-only, and a
private copy of it for each test that changes something.

`reproduced` (read-only: a test that writes to it fails) and `repo` (a `cp -a` copy, free to change) let each
test run alone or in any order; building the reproduced repo is the one `dvc repro` of the whole pipeline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from repo_helpers import dvc, git, make_repo_copy


@dataclass(frozen=True)
class Reproduced:
    """The shared repository after `dvc repro` (committed), with that run's output."""

    path: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def reproduced_once(tmp_path_factory, tiny_model_dir) -> Reproduced:
    path = make_repo_copy(tmp_path_factory.mktemp("reproduced") / "repo", tiny_model_dir)
    proc = dvc("repro", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-qm", "reproduced", cwd=path)
    return Reproduced(path, proc.stdout, proc.stderr)


def snapshot(repo: Path) -> tuple[str, dict[str, tuple[int, int]]]:
    """`git status` and the size and mtime of every file, DVC's and git's own bookkeeping left out."""
    skip = {repo / ".git", repo / ".dvc" / "tmp"}
    files = {}
    for root, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if Path(root, d) not in skip]
        for name in names:
            st = os.lstat(Path(root, name))
            files[str(Path(root, name).relative_to(repo))] = (st.st_size, st.st_mtime_ns)
    return git("status", "--porcelain", "--untracked-files=all", cwd=repo).stdout, files


@pytest.fixture
def reproduced(reproduced_once) -> Reproduced:
    """The shared reproduced repository, for tests that only read it (checked after each test)."""
    before = snapshot(reproduced_once.path)
    yield reproduced_once
    assert snapshot(reproduced_once.path) == before, "a test changed the shared repo: use the `repo` fixture"


def copy_repo(source: Path, dest: Path) -> Path:
    """A copy of a repository with its git history, DVC cache and outputs (no DVC temp state)."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)], check=True)
    shutil.rmtree(dest / ".dvc" / "tmp", ignore_errors=True)
    return dest


@pytest.fixture
def repo(reproduced_once, tmp_path) -> Path:
    """A private copy of the reproduced repository: in sync (`dvc status` clean), committed, free to change."""
    return copy_repo(reproduced_once.path, tmp_path / "repo")
