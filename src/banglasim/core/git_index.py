"""Keep git's view of the params file honest while `dvc exp run` edits it.

`dvc exp run -S` (DVC 3.67, through scmrepo's pygit2 backend) resets params.yaml to HEAD, records that
file's stat in git's index, rewrites the file with the `-S` values within the same second and, when the
run ends, rewrites the index keeping that stat. When the edit keeps the file's size (`val_fraction: 0.1`
-> `1.5`), git trusts the stat (whole seconds, size, inode) and believes the file unchanged: `git status`,
`git diff`, `git checkout -- .` and `git stash` all skip it, and the next `dvc exp run` starts from the
stale value. Every stage therefore drops the cached stat of the params file's index entry (same blob, same
mode): git then compares the file's content again. Best effort: outside a git work tree, for an untracked
file, or when git is missing or busy, nothing is done.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 10


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None


def forget_cached_stat(path: str | Path) -> bool:
    """Make git re-read `path` on its next look (drop the stat its index entry caches); True when done."""
    path = Path(path).absolute()
    if not path.is_file():
        return False
    listed = _git(["ls-files", "--stage", "-v", "--", path.name], path.parent)
    if listed is None or listed.returncode != 0 or not listed.stdout.strip():
        return False  # not a git work tree, git missing, or an untracked file
    lines = listed.stdout.splitlines()
    if len(lines) != 1:
        return False
    meta, _, _ = lines[0].partition("\t")
    parts = meta.split()
    if len(parts) != 4:
        return False
    tag, mode, blob, stage = parts
    if tag != "H" or stage != "0":
        return False  # assume-unchanged / skip-worktree (the user's choice) or a merge conflict: leave it
    updated = _git(["update-index", "--cacheinfo", f"{mode},{blob},{path.name}"], path.parent)
    return updated is not None and updated.returncode == 0
