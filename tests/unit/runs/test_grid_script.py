"""benchmarks/grid.py (issue 25): one knob at a time, cheap evaluation, resumable from its results file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from repo_helpers import REPO_ROOT


def load_grid():
    spec = importlib.util.spec_from_file_location("grid", REPO_ROOT / "benchmarks/grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_point_changes_one_knob_from_the_default_and_every_run_evaluates_cheaply():
    grid = load_grid()
    assert grid.POINTS["default"] == [] and grid.CHEAP == ["train.evals_per_epoch=1"]
    knobs = {name: {s.split("=")[0] for s in settings} for name, settings in grid.POINTS.items()}
    assert knobs["bm25-neg-1"] == {"train.hard_negatives", "mine.negatives_from"}  # BM25 negatives need both
    assert all(
        len(k) == 1
        for n, k in knobs.items()
        if n not in ("default", "bm25-neg-1", "bm25-neg-3", "cached-b64", "cached-b128")
    )
    assert all(s.startswith("data.sources.") and Path(s.split("=")[1]).is_absolute() for s in grid.sources(Path("x")))


def test_a_restart_skips_the_runs_in_the_results_file_and_show_ranks_them(tmp_path, monkeypatch, capsys):
    grid = load_grid()
    results = tmp_path / "grid25.jsonl"
    row = {"name": "default", "settings": [], "val_mrr_at_10_base": 0.62, "val_mrr_at_10": 0.69, "steps": 339}
    row |= {"seconds_per_step": 3.2, "wall_seconds": 1200.0, "precision": "fp32", "cpu": "CPU", "experiment": "abc"}
    results.write_text(json.dumps(row) + "\n" + json.dumps({**row, "name": "lr-2e-4", "val_mrr_at_10": 0.71}) + "\n")
    monkeypatch.setattr(grid, "RESULTS", results)
    ran = []
    monkeypatch.setattr(grid, "sh", lambda *cmd, capture=False: ran.append(cmd) or "")
    monkeypatch.setattr(grid, "figures", lambda name, settings: {**row, "name": name, "settings": settings})
    grid.run("^(default|lr-2e-4|epochs-2)$", tmp_path)
    assert [c[c.index("-n") + 1] for c in ran if c[:3] == ("dvc", "exp", "run")] == ["epochs-2"]
    assert set(grid.done(results)) == {"default", "lr-2e-4", "epochs-2"}
    capsys.readouterr()
    grid.show()
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("| lr-2e-4 |") and "not run yet" in table[-1]
