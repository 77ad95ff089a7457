"""Atomic writes: no NaN in metrics files, stale temp folders of killed writers removed, the umask honoured."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys

import pytest

from banglasim.core import atomic


def test_metrics_files_refuse_nan_and_inf(tmp_path):
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            atomic.write_json(tmp_path / "m.json", {"eval_score": bad})
    assert not (tmp_path / "m.json").exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stage_removes_stale_temp_folders_of_killed_writers_only(tmp_path):
    target = tmp_path / "data" / "prepared"
    stale = tmp_path / "data" / f".prepared.tmp-{dead_pid()}-abc123"
    live = tmp_path / "data" / f".prepared.tmp-{os.getppid()}-def456"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "examples.jsonl").write_text("{}\n")
    with atomic.atomic_dir(target) as tmp:
        (tmp / "examples.jsonl").write_text("{}\n")
    assert not stale.exists(), "a dead writer's leftovers are removed"
    assert live.exists(), "a live writer's folder is left alone"
    assert (target / "examples.jsonl").exists()


@pytest.mark.parametrize("umask,dir_mode,file_mode", [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask, dir_mode, file_mode):
    old = os.umask(umask)
    try:
        with atomic.atomic_dir(tmp_path / "out") as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "a.txt").write_text("x")
        atomic.write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "out" / "sub").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "out" / "sub" / "a.txt").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == file_mode
