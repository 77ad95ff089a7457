"""dvc.yaml's code deps are exactly what each stage imports: a change to any module a stage runs reruns it."""

from __future__ import annotations

import re

import pytest
import yaml

from banglasim import paths
from banglasim.code_deps import imported_modules, module_closure, stage_code
from conftest import REPO_ROOT

STAGE_MODULES = {"check_params": "check_params", "base_model": "base_model", "ingest": "ingest",
                 "prepare": "prepare", "split": "split", "mine": "mine", "train": "train", "evaluate": "evaluate"}


def dvc_stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def code_deps_of(stage: dict) -> set[str]:
    body = stage.get("do", stage)
    return {d for d in body["deps"] if d.startswith("src/")}


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_each_stage_lists_exactly_the_modules_it_imports(stage):
    stages = dvc_stages()
    assert f"python -m banglasim.{STAGE_MODULES[stage]}" in stages[stage].get("do", stages[stage])["cmd"]
    missing, extra = check_deps(stages[stage], stage)
    assert not missing, f"{stage}: imports {sorted(missing)} but dvc.yaml does not list them as deps"
    assert not extra, f"{stage}: dvc.yaml lists {sorted(extra)} which it does not import"


def check_deps(stage: dict, name: str) -> tuple[set[str], set[str]]:
    listed, needed = code_deps_of(stage), set(stage_code(STAGE_MODULES[name]))
    return needed - listed, listed - needed


def test_removing_one_dep_from_dvc_yaml_is_caught():
    stages = dvc_stages()
    train = stages["train"]
    train["deps"] = [d for d in train["deps"] if d != "src/banglasim/params.py"]
    missing, _ = check_deps(train, "train")
    assert missing == {"src/banglasim/params.py"}


def test_closure_follows_imports_transitively_and_inside_functions(tmp_path):
    closure = {p.name for p in module_closure("banglasim.train")}
    assert {"train.py", "checkpoints.py", "code_deps.py", "publish.py", "params.py", "paths.py",
            "modeling.py", "__init__.py"} <= closure  # publish -> model_card -> run_record -> paths ...
    assert "search.py" not in closure and "cli.py" not in closure
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from banglasim import atomic\n    import banglasim.errors\n"
                      "from banglasim.paths import MODEL_DIR\nimport numpy\n")
    assert imported_modules(source) == {"banglasim", "banglasim.atomic", "banglasim.errors", "banglasim.paths"}


def test_no_stage_module_imports_another_stage_module():
    stage_files = {f"banglasim.{m}" for m in STAGE_MODULES.values()}
    for module in stage_files:
        others = {f"banglasim.{p.stem}" for p in module_closure(module)} & stage_files - {module}
        assert not others, f"{module} imports the stage module(s) {sorted(others)}"


def test_every_path_in_dvc_yaml_is_defined_in_paths_py():
    """dvc.yaml's data, model, metrics and report paths are the ones paths.py defines (one definition each)."""
    text = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s*- ((?:data|models|metrics|reports|dvclive)/[^\s:]+)", text, re.M))
    defined = {str(v) for k, v in vars(paths).items() if k.isupper() and not k.startswith("_")}
    defined |= {str(paths.SOURCES_DIR / "${key}")}
    assert listed and listed <= defined, sorted(listed - defined)
