"""core/git_index.py: after `dvc exp run` rewrote params.yaml at the same size within a second, git must not
go on trusting a stale stat (the stale-param leak of issue 19, reproduced here without DVC)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from banglasim.core.git_index import forget_cached_stat


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def stale_repo(tmp_path: Path) -> Path:
    """A repo whose params.yaml holds a same-size edit that git's index (stat cached) does not see."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "core.trustctime", "false")  # ctime cannot be set back; mtime, size and inode can
    params = repo / "params.yaml"
    params.write_text("split:\n  val_fraction: 0.1\n", encoding="utf-8")
    old = params.stat().st_mtime_ns - 10**10  # well before the index is written: not "racily clean"
    os.utime(params, ns=(old, old))
    git(repo, "add", "params.yaml")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    with open(params, "r+", encoding="utf-8") as fh:  # same inode, same size, same mtime: what DVC leaves
        fh.write("split:\n  val_fraction: 1.5\n")
    os.utime(params, ns=(old, old))
    return repo


def test_git_sees_a_same_size_edit_again(tmp_path):
    repo = stale_repo(tmp_path)
    assert git(repo, "status", "--porcelain") == "", "precondition: git trusts the stale stat"
    git(repo, "checkout", "--", ".")
    assert "1.5" in (repo / "params.yaml").read_text(), "precondition: `git checkout -- .` skips the file"

    assert forget_cached_stat(repo / "params.yaml")
    assert git(repo, "status", "--porcelain") == " M params.yaml\n"
    git(repo, "checkout", "--", ".")
    assert (repo / "params.yaml").read_text() == "split:\n  val_fraction: 0.1\n"
    assert git(repo, "diff", "--cached") == "", "the index still holds the committed blob"


def test_nothing_happens_outside_git_or_for_untracked_files(tmp_path):
    lone = tmp_path / "params.yaml"
    lone.write_text("a: 1\n", encoding="utf-8")
    assert not forget_cached_stat(lone)
    assert not forget_cached_stat(tmp_path / "missing.yaml")
    repo = stale_repo(tmp_path)
    (repo / "other.yaml").write_text("b: 2\n", encoding="utf-8")
    assert not forget_cached_stat(repo / "other.yaml")
    assert "other.yaml" not in git(repo, "ls-files")
