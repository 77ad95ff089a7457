"""The command line (cli.py) and the one stage list (stages.py): every stage is a dvc.yaml stage run through
`python -m banglasim <command>`, and the CLI offers exactly those commands plus `search`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from banglasim.cli import build_parser, main
from banglasim.stages import STAGES, dvc_stage_name

from repo_helpers import REPO_ROOT, tool_env


def dvc_yaml_stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_the_stage_list_and_dvc_yaml_name_the_same_stages():
    assert {dvc_stage_name(command) for command in STAGES} == set(dvc_yaml_stages())


@pytest.mark.parametrize("command", sorted(STAGES))
def test_dvc_yaml_runs_each_stage_through_the_one_cli(command):
    stage = dvc_yaml_stages()[dvc_stage_name(command)]
    cmd = stage.get("do", stage)["cmd"]
    want = f"PYTHONPATH=src python -m banglasim {command}"
    assert cmd == want or cmd == f"{want} ${{key}}", cmd


def test_help_lists_every_stage_and_search():
    text = build_parser().format_help()
    for command in [*STAGES, "search"]:
        assert command in text, command


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-stage"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_dash_m_banglasim_is_the_entry_point():
    """`python -m banglasim --help` in a fresh interpreter (the entry dvc.yaml uses)."""
    proc = subprocess.run(
        [sys.executable, "-m", "banglasim", "--help"],
        cwd=REPO_ROOT,
        env=tool_env(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: banglasim" in proc.stdout and "check-params" in proc.stdout
