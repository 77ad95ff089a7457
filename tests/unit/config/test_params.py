"""params.yaml validation: every bad value is a UserError naming the param and its allowed values."""

from __future__ import annotations

import re

import pytest
import yaml

from banglasim.config.params import check_sources_exist, load_params
from banglasim.core.errors import UserError

from data_helpers import (
    DELETE,
    REPO_PARAMS,
    assert_no_prepare_output,
    assert_user_error,
    edit_params,
    run_cli,
    run_prepare,
    write_params,
)


@pytest.fixture
def params_file(tmp_path):
    (tmp_path / "src/A").mkdir(parents=True)
    return write_params(tmp_path, ["src/A"])


def edit(path, section, name, value):
    edit_params(path, **{f"{section}__{name}": value})


def test_repository_params_are_valid():
    params = load_params(REPO_PARAMS)
    assert params.data.sources
    assert params.prepare.on_error in ("fail", "skip")


def test_copied_params_are_valid(params_file):
    load_params(params_file)


BAD_VALUES = [
    # (section, param, value, words of the allowed values the message must show)
    ("train", "learning_rate", 0, ("> 0",)),
    ("train", "learning_rate", -1e-5, ("> 0",)),
    ("train", "learning_rate", "fast", ("> 0",)),
    ("train", "batch_size", 0, (">= 1",)),
    ("train", "batch_size", 2.5, (">= 1",)),
    ("train", "batch_size", True, (">= 1",)),
    ("split", "val_fraction", 0, ("between 0", "1")),
    ("split", "val_fraction", 1, ("between 0", "1")),
    ("split", "val_fraction", 1.5, ("between 0", "1")),
    ("model", "pooling", "foo", ("mean", "cls", "max", "lasttoken", "weightedmean")),
    ("model", "trainable_layers", -1, (">= 1",)),
    ("prepare", "on_error", "maybe", ("fail", "skip")),
    ("prepare", "max_passage_chars", 0, (">= 1",)),
    ("split", "group_by", "question", ("passage", "none")),
    ("train", "select", "worst", ("last", "best")),
    ("data", "sources", [], ("mapping",)),
    ("data", "sources", ["data/raw/x"], ("mapping",)),
    ("data", "sources", {"D 2": "data/raw/x"}, ("mapping", "letters")),
    ("train", "cache_frozen", 1, ("true or false",)),
    ("index", "nprobe", 0, (">= 1",)),
    ("index", "approximate_above", -1, (">= 0",)),
]


@pytest.mark.parametrize("section,name,value,allowed", BAD_VALUES, ids=[f"{s}.{n}={v!r}" for s, n, v, _ in BAD_VALUES])
def test_bad_value_names_param_and_allowed_values(params_file, section, name, value, allowed):
    edit(params_file, section, name, value)
    with pytest.raises(UserError) as info:
        load_params(params_file)
    msg = str(info.value)
    assert f"{section}.{name}" in msg
    for word in allowed:
        assert word in msg, (word, msg)


@pytest.mark.parametrize("section,name", [("train", "learning_rate"), ("split", "seed"), ("prepare", "on_error")])
def test_missing_param(params_file, section, name):
    edit(params_file, section, name, DELETE)
    with pytest.raises(UserError, match=rf"{section}\.{name}.*missing"):
        load_params(params_file)


def test_unknown_param(params_file):
    edit(params_file, "train", "learnin_rate", 1e-4)
    with pytest.raises(UserError) as info:
        load_params(params_file)
    msg = str(info.value)
    assert "train.learnin_rate" in msg and "learning_rate" in msg.replace("train.learnin_rate", "")


def test_missing_section(params_file):
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    del params["evaluate"]
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(UserError, match="evaluate"):
        load_params(params_file)
    load_params(params_file, ("data", "prepare"))  # stages check only their own sections


