"""Questions that are not plain text (issue 26.1 and the minor points on `--batch` and the terminal): one check for
search, `--batch` and serve, batch lines read one by one, output that survives a closed pipe or an ASCII terminal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from banglasim.cli import main
from banglasim.search.questions import check_question

from repo_helpers import tool_env
from search_helpers import QUESTIONS, make_workspace


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("\ud800", "not valid text: a lone surrogate U+D800 at character 1"),
        ("abc \udcff", "not valid text: byte 0xff at character 5"),
        ("\u200d\u200b\ufeff\x00", "the question is empty (only invisible characters)"),
        ("  \t ", "the question is empty"),
        ("ক" * 11, "11 characters long, more than 10"),
    ],
)
def test_check_question_refuses_what_cannot_be_searched(question, said):
    assert said in (check_question(question, 10) or ""), check_question(question, 10)


def test_emoji_punctuation_and_other_scripts_are_asked_for_the_dense_side_to_rank():
    assert check_question("😀🎉") is None and check_question("?!…।") is None and check_question("漢字") is None


def test_a_padded_question_is_measured_after_trimming():
    assert check_question(" " * 50 + "পদ্মা" + "\n" * 50, 10) is None
    assert check_question("নদী 2") is None and check_question("১৯৭১") is None


@pytest.fixture
def root(tmp_path, tiny_export_dir):
    return make_workspace(tmp_path, tiny_export_dir)


def test_a_question_that_is_not_utf8_is_one_error(root, monkeypatch, capsys):
    """`banglasim search $'abc \\xff'` ended in `TypeError: TextEncodeInput must be Union[...]`, exit 1."""
    monkeypatch.chdir(root)
    assert main(["search", "abc \udcff"]) == 2  # how Python hands over the byte 0xff of a command line
    err = capsys.readouterr().err
    assert err.startswith("error: the question is not valid text: byte 0xff at character 5"), err
    assert "Traceback" not in err


def banglasim(root, *args, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "banglasim", *args],
        cwd=root,
        env={**tool_env(), **(env or {})},
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_standard_input_that_is_not_utf8_is_one_error(root):
    """`printf 'abc \\xff' | banglasim search -` ended in the same traceback."""
    proc = banglasim(root, "search", "-", stdin=b"abc \xff")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.startswith("error: the question is not valid text"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2


def test_batch_reads_each_line_on_its_own(root, monkeypatch, capsys):
    """A stray \\r split one line in two, a BOM was echoed into the first question, bytes that were not UTF-8 named
    no line and lost the good lines read before them."""
    lines = [b"\xef\xbb\xbf" + QUESTIONS[0].encode(), "চাঁদ\rকী?".encode(), b"abc \xff", QUESTIONS[2].encode()]
    (root / "q.txt").write_bytes(b"\r\n".join(lines) + b"\n")
    monkeypatch.chdir(root)
    assert main(["search", "--batch", "q.txt", "--top-k", "1"]) == 0
    out, err = capsys.readouterr()
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["question"] for a in answers] == [QUESTIONS[0], "চাঁদ\rকী?", "abc \ufffd", QUESTIONS[2]]
    assert [("hits" in a) for a in answers] == [True, True, False, True]
    assert answers[2]["error"].startswith("the question is not valid text: byte 0xff at character 5")
    assert "1 line(s) not UTF-8 text (first: line 3)" in err


def test_batch_to_a_closed_pipe_ends_quietly(root):
    """`banglasim search --batch q.txt | head -1` printed `error: Broken pipe`."""
    (root / "q.txt").write_text("\n".join(QUESTIONS * 700) + "\n", encoding="utf-8")
    args = [sys.executable, "-m", "banglasim", "search", "--batch", "q.txt", "--top-k", "4"]
    proc = subprocess.Popen(args, cwd=root, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert json.loads(first)["hits"] and "error" not in err and "Traceback" not in err and "Exception" not in err


@pytest.mark.parametrize("json_out", [True, False], ids=["json", "reader"])
def test_an_ascii_terminal_gets_escapes_not_a_traceback(root, json_out):
    """PYTHONIOENCODING=ascii gave a UnicodeEncodeError traceback."""
    proc = banglasim(root, "search", QUESTIONS[0], *(["--json"] if json_out else []), env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout.decode("ascii")
    if json_out:
        assert json.loads(out)["question"] == QUESTIONS[0]
    else:
        assert " 1. " in out and "\\u09" in out
