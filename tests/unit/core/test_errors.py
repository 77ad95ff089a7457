"""OS errors and unwritable outputs: one `error:` paragraph with a fix, never a traceback."""

from __future__ import annotations

import errno
import os

import pytest

from banglasim.cli import main
from banglasim.core.errors import exit_code

from data_helpers import (
    sample_squad,
    write_json,
    write_params,
)


@pytest.mark.parametrize(
    "code,fix", [(errno.ENOSPC, "disk space"), (errno.EACCES, "chmod"), (errno.EROFS, "read-only")]
)
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
