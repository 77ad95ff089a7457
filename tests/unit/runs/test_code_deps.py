"""dvc.yaml's code deps are the folders each stage imports: a change to any module a stage runs reruns it."""

from __future__ import annotations

import ast
import re

import pytest
import yaml

from banglasim.config import paths
from banglasim.runs.code_deps import PACKAGE_DIR, code_folders, imported_modules, module_closure
from banglasim.stages import STAGES, dvc_stage_name

from repo_helpers import REPO_ROOT


def dvc_stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def code_deps_of(stage: dict) -> set[str]:
    return {d for d in stage.get("do", stage)["deps"] if d.startswith("src/")}


def check_deps(stage: dict, command: str) -> tuple[set[str], set[str]]:
    listed, needed = code_deps_of(stage), set(code_folders(STAGES[command][0]))
    return needed - listed, listed - needed


@pytest.mark.parametrize("command", sorted(STAGES))
def test_each_stage_lists_exactly_the_folders_it_imports(command):
    stage = dvc_stages()[dvc_stage_name(command)]
    assert f"python -m banglasim {command}" in stage.get("do", stage)["cmd"]
    missing, extra = check_deps(stage, command)
    assert not missing, f"{command}: imports code in {sorted(missing)} but dvc.yaml does not list them as deps"
    assert not extra, f"{command}: dvc.yaml lists {sorted(extra)} which it does not import"


def test_dvc_yaml_lists_folders_never_single_source_files():
    for name, stage in dvc_stages().items():
        assert all(not d.endswith(".py") for d in code_deps_of(stage)), name


def test_removing_one_dep_from_dvc_yaml_is_caught():
    train = dvc_stages()["train"]
    train["deps"] = [d for d in train["deps"] if d != "src/banglasim/config"]
    missing, _ = check_deps(train, "train")
    assert missing == {"src/banglasim/config"}


def test_evaluation_code_is_no_dep_of_the_data_and_base_model_stages():
    for command in ("check-params", "base-model", "ingest", "prepare", "split", "mine"):
        assert "src/banglasim/evaluation" not in code_folders(STAGES[command][0]), command


def test_closure_follows_imports_transitively_and_inside_functions(tmp_path):
    closure = {p.relative_to(PACKAGE_DIR).as_posix() for p in module_closure("banglasim.training.train")}
    assert {
        "training/train.py",
        "runs/checkpoints.py",
        "runs/publish.py",
        "runs/model_card.py",
        "runs/run_record.py",
        "config/params.py",
        "config/paths.py",
        "models/loading.py",
    } <= closure
    assert "search/query.py" not in closure and "cli.py" not in closure
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    from banglasim.core import atomic\n    import banglasim.core.errors\n"
        "from banglasim.config.paths import MODEL_DIR\nimport numpy\n"
    )
    assert imported_modules(source) == {
        "banglasim.core",
        "banglasim.core.atomic",
        "banglasim.core.errors",
        "banglasim.config.paths",
    }


def test_no_stage_module_imports_another_stage_module():
    stage_modules = {module for module, _ in STAGES.values()}
    for module in stage_modules:
        files = set(module_closure(module))
        others = {
            m
            for m in stage_modules - {module}
            if any(f.with_suffix("").as_posix().endswith(m.replace(".", "/")) for f in files)
        }
        assert not others, f"{module} imports the stage module(s) {sorted(others)}"


def test_the_top_level_only_dispatches():
    """The top-level modules are no stage's dep: they import stage modules only lazily, by name."""
    for name in ("__init__.py", "__main__.py", "cli.py", "stages.py"):
        tree = ast.parse((PACKAGE_DIR / name).read_text(encoding="utf-8"))
        top_imports = {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
        stage_modules = {module for module, _ in STAGES.values()}
        assert not top_imports & stage_modules, name


def test_every_path_in_dvc_yaml_is_defined_in_paths_py():
    """dvc.yaml's data, model, metrics and report paths are the ones paths.py defines (one definition each)."""
    text = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s*- ((?:data|models|metrics|reports|dvclive)/[^\s:]+)", text, re.M))
    defined = {str(v) for k, v in vars(paths).items() if k.isupper() and not k.startswith("_")}
    defined |= {str(paths.SOURCES_DIR / "${key}")}
    assert listed and listed <= defined, sorted(listed - defined)
