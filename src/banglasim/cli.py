"""Command line: `python -m banglasim <stage>` for the DVC stages, plus `search`."""

from __future__ import annotations

import argparse
import sys

from banglasim.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banglasim", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="read the source folders, write data/prepared/")
    sub.add_parser("split", help="train/validation split, write data/splits/")
    sub.add_parser("train", help="fine-tune the model, write models/ and dvclive/")
    sub.add_parser("evaluate", help="base vs tuned metrics, write metrics/evaluate.json")
    search = sub.add_parser("search", help="find the passages that answer a Bengali question")
    search.add_argument("question")
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--model", default="models/model", help="model folder (default: models/model)")
    search.add_argument("--corpus", default=None, help="folder of QA files (default: the prepared passages)")
    search.add_argument("--cache-dir", default=".cache/search", help="where corpus embeddings are cached")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            from banglasim.prepare import run
        elif args.command == "split":
            from banglasim.split import run
        elif args.command == "train":
            from banglasim.train import run
        elif args.command == "evaluate":
            from banglasim.evaluate import run
        else:
            from banglasim.search import run_cli

            return run_cli(args)
        run(args.params)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
