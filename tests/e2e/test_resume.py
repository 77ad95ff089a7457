"""Crash and resume, with the kill points of banglasim.runs.faults (BANGLASIM_KILL_AT): a training run killed
after a checkpoint picks up where it stopped, logging each step once and ending with the same bytes as a run
never interrupted; a run killed in any phase under `dvc repro` leaves every train output of one run."""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from banglasim.runs.faults import ENV as KILL_AT
from banglasim.training.callbacks import eval_steps

from data_helpers import edit_params
from repo_helpers import banglasim, dvc, read_tsv

pytestmark = pytest.mark.e2e

LIVE = Path("dvclive/plots/metrics")


def total_steps(repo: Path) -> int:
    return json.loads((repo / "metrics/train.json").read_text())["total_steps"]


def evals_per_epoch(repo: Path) -> int:
    return yaml.safe_load((repo / "params.yaml").read_text())["train"]["evals_per_epoch"]


def run_outputs(repo: Path) -> dict[str, bytes]:
    files = [
        "dvclive/metrics.json",
        "models/model/model.safetensors",
        *(f"{LIVE}/{name}.tsv" for name in ("eval_score", "avg_cosine", "train_loss")),
    ]
    out = {}
    for name in files:
        data = (repo / name).read_bytes()
        if name.endswith(".tsv"):  # drop DVCLive's timestamp column
            data = b"\n".join(b"\t".join(line.split(b"\t")[1:]) for line in data.splitlines())
        out[name] = data
    return out


def without_a_run(repo: Path) -> Path:
    """The repo copy with no run folder and no train outputs: what we check afterwards is the next run's."""
    shutil.rmtree(repo / ".checkpoints")
    shutil.rmtree(repo / "dvclive")
    for name in ("metrics/train.json", "reports/run_record.json"):
        (repo / name).unlink()
    return repo


