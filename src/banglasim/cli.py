"""The one command line: `banglasim <stage>` runs a pipeline stage (dvc.yaml runs `python -m banglasim <stage>`),
`banglasim search` finds passages with the exported model, `banglasim serve` answers over HTTP, `banglasim verify`
checks the export and the index byte by byte."""

from __future__ import annotations

import argparse
import importlib
import sys

from banglasim.config.paths import EXPORT_DIR, INDEX_DIR, PARAMS_FILE, RERANKER_EXPORT_DIR, SEARCH_CACHE_DIR
from banglasim.core.errors import exit_code
from banglasim.core.git_index import forget_cached_stat
from banglasim.stages import STAGES

SEARCH_COMMANDS = {
    "search": "banglasim.search.query",
    "serve": "banglasim.search.serve",
    "verify": "banglasim.search.integrity",
}


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=str(EXPORT_DIR),
        help=f"the export (default: {EXPORT_DIR}) or a Sentence Transformers folder (models/model: slow)",
    )
    parser.add_argument("--index", default=str(INDEX_DIR), help=f"the export's index (default: {INDEX_DIR})")
    parser.add_argument("--corpus", default=None, help="folder of QA files to search instead (embedded once, cached)")
    parser.add_argument("--cache-dir", default=str(SEARCH_CACHE_DIR), help="where --corpus embeddings are cached")
    parser.add_argument(
        "--mode",
        choices=("hybrid", "dense", "bm25"),
        default=None,
        help="rank by the fusion of the model and BM25 (hybrid), the model alone (dense) or BM25 alone "
        "(default: the index's, retrieval.mode in params.yaml: hybrid)",
    )
    parser.add_argument(
        "--reranker",
        default=str(RERANKER_EXPORT_DIR),
        help=f"the re-ranker export (default: {RERANKER_EXPORT_DIR}; used when it exists); '' for none",
    )
    parser.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="re-order the first stage's top passages with the re-ranker (default: its export's, reranker.default)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banglasim", description=__doc__)
    parser.add_argument("--params", default=str(PARAMS_FILE), help=f"params file (default: {PARAMS_FILE})")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, (_, text) in STAGES.items():
        stage = sub.add_parser(command, help=text)
        if command == "ingest":
            stage.add_argument("name", nargs="?", help="the source to ingest (default: every source)")
    search = sub.add_parser("search", help="find the passages that answer a Bengali question (or a file of them)")
    search.add_argument("question", nargs="?", help="the question; '-' reads it from standard input")
    search.add_argument("--question-file", default=None, help="read the question from this file instead")
    search.add_argument(
        "--batch",
        default=None,
        metavar="FILE",
        help="one question per line ('-': standard input) -> one JSON line per question, in order",
    )
    search.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    search.add_argument("--top-k", type=int, default=5)
    add_model_options(search)
    serve = sub.add_parser("serve", help="HTTP JSON API: POST /search {question, top_k}, GET /health")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--quiet", action="store_true", help="do not log each request")
    add_model_options(serve)
    verify = sub.add_parser(
        "verify", help="check every byte of the export and the index against the sizes and hashes they record"
    )
    verify.add_argument("--model", default=str(EXPORT_DIR), help=f"the export (default: {EXPORT_DIR})")
    verify.add_argument("--index", default=str(INDEX_DIR), help=f"its index (default: {INDEX_DIR}); '' skips it")
    verify.add_argument(
        "--reranker",
        default=str(RERANKER_EXPORT_DIR),
        help=f"the re-ranker export (default: {RERANKER_EXPORT_DIR}, when it exists); '' skips it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in SEARCH_COMMANDS:
        module = importlib.import_module(SEARCH_COMMANDS[args.command])
        return exit_code(lambda: module.run_cli(args))
    forget_cached_stat(args.params)  # a failed `dvc exp run -S` must not leave git blind to its params (git_index.py)
    module = importlib.import_module(STAGES[args.command][0])  # only the stage that runs is imported
    extra = (args.name,) if args.command == "ingest" else ()
    return exit_code(lambda: module.run(args.params, *extra))


if __name__ == "__main__":
    sys.exit(main())