def test_not_yaml_and_not_found(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("prepare: [on_error: fail\n", encoding="utf-8")
    with pytest.raises(UserError, match="YAML"):
        load_params(bad)
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_missing_source_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src/D2").mkdir(parents=True)
    (tmp_path / "src/file.txt").write_text("ফাইল", encoding="utf-8")
    check_sources_exist({"D2": "src/D2"}, "other.yaml")
    for missing in ("src/D3", "src/file.txt"):
        with pytest.raises(UserError) as info:
            check_sources_exist({"D2": "src/D2", "X": missing}, "other.yaml")
        msg = str(info.value)
        assert "data.sources.X" in msg and missing in msg and "fix" in msg
        assert msg.startswith("other.yaml:"), "names the params file the sources came from"


@pytest.mark.parametrize(
    "section,name,value,needles",
    [
        ("prepare", "on_error", "maybe", ("prepare.on_error", "'fail'", "'skip'")),
        ("prepare", "num_samples", 0, ("prepare.num_samples", ">= 1")),
        ("prepare", "max_passage_chars", "অনেক", ("prepare.max_passage_chars", ">= 1")),
        ("prepare", "colour", "নীল", ("prepare.colour", "on_error")),
        ("data", "sources", "src/A", ("data.sources", "mapping")),
    ],
)
def test_cli_prints_one_error_paragraph(tmp_path, section, name, value, needles):
    (tmp_path / "src/A").mkdir(parents=True)
    path = write_params(tmp_path, ["src/A"])
    edit(path, section, name, value)
    err = assert_user_error(run_prepare(tmp_path), *needles)
    assert err.count("error:") == 1
    assert_no_prepare_output(tmp_path)


def test_cli_missing_params_file(tmp_path):
    assert_user_error(run_cli(tmp_path, "--params", "নেই.yaml", "prepare"), "নেই.yaml", "not found")


@pytest.mark.parametrize("text", ["prepare: [on_error: fail\n", "data:\n  sources: [a\nprepare:\n  seed: 1\n"])
def test_cli_invalid_yaml_one_paragraph(tmp_path, text):
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    assert_user_error(run_prepare(tmp_path), "params.yaml", "YAML", "fix")
    assert_no_prepare_output(tmp_path)


def test_cli_missing_source_folder(tmp_path):
    write_params(tmp_path, ["src/নেই"])
    assert_user_error(run_prepare(tmp_path), "data.sources", "src/নেই", "fix")
    assert_no_prepare_output(tmp_path)


@pytest.mark.parametrize("stage", ["check-params", "ingest"])
def test_cli_missing_source_names_the_params_file_in_use(tmp_path, stage):
    """With --params other.yaml the error names other.yaml, not params.yaml."""
    write_params(tmp_path, ["src/নেই"]).rename(tmp_path / "other.yaml")
    err = assert_user_error(run_cli(tmp_path, "--params", "other.yaml", stage), "data.sources", "src/নেই")
    assert "other.yaml" in err and "params.yaml" not in err


def test_exponent_floats_written_by_dvc_exp_run_are_numbers(tmp_path):
    """`dvc exp run -S train.learning_rate=2e-5` writes `2e-05` (YAML 1.2), which must load as a float."""
    from banglasim.config.params import load_params

    text, n = re.subn(r"(?m)^(  learning_rate:) \S+", r"\1 2e-05", REPO_PARAMS.read_text(encoding="utf-8"))
    assert n == 2  # train's and the re-ranker's
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_params(path, ("train",)).train.learning_rate == 2e-05


def test_params_are_frozen_typed_sections(params_file):
    import dataclasses

    from banglasim.config.params import TrainParams

    params = load_params(params_file, ("train",))
    assert isinstance(params.train, TrainParams) and params.model is None, "only the sections asked for"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.learning_rate = 1.0


def test_the_old_sampler_name_is_refused_naming_the_new_one(params_file):
    edit(params_file, "train", "batch_sampler", "batch_sampler")
    with pytest.raises(UserError, match="renamed") as info:
        load_params(params_file)
    assert "train.batch_sampler: plain" in str(info.value)


def test_an_unknown_section_is_refused(params_file):
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["trian"] = {"epochs": 2}
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(UserError, match="unknown section.*trian"):
        load_params(params_file)


def test_cache_frozen_must_be_a_real_boolean(tmp_path):
    from data_helpers import edit_params

    write_params(tmp_path, ["src/A"])
    edit_params(tmp_path, train__cache_frozen=1)
    from banglasim.config.params import load_params

    with pytest.raises(UserError, match="train.cache_frozen"):
        load_params(tmp_path / "params.yaml", ("train",))
