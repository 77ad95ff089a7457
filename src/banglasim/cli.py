"""Command line: `banglasim <stage>` runs one pipeline stage (as dvc.yaml does with `python -m banglasim.<stage>`),
`banglasim search` finds passages with the trained model."""

from __future__ import annotations

import argparse
import importlib
import sys

from banglasim.errors import exit_code
from banglasim.paths import MODEL_DIR, PARAMS_FILE, SEARCH_CACHE_DIR

# command -> (module, help); each module has run(params_path[, name])
STAGES = {
    "check-params": ("check_params", "validate the whole params file (the first stage)"),
    "base-model": ("base_model", "materialise model.name into models/base/"),
    "ingest": ("ingest", "read one source folder of data.sources (all when no NAME is given)"),
    "prepare": ("prepare", "merge the ingested sources, write data/prepared/"),
    "split": ("split", "train/validation/test split, write data/splits/"),
    "mine": ("mine", "hard negatives for train.hard_negatives, write data/mined/"),
    "train": ("train", "fine-tune models/base, write models/model/ and dvclive/"),
    "evaluate": ("evaluate", "base vs tuned metrics on test and validation, write metrics/evaluate.json"),
}


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
        from banglasim.search import run_cli

        return exit_code(lambda: run_cli(args))
    module = importlib.import_module(f"banglasim.{STAGES[args.command][0]}")  # only the stage that runs is imported
    extra = (args.name,) if args.command == "ingest" else ()
    return exit_code(lambda: module.run(args.params, *extra))


if __name__ == "__main__":
    sys.exit(main())
