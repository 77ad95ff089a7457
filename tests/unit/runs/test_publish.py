"""The failure cases a user hits by accident: nothing lost, nothing silently wrong (unit level, no training)."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from banglasim.cli import main
from banglasim.core import atomic
from banglasim.core.errors import UserError, exit_code
from banglasim.runs import publish
from banglasim.runs.checkpoints import FINISHED_MARKER, select_step, train_lock

from data_helpers import (
    PASSAGES,
    assert_user_error,
    metrics,
    prepare_main,
    qa,
    run_prepare,
    sample_squad,
    squad,
    write_json,
    write_params,
)

DHAKA = PASSAGES[0][0]


# ---------------------------------------------------------------- 1. undefined metrics never reach a file


def test_metrics_files_refuse_nan_and_inf(tmp_path):
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            atomic.write_json(tmp_path / "m.json", {"eval_score": bad})
    assert not (tmp_path / "m.json").exists()


def test_select_best_refuses_a_nan_score():
    rows = [{"step": 0, "val_mrr_at_10": 0.5}, {"step": 5, "val_mrr_at_10": math.nan},
            {"step": 9, "val_mrr_at_10": 0.4}]
    with pytest.raises(UserError, match="NaN"):
        select_step(rows, "best")
    assert select_step(rows, "last") == 9


# ---------------------------------------------------------------- 3. a publish cut short is completed, never mixed


def staged_run(root: Path, tag: str) -> Path:
    """A run folder with every output staged, each file saying which run it is from."""
    run_dir = root / ".checkpoints" / tag
    stage = publish.staging_dir(run_dir)
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "weights").write_text(tag)
    (stage / "dvclive" / "plots" / "metrics").mkdir(parents=True)
    (stage / "dvclive" / "plots" / "metrics" / "eval_score.tsv").write_text(tag)
    for name in ("dvclive/metrics.json", "dvclive/params.yaml", "train.json", "run_record.json"):
        (stage / name).write_text(tag)
    return run_dir


def published_runs(root: Path) -> set[str]:
    return {(root / p).read_text() for p in ("models/model/weights", "dvclive/plots/metrics/eval_score.tsv",
                                             "dvclive/metrics.json", "dvclive/params.yaml", "metrics/train.json",
                                             "reports/run_record.json")}


def test_publish_failing_half_way_is_rolled_forward_to_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    publish.commit(staged_run(tmp_path, "old"))
    assert published_runs(tmp_path) == {"old"}
    new = staged_run(tmp_path, "new")
    real_replace, calls = os.replace, []

    def disk_full_on_fourth(src, dst):  # 1: READY, 2-3: the model moved aside and into place, 4: the plots
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", disk_full_on_fourth)
    with pytest.raises(OSError):
        publish.commit(new)
    assert published_runs(tmp_path) == {"old", "new"}, "cut short: the outputs are mixed for now"
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p.name for p in publish.roll_forward()] == ["new"]  # what the next train stage does first
    assert published_runs(tmp_path) == {"new"}
    assert (new / FINISHED_MARKER).exists() and not publish.staging_dir(new).exists()


def test_a_publish_not_yet_ready_is_not_rolled_forward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    publish.commit(staged_run(tmp_path, "old"))
    staged_run(tmp_path, "half")  # staged, but READY never written: the old outputs stay
    assert publish.roll_forward() == []
    assert published_runs(tmp_path) == {"old"}


# ---------------------------------------------------------------- 4. OS errors: one error paragraph, not a traceback


@pytest.mark.parametrize("code,fix", [(errno.ENOSPC, "disk space"), (errno.EACCES, "chmod"),
                                      (errno.EROFS, "read-only")])
def test_os_errors_become_one_error_paragraph(capsys, code, fix):
    def fail():
        raise OSError(code, os.strerror(code), "models/model/model.safetensors")

    assert exit_code(fail) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: models/model/model.safetensors: ") and "\n  fix: " in err and fix in err
    assert "Traceback" not in err


def test_unwritable_output_folder_is_a_clean_error(tmp_path, monkeypatch, capsys):
    """A read-only output folder (simulated: the tests may run as root, who can write anywhere)."""
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", sample_squad())
    write_params(tmp_path, ["src/A"])

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data"))

    monkeypatch.setattr("tempfile.mkdtemp", read_only)
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Permission denied" in err and "fix:" in err


# ---------------------------------------------------------------- 5. leftovers of killed stages are removed


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


# ---------------------------------------------------------------- 6. one trainer at a time


def test_a_second_trainer_stops_with_the_holders_pid_and_a_stale_lock_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from banglasim.runs.checkpoints import train_lock\n"
        "with train_lock():\n    print('held', flush=True); time.sleep(60)"), str(Path(__file__).parents[1] / "src")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"PID {holder.pid}"):
            with train_lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock file (with its PID) stays, but the lock is free
    assert (tmp_path / ".checkpoints/train.lock").read_text().strip() == str(holder.pid)
    with train_lock():
        assert (tmp_path / ".checkpoints/train.lock").read_text().strip() == str(os.getpid())


# ---------------------------------------------------------------- 7. outputs honour the umask


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


# ---------------------------------------------------------------- 8. input gaps: each under its own reason


@pytest.mark.parametrize("question,reason", [("\u200b\ufeff\u200d", "invisible_question"), (1971, "question_not_text")])
def test_invisible_and_numeric_questions_are_counted_under_their_own_reason(tmp_path, monkeypatch, question, reason):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", squad([(DHAKA, [qa("bad", question), qa("ok", "ঢাকা কোথায়?")])]))
    write_params(tmp_path, ["src/A"], prepare__on_error="skip")
    assert prepare_main() == 0
    assert metrics(tmp_path)["total"]["records_skipped"] == {reason: 1}
    write_params(tmp_path, ["src/A"], prepare__on_error="fail")
    assert_user_error(run_prepare(tmp_path), "src/A/qa.json", "bad", reason.replace("_", " "))


@pytest.mark.parametrize("kind", ["broken_symlink", "symlink_loop"])
def test_broken_and_looping_links_are_named_and_counted(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", sample_squad())
    link = tmp_path / "src/A/extra.json"
    if kind == "broken_symlink":
        link.symlink_to(tmp_path / "nowhere.json")
    else:
        link.symlink_to(link)
    write_params(tmp_path, ["src/A"], prepare__on_error="fail")
    assert_user_error(run_prepare(tmp_path), "src/A/extra.json", kind.replace("_", " "), "fix")
    write_params(tmp_path, ["src/A"], prepare__on_error="skip")
    assert prepare_main() == 0
    m = metrics(tmp_path)
    assert m["total"]["records_skipped"] == {kind: 1} and "A/extra.json" in m["skipped_files"]


# ---------------------------------------------------------------- 9. messages that say the right thing


def test_trainable_layers_message_states_the_real_range(tiny_model_dir):
    from banglasim.models.loading import freeze_all_but_last, load_model

    with pytest.raises(UserError, match="from 1 to 4"):
        freeze_all_but_last(load_model(str(tiny_model_dir)), 9)


def test_cache_frozen_must_be_a_real_boolean(tmp_path):
    from data_helpers import edit_params

    write_params(tmp_path, ["src/A"])
    edit_params(tmp_path, train__cache_frozen=1)
    from banglasim.config.params import load_params

    with pytest.raises(UserError, match="train.cache_frozen"):
        load_params(tmp_path / "params.yaml", ("train",))


def test_json_report_of_prepare_is_strict_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", sample_squad())
    write_params(tmp_path, ["src/A"])
    assert prepare_main() == 0
    json.loads((tmp_path / "metrics/prepare.json").read_text(), parse_constant=lambda c: pytest.fail(c))


# ---------------------------------------------------------------- DDP: only the main process deletes run folders


def test_only_the_main_process_deletes_run_folders(tmp_path, monkeypatch):
    from banglasim.runs.checkpoints import remove_other_runs, resume_point

    monkeypatch.chdir(tmp_path)
    finished, other = tmp_path / ".checkpoints" / "finished", tmp_path / ".checkpoints" / "other"
    for run in (finished, other):
        (run / "checkpoint-4").mkdir(parents=True)
        (run / "checkpoint-4" / "COMPLETE").write_text("4\n")
    (finished / FINISHED_MARKER).write_text("published\n")
    assert resume_point(finished, remove_finished=False) is None and finished.exists()  # another rank: hands off
    assert resume_point(finished, remove_finished=True) is None and not finished.exists()  # the main process
    remove_other_runs(keep=finished)  # (train calls it on the main process only; the 2-process test runs that)
    assert not other.exists()
