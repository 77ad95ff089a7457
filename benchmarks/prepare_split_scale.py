"""Benchmark: ingest + prepare + split on 100,000 synthetic QA records across three sources.

Prints wall time and peak memory (max RSS of the stage processes). Not a test: figures only.
    python benchmarks/prepare_split_scale.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "বাংলা নদী শহর মানুষ বই গান খেলা ইতিহাস বিজ্ঞান দেশ গ্রাম চাষ মাছ ভাত আকাশ বৃষ্টি সূর্য চাঁদ পাখি ফুল "
    "স্কুল কলেজ বাজার রাস্তা সেতু নৌকা ট্রেন উৎসব কবিতা ছবি"
).split()


def synth_sources(root: Path, records: int, per_passage: int = 5, seed: int = 0) -> dict[str, str]:
    """Three SQuAD-style source folders holding `records` questions in all."""
    rng = random.Random(seed)
    sources = []
    for s in range(3):
        n_q = records // 3 + (1 if s < records % 3 else 0)
        paragraphs = []
        for p in range(0, n_q, per_passage):
            context = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 160))) + f" {s}-{p}।"
            qas = [
                {
                    "id": f"s{s}-{p}-{q}",
                    "question": " ".join(rng.choice(WORDS) for _ in range(8)) + f" {q}?",
                    "answers": [{"text": context.split()[q], "answer_start": -1}],
                }
                for q in range(min(per_passage, n_q - p))
            ]
            paragraphs.append({"context": context, "qas": qas})
        folder = root / "data" / "raw" / f"S{s}"
        folder.mkdir(parents=True)
        (folder / "qa.json").write_text(
            json.dumps(
                {
                    "version": "synthetic",
                    "data": [{"title": f"t{i}", "paragraphs": [para]} for i, para in enumerate(paragraphs)],
                },
                ensure_ascii=False,
            )
        )
        sources.append(f"data/raw/S{s}")
    return {f"S{i}": folder for i, folder in enumerate(sources)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    try:
        sources = synth_sources(work, args.records)
        params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
        params["data"]["sources"] = sources
        params["prepare"]["num_samples"] = args.records
        (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
        times = {}
        for stage in ("ingest", "prepare", "split"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "banglasim", stage], cwd=work, check=True, stdout=subprocess.DEVNULL)
            times[stage] = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        counts = json.loads((work / "metrics" / "prepare.json").read_text())["total"]
        print(f"records: {counts['questions']:,} questions, {counts['distinct_passages']:,} passages, 3 sources")
        print(
            f"ingest (3 sources): {times['ingest']:.1f} s   prepare: {times['prepare']:.1f} s   "
            f"split: {times['split']:.1f} s   total: {sum(times.values()):.1f} s"
        )
        print(f"peak memory (max RSS of one stage process): {peak_mib:,.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
