"""Search latency, one run on one machine: today's path (fp32 Sentence Transformers folder) against the ONNX export.

    PYTHONPATH=src python benchmarks/search_latency.py --st-model models/model --export models/export \
        [--data ../shared/datasets/bangla-factoid-qa] [--passages 2000] [--questions 100] [--cold-runs 3]

In a scratch folder (--work) it writes data/prepared/passages.jsonl (the first --passages passages of --data),
then measures, each path in its own processes:
  - corpus encoding speed (passages/s): the export through the index stage's build (the index its search
    reads), the folder through the search cache (which then serves the cold runs, as a second
    `banglasim search` would find it);
  - cold start: `python -m banglasim search QUESTION --json` from process start to its answer (it exits after
    answering), the median of --cold-runs, with the process's peak RSS;
  - warm per-question latency: one process loads once, then asks --questions real questions one at a time
    (p50, p95), with its peak RSS.
and prints the ratios. Today's `banglasim search` cannot stay loaded (each question is a new process), so
its per-question cost is its cold start; the warm figure of the Sentence Transformers folder is that model
held in one process by the same search code (the export's engine), a model-only comparison.
Speed figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PASSAGES = Path("data/prepared/passages.jsonl")


def child_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return env


def timed_process(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of a child process run to its end."""
    with open(cwd / ".out", "w+b") as out, open(cwd / ".err", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=child_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage (peak RSS), not all children's
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{err.read().decode()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def prepare_workspace(work: Path, data: Path, n_passages: int, n_questions: int) -> list[str]:
    """work/data/prepared/passages.jsonl from --data; returns questions whose passages are in it."""
    sys.path.insert(0, str(SRC))
    from banglasim.core import atomic
    from banglasim.data.sources import merge_sources, read_source

    sources = {d.name: read_source(str(d), d.name, "skip", 10**7) for d in sorted(data.iterdir()) if d.is_dir()}
    passages, examples = merge_sources(sources)
    chosen = [passages[pid] for pid in sorted(passages)][:n_passages]
    ids = {p["passage_id"] for p in chosen}
    questions = [e["query"] for e in examples if e["passage_id"] in ids][:n_questions]
    atomic.write_text(work / "data/prepared/passages.jsonl", atomic.jsonl_text(chosen))
    return questions


def worker(mode: str, model: str, index: str, questions_file: str) -> None:
    """In a child: 'encode' (corpus speed) or 'warm' (per-question latency); prints one JSON line."""
    sys.path.insert(0, str(SRC))
    import numpy as np

    from banglasim.config.paths import PASSAGES_FILE
    from banglasim.core import atomic
    from banglasim.search.query import corpus_embeddings, open_searcher

    if mode == "encode":
        from banglasim.search.encoders import ExportEncoder
        from banglasim.search.query import load_encoder

        encoder = load_encoder(model)
        texts = [p["text"] for p in atomic.read_jsonl(PASSAGES_FILE)]
        start = time.perf_counter()
        if isinstance(encoder, ExportEncoder):  # the index stage's own build: the index the export's search reads
            from banglasim.search.index import build

            build(model, PASSAGES, "models/index")
        else:
            corpus_embeddings(encoder, texts, Path(".cache/search"))
        took = time.perf_counter() - start
        print(json.dumps({"passages": len(texts), "seconds": took}))
        return
    searcher, _ = open_searcher(model, index)
    questions = Path(questions_file).read_text(encoding="utf-8").splitlines()
    searcher.search(questions[:2], 5)  # first calls allocate
    times = []
    for q in questions:
        start = time.perf_counter()
        searcher.search([q], 5)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "questions": len(times),
                "peak_rss_mib": peak,
            }
        )
    )


def measure(name: str, model: Path, work: Path, question: str, cold_runs: int) -> dict:
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    out = timed_process([*me, "encode", str(model), "models/index", "questions.txt"], work)[2]
    enc = json.loads(out.strip().splitlines()[-1])
    cold = [
        timed_process([sys.executable, "-m", "banglasim", "search", question, "--json", "--model", str(model)], work)[
            :2
        ]
        for _ in range(cold_runs)
    ]
    _, _, out = timed_process([*me, "warm", str(model), "models/index", "questions.txt"], work)
    warm = json.loads(out.strip().splitlines()[-1])
    return {
        "path": name,
        "encode_passages_per_s": enc["passages"] / enc["seconds"],
        "cold_s": statistics.median(c[0] for c in cold),
        "cold_peak_rss_mib": max(c[1] for c in cold),
        "warm_p50_ms": warm["p50_ms"],
        "warm_p95_ms": warm["p95_ms"],
        "warm_peak_rss_mib": warm["peak_rss_mib"],
        "questions": warm["questions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--st-model", help="Sentence Transformers folder (today's path)")
    parser.add_argument("--export", help="export folder (model.onnx, tokenizer.json, manifest.json)")
    parser.add_argument("--data", default="../shared/datasets/bangla-factoid-qa", help="dataset root (D2, D3, ...)")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--work", default="/tmp/banglasim-search-latency", help="scratch folder (emptied first)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not args.st_model or not args.export:
        parser.error("--st-model and --export are both needed")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    questions = prepare_workspace(work, Path(args.data), args.passages, args.questions)
    (work / "questions.txt").write_text("\n".join(questions) + "\n", encoding="utf-8")
    (work / "models").mkdir(exist_ok=True)
    export = work / "models" / "export"
    export.symlink_to(Path(args.export).resolve())
    print(f"corpus: {args.passages} passages of {args.data}; {len(questions)} questions; cpus: {os.cpu_count()}")
    rows = [
        measure("sentence-transformers fp32", Path(args.st_model).resolve(), work, questions[0], args.cold_runs),
        measure("export", Path("models/export"), work, questions[0], args.cold_runs),
    ]
    keys = ["encode_passages_per_s", "cold_s", "cold_peak_rss_mib", "warm_p50_ms", "warm_p95_ms", "warm_peak_rss_mib"]
    print(f"{'':28}" + "".join(f"{k:>22}" for k in keys))
    for row in rows:
        print(f"{row['path']:28}" + "".join(f"{row[k]:>22.2f}" for k in keys))
    st, ex = rows
    print(
        f"ratios (today / export): cold start {st['cold_s'] / ex['cold_s']:.1f}x; per question, today's "
        f"`banglasim search` call (a cold start: it cannot stay loaded) / the export loaded once (p50): "
        f"{st['cold_s'] * 1000 / ex['warm_p50_ms']:.0f}x; both loaded once: p50 "
        f"{st['warm_p50_ms'] / ex['warm_p50_ms']:.1f}x, p95 {st['warm_p95_ms'] / ex['warm_p95_ms']:.1f}x; "
        f"cold peak RSS {st['cold_peak_rss_mib'] / ex['cold_peak_rss_mib']:.1f}x; "
        f"encoding speed (export / today) {ex['encode_passages_per_s'] / st['encode_passages_per_s']:.1f}x"
    )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
