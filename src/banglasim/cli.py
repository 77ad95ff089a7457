"""The one command line: `banglasim <stage>` runs a pipeline stage (dvc.yaml runs `python -m banglasim <stage>`),
`banglasim search` finds passages with the trained model."""

from __future__ import annotations

import argparse
import importlib
import sys

from banglasim.config.paths import MODEL_DIR, PARAMS_FILE, SEARCH_CACHE_DIR
from banglasim.core.errors import exit_code
from banglasim.core.git_index import forget_cached_stat
from banglasim.stages import STAGES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banglasim", description=__doc__)
    parser.add_argument("--params", default=str(PARAMS_FILE), help=f"params file (default: {PARAMS_FILE})")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, (_, text) in STAGES.items():
        stage = sub.add_parser(command, help=text)
        if command == "ingest":
            stage.add_argument("name", nargs="?", help="the source to ingest (default: every source)")
    search = sub.add_parser("search", help="find the passages that answer a Bengali question")
    search.add_argument("question", nargs="?", help="the question; '-' reads it from standard input")
    search.add_argument("--question-file", default=None, help="read the question from this file instead")
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--model", default=str(MODEL_DIR), help=f"model folder (default: {MODEL_DIR})")
    search.add_argument("--corpus", default=None, help="folder of QA files (default: the prepared passages)")
    search.add_argument("--cache-dir", default=str(SEARCH_CACHE_DIR), help="where corpus embeddings are cached")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "search":
        from banglasim.search.query import run_cli

        return exit_code(lambda: run_cli(args))
    forget_cached_stat(args.params)  # a failed `dvc exp run -S` must not leave git blind to its params (git_index.py)
    module = importlib.import_module(STAGES[args.command][0])  # only the stage that runs is imported
    extra = (args.name,) if args.command == "ingest" else ()
    return exit_code(lambda: module.run(args.params, *extra))


if __name__ == "__main__":
    sys.exit(main())
