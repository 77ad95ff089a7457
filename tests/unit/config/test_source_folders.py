"""check_params refuses what DVC itself would trip on before any stage runs (issue 19, defects 5 and 8):
a source folder with a broken link, a link loop or an unreadable file, and a data.sources of the wrong shape."""

from __future__ import annotations

import os

import pytest

from banglasim.config import source_folders
from banglasim.config.source_folders import check_source_folders, unreadable_entries
from banglasim.core.errors import UserError

from data_helpers import assert_user_error, edit_params, run_cli, write_params

SQUAD = '{"data": [{"paragraphs": [{"context": "ঢাকা বাংলাদেশের রাজধানী।", "qas": [{"question": "রাজধানী কোথায়?"}]}]}]}'


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "src" / "D2"
    folder.mkdir(parents=True)
    (folder / "qa.json").write_text(SQUAD, encoding="utf-8")
    return folder


def refused(folder, *needles: str) -> str:
    with pytest.raises(UserError) as info:
        check_source_folders({"D2": str(folder)}, "params.yaml")
    msg = str(info.value)
    for needle in ("data.sources.D2", "DVC", "prepare.on_error", *needles):
        assert needle in msg, (needle, msg)
    return msg


def test_a_readable_folder_passes_with_links_that_dvc_can_follow(source):
    (source / "more").mkdir()
    os.symlink("../qa.json", source / "more" / "same.json")  # a link to a file: DVC hashes its target
    os.symlink("..", source / "up")  # a link to a folder, even one leading back up: DVC does not follow it
    assert unreadable_entries(source) == []
    check_source_folders({"D2": str(source)}, "params.yaml")


def test_a_broken_link_is_named_with_its_target(source):
    os.symlink("gone.json", source / "broken.json")
    refused(source, str(source / "broken.json"), "broken link", "gone.json")


def test_a_hidden_broken_link_counts_too(source):
    """DVC hashes hidden files as well (ingest leaves them out, DVC does not)."""
    os.symlink("nowhere", source / ".hidden")
    refused(source, ".hidden", "broken link")


def test_a_link_loop_is_named(source):
    os.symlink("loop.json", source / "loop.json")
    os.symlink("b.json", source / "a.json")
    os.symlink("a.json", source / "b.json")
    msg = refused(source, "3 entries", "link loop")
    for name in ("loop.json", "a.json", "b.json"):
        assert str(source / name) in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; see the simulated test below")
def test_a_file_without_read_permission_is_named(source):
    (source / "qa.json").chmod(0)
    try:
        refused(source, "qa.json", "cannot be read")
    finally:
        (source / "qa.json").chmod(0o644)


def test_an_unreadable_file_is_named_simulated(source, monkeypatch):
    """What a user without root sees for a chmod 000 file (the tests run as root, who can read it)."""
    target = source / "qa.json"

    def deny(path, *args, **kwargs):
        if os.fspath(path) == os.fspath(target):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(source_folders, "open", deny, raising=False)
    refused(source, str(target), "cannot be read (Permission denied)")


def test_many_problems_are_counted_and_the_first_few_named(source):
    for i in range(8):
        os.symlink(f"gone{i}", source / f"broken{i}.json")
    msg = refused(source, "8 entries", "and 3 more")
    assert "broken0.json" in msg and "broken7.json" not in msg


def test_check_params_refuses_even_with_on_error_skip(tmp_path, source):
    write_params(tmp_path, [source], prepare__on_error="skip")
    os.symlink("gone.json", source / "broken.json")
    assert_user_error(run_cli(tmp_path, "check-params"), "broken.json", "broken link", "fix")  # one paragraph
    assert not (tmp_path / "reports/params_check.txt").exists()


@pytest.mark.parametrize(
    "sources,needles",
    [
        (["data/raw/D2"], ("is a list", "D2: data/raw/D2/BanQA/data", "ingest@NAME")),  # the old format
        (3, ("data.sources = 3", "not a mapping", "D2: data/raw/D2/BanQA/data")),
        ({"D2": 3}, ("data.sources.D2 = 3", "not a folder path")),
        ({"D2": None}, ("data.sources.D2 = None", "not a folder path")),
    ],
)
def test_wrong_shapes_of_data_sources_spell_out_the_right_one(tmp_path, source, sources, needles):
    """DVC answers these with `Could not find 'key'`, `expected list/dictionary, got int`, `'int' object has no
    attribute 'decode'` before any stage runs; check-params (run by `make repro` first) says what to write."""
    path = write_params(tmp_path, [source])
    edit_params(path, data__sources=sources)
    assert_user_error(run_cli(tmp_path, "check-params"), "params.yaml", *needles)  # one paragraph, exit 2
