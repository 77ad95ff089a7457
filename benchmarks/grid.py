"""Issue 25's grid on the full real data, validation only, resumable: one knob at a time from the default, each
run appended to a committed results file as soon as it ends, so an interrupted grid loses at most the run in
progress and a restart continues from the file.

    python benchmarks/grid.py run [--only REGEX] [--data ../shared/datasets/bangla-factoid-qa]
    python benchmarks/grid.py show            # the results file as a Markdown table, best first
    python benchmarks/grid.py list            # the points and their -S settings

Each point is `dvc exp run --temp -n NAME -S ... train` (the pipeline up to the train stage, in a temporary
copy of HEAD, so no point leaks into the next and the evaluate stage, the only reader of test, never runs),
with `train.evals_per_epoch: 1` (validation MRR@10 at step 0 and at the end, whole corpus, passages by
window). Its figures come from the experiment's own metrics/train.json and run record: validation MRR@10 of
the base (step 0) and of the published step, seconds per step, wall seconds, precision, CPU. The results
file (benchmarks/results/grid25.jsonl) is committed after each run, with nothing else.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

RESULTS = Path("benchmarks/results/grid25.jsonl")
CHEAP = ["train.evals_per_epoch=1"]
POINTS: dict[str, list[str]] = {  # one knob at a time from the default (params.yaml as committed)
    "default": [],
    "bm25-neg-1": ["train.hard_negatives=1", "mine.negatives_from=bm25"],
    "bm25-neg-3": ["train.hard_negatives=3", "mine.negatives_from=bm25"],
    "answer-window": ["train.positive_window=answer"],
    "layers-6": ["model.trainable_layers=6"],
    "layers-12": ["model.trainable_layers=12"],
    "epochs-2": ["train.epochs=2"],
    "epochs-3": ["train.epochs=3"],
    "lr-5e-5": ["train.learning_rate=5e-5"],
    "lr-2e-4": ["train.learning_rate=2e-4"],
    "cached-b64": ["train.loss=cached_mnrl", "train.batch_size=64"],
    "cached-b128": ["train.loss=cached_mnrl", "train.batch_size=128"],
}


def sources(data: Path) -> list[str]:
    """-S settings of the three shared source folders (absolute: the run happens in a temporary copy)."""
    return [f"data.sources.{d}={data.resolve() / d / 'BanQA/data'}" for d in ("D2", "D3", "D4")]


def done(results: Path | None = None) -> dict[str, dict]:
    """The finished runs of the results file, by name."""
    results = results or RESULTS
    if not results.exists():
        return {}
    return {row["name"]: row for row in map(json.loads, results.read_text(encoding="utf-8").splitlines()) if row}


def sh(*cmd: str, capture: bool = False) -> str:
    proc = subprocess.run(cmd, check=True, text=True, capture_output=capture)
    return proc.stdout if capture else ""


def experiment_rev(name: str) -> str:
    """The commit of a finished experiment, by name."""
    for line in sh("git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps", capture=True).splitlines():
        rev, ref = line.split()
        if ref.endswith(f"/{name}"):
            return rev
    raise SystemExit(f"grid: experiment {name} has no ref (see `dvc exp show`)")


def figures(name: str, settings: list[str]) -> dict:
    """One results row from the experiment's metrics/train.json and run record."""
    rev = experiment_rev(name)
    train = json.loads(sh("git", "show", f"{rev}:metrics/train.json", capture=True))
    record = json.loads(sh("git", "show", f"{rev}:reports/run_record.json", capture=True))
    return {
        "name": name,
        "settings": settings,
        "val_mrr_at_10_base": train["val_mrr_at_10_base"],
        "val_mrr_at_10": train["val_mrr_at_10_selected"],
        "steps": train["total_steps"],
        "seconds_per_step": train["seconds_per_step"],
        "wall_seconds": train["wall_seconds"],
        "precision": record.get("precision"),
        "cpu": record.get("cpu") or record.get("device"),
        "experiment": rev,
    }


def run(only: str | None, data: Path) -> None:
    finished = done()
    for name, knobs in POINTS.items():
        if name in finished or (only and not re.search(only, name)):
            continue
        settings = [*knobs, *CHEAP]
        print(f"grid: {name}: {' '.join(settings)}", flush=True)
        args = [a for s in [*sources(data), *settings] for a in ("-S", s)]
        sh("dvc", "exp", "run", "--temp", "-n", name, *args, "train")
        row = figures(name, settings)
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        sh("git", "add", str(RESULTS))
        sh(
            "git",
            "commit",
            "-q",
            "-m",
            f"grid25: {name} (validation MRR@10 {row['val_mrr_at_10']:.4f})",
            "--",
            str(RESULTS),
        )
        print(
            f"grid: {name}: validation MRR@10 {row['val_mrr_at_10']:.4f}, {row['seconds_per_step']} s/step", flush=True
        )


def show() -> None:
    rows = sorted(done().values(), key=lambda r: -r["val_mrr_at_10"])
    print("| run | settings | validation MRR@10 (base) | steps | s/step | wall min | precision |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['name']} | {' '.join(r['settings'])} | {r['val_mrr_at_10']:.4f} ({r['val_mrr_at_10_base']:.4f}) | "
            f"{r['steps']} | {r['seconds_per_step']} | {r['wall_seconds'] / 60:.0f} | {r['precision']} |"
        )
    missing = [n for n in POINTS if n not in done()]
    if missing:
        print(f"\nnot run yet: {', '.join(missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "show", "list"))
    parser.add_argument("--only", default=None, help="run only the points whose name matches this regex")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/bangla-factoid-qa"))
    args = parser.parse_args()
    if args.command == "run":
        run(args.only, args.data)
    elif args.command == "show":
        show()
    else:
        for name, knobs in POINTS.items():
            print(f"{name}: {' '.join([*knobs, *CHEAP]) or '(the default)'}")


if __name__ == "__main__":
    sys.exit(main())