def train_killed_at(repo: Path, point: str) -> list[Path]:
    """`banglasim train` SIGKILLed at a kill point; the checkpoints marked complete when it died."""
    proc = banglasim("train", cwd=repo, check=False, env={KILL_AT: point})
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point} (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    assert not (repo / "metrics/train.json").exists(), "the killed run must not have got to the end"
    return sorted(repo.glob(".checkpoints/*/checkpoint-*/COMPLETE"))


def assert_complete_series(repo: Path) -> None:
    total, per_epoch = total_steps(repo), evals_per_epoch(repo)
    expected = [0, *eval_steps(total, 1, per_epoch)]
    assert len(expected) == per_epoch + 1
    for name, want in (
        ("eval_score", expected),
        ("avg_cosine", expected),
        ("val_mrr_at_10", expected),
        ("train_loss", expected[1:]),
    ):
        rows = read_tsv(repo / LIVE / f"{name}.tsv")
        steps = [int(r["step"]) for r in rows]
        assert steps == want, f"{name}: steps {steps}, expected {want}"
        for r in rows:
            assert r[name] not in ("", "null", "nan", "None"), f"{name}: empty at step {r['step']}"
            float(r[name])
    assert json.loads((repo / "metrics/train.json").read_text())["eval_steps"] == expected
    every = max(1, total // 50)  # the step series: every few steps, the ones before the crash replayed
    for name in ("train_loss", "learning_rate"):
        steps = [int(r["step"]) for r in read_tsv(repo / LIVE / "steps" / f"{name}.tsv")]
        assert steps == sorted({*range(every, total + 1, every), total}), f"steps/{name}: {steps}"
    live = json.loads((repo / "dvclive/metrics.json").read_text())
    assert live["step"] == total and all(v is not None for v in live.values())
    assert (repo / "models/model/model.safetensors").exists()


def first_checkpoint_step(repo: Path) -> int:
    return eval_steps(total_steps(repo), 1, evals_per_epoch(repo))[0]


# (kill point given the first checkpoint's step, whether the killed run's staged DVCLive files are lost too)
KILLS = {
    "in-the-step-after-the-first-checkpoint": (lambda first: f"train-step:{first + 1}", False),
    "writing-the-second-checkpoint-live-files-lost": (lambda first: "checkpoint:2", True),
}


@pytest.mark.parametrize("kill", list(KILLS))
def test_killed_training_resumes_from_its_last_checkpoint(reproduced, repo, kill):
    """Resuming is exact: the same series, metrics and weights as the reproduced run, never interrupted."""
    first = first_checkpoint_step(repo)
    point, clear_live = KILLS[kill][0](first), KILLS[kill][1]
    complete = train_killed_at(without_a_run(repo), point)
    assert [p.parent.name for p in complete] == [f"checkpoint-{first}"]
    if clear_live:  # the series must then be rebuilt from the checkpoint
        for staged in repo.glob(".checkpoints/*/publish"):
            shutil.rmtree(staged)
    proc = banglasim("train", cwd=repo)
    resumed_line = next(line for line in proc.stdout.splitlines() if "resuming from" in line)
    assert complete[-1].parent.name in resumed_line, resumed_line
    assert_complete_series(repo)
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["resumed_from"]
    assert record["wall_seconds"] > record["wall_seconds_this_part"] > 0, "the time before the kill is counted"
    resumed = run_outputs(repo)
    for name, data in run_outputs(reproduced.path).items():
        assert resumed[name] == data, f"{name} differs from the uninterrupted run"


def test_changed_train_param_after_a_kill_starts_fresh(repo):
    point = f"train-step:{first_checkpoint_step(repo) + 1}"
    train_killed_at(without_a_run(repo), point)
    edit_params(repo, train__learning_rate=2e-3)
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    assert_complete_series(repo)
    assert json.loads((repo / "reports/run_record.json").read_text())["resumed_from"] is None


def run_folders(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".checkpoints").iterdir() if p.is_dir()}


def test_a_code_change_gives_a_new_run_key(repo):
    """The run key hashes the train stage's code: changed code trains in a new run folder, and the old
    run's folder is removed once the new run is published."""
    before = run_folders(repo)
    assert len(before) == 1
    code = repo / "src/banglasim/runs/publish.py"  # a module train imports, not train.py itself
    code.write_text(code.read_text(encoding="utf-8") + "\n# a change to the training code\n", encoding="utf-8")
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    after = run_folders(repo)
    assert len(after) == 1 and after != before, (before, after)


def test_a_finished_run_is_trained_afresh_with_identical_results(reproduced, repo):
    """Same params, data and code (so the same run key): a rerun (dvc repro -f) trains again from step 0
    instead of republishing the finished run's last checkpoint, and training is deterministic: the same
    `dvclive/metrics.json` and weights, byte for byte, as the reproduced run."""
    before = run_folders(repo)
    (key,) = before
    assert (repo / ".checkpoints" / key / "FINISHED").exists()
    (repo / "dvclive/metrics.json").unlink()
    proc = banglasim("train", cwd=repo)
    assert "resuming from" not in proc.stdout
    assert run_folders(repo) == before, "same run key"
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["resumed_from"] is None
    # trained again from step 0: the step-0 evaluation runs only in a run that was not resumed (comparing wall
    # times was flaky: two runs of the tiny model can take the same 1.2 s)
    assert "step 0/" in proc.stdout and f"steps in {record['wall_seconds']:.1f}s" in proc.stdout
    assert_complete_series(repo)
    for rel in ("dvclive/metrics.json", "models/model/model.safetensors"):
        assert (repo / rel).read_bytes() == (reproduced.path / rel).read_bytes(), f"{rel} differs between runs"


def run_of_each_output(repo: Path) -> dict[str, str]:
    """The run key each train output says it came from."""
    return {
        "models/model": json.loads((repo / "models/model/selection.json").read_text())["run"],
        "dvclive": yaml.safe_load((repo / "dvclive/params.yaml").read_text())["run"],
        "metrics/train.json": json.loads((repo / "metrics/train.json").read_text())["run"],
        "reports/run_record.json": json.loads((repo / "reports/run_record.json").read_text())["run"],
    }


KILL_PHASES = (("train-step", 12), ("checkpoint", 2), ("publish", 6))  # (point, highest count drawn)


def test_kill_9_in_each_phase_of_train_then_dvc_repro(repo):
    """SIGKILL the train stage under `dvc repro` at a random point of each of its phases in turn (training,
    checkpointing, publishing; each rerun picks up what the last one left), then a plain `dvc repro`: the
    pipeline is in sync and every train output is of one run. Before its publish, a killed run leaves the
    previous outputs alone."""
    previous = set(run_of_each_output(repo).values())
    edit_params(repo, train__learning_rate=2e-3)
    for point, max_count in KILL_PHASES:
        count = random.Random(f"{point}-seed").randint(1, max_count)
        killed = dvc("repro", cwd=repo, check=False, env={KILL_AT: f"{point}:{count}"})
        assert killed.returncode != 0, f"the train stage was not killed at {point}:{count}"
        assert "Running stage 'evaluate'" not in killed.stdout
        if point != "publish":
            assert set(run_of_each_output(repo).values()) == previous, f"killed at {point}: outputs changed"
    dvc("repro", cwd=repo)
    assert json.loads(dvc("status", "--json", cwd=repo).stdout or "{}") == {}
    runs = run_of_each_output(repo)
    assert len(set(runs.values())) == 1 and set(runs.values()) != previous, runs
    (key,) = set(runs.values())
    assert (repo / ".checkpoints" / key / "FINISHED").exists()
