"""The approximate index on synthetic vectors: build time, memory, query latency and recall@10 against exact search.

    PYTHONPATH=src python benchmarks/ann_index.py [--n 1000000] [--dim 384] [--queries 500]
        [--nprobe 8,16,32,64,128,256] [--usearch]   # --usearch: also usearch's HNSW (i8, f16), when installed

The vectors are unit-length points of a Gaussian mixture (n/50 clusters, each point = its centre + noise,
the noise as large as the centres), a crude stand-in for sentence embeddings, which are clustered; uniform
random vectors would have no neighbours worth the name. Queries are data points moved by noise of norm 0.5
(cosine about 0.9 to their origin). Exact top-10 comes from a float32 matrix product over all n. Query
latency is one question at a time (as `serve` asks), p50 over the queries. Memory is the saved index's
size and the process's RSS growth while building. Speed figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from banglasim.search.ann import AnnSettings, FaissIndex
from banglasim.search.engine import approximate_top_k, exact_top_k


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic(n: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), dim), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, dim), dtype=np.float32)
        x[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    noise = (0.5 / np.sqrt(dim)) * rng.standard_normal((n_queries, dim), dtype=np.float32)
    q = x[rng.integers(0, n, n_queries)] + noise
    return x, q / np.linalg.norm(q, axis=1, keepdims=True)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(e[:10])) / 10 for f, e in zip(found, exact)]))


def one_at_a_time(search, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float, float]:
    rows, times = [], []
    for q in queries:
        start = time.perf_counter()
        rows.append(search(q[None, :], k)[0][0])
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return np.array(rows), float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def bench_faiss(x: np.ndarray, q: np.ndarray, exact: np.ndarray, nprobes: list[int]) -> None:
    before = rss_mib()
    start = time.perf_counter()
    index = FaissIndex.build(x, AnnSettings())
    build = time.perf_counter() - start
    grown = rss_mib() - before
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "a.faiss")
        size = (Path(tmp) / "a.faiss").stat().st_size / 2**20
    print(
        f"faiss IVF{AnnSettings().lists_for(len(x))},SQ8: build {build:.1f} s ({len(x) / build:,.0f} vectors/s), "
        f"index file {size:.0f} MiB, RSS +{grown:.0f} MiB while building"
    )
    for nprobe in nprobes:
        index.index.nprobe = nprobe
        rows, p50, p95 = one_at_a_time(index.search, q)
        line = f"  nprobe {nprobe:>3}: recall@10 {recall_at_10(rows, exact):.3f} (p50 {p50:.2f} ms, p95 {p95:.2f} ms)"
        rows, p50, p95 = one_at_a_time(lambda v, k: approximate_top_k(index, x, v, k), q)
        print(
            f"{line}; as search does it (20 candidates re-scored in float32): recall@10 "
            f"{recall_at_10(rows, exact):.3f} (p50 {p50:.2f} ms, p95 {p95:.2f} ms)"
        )


def bench_usearch(x: np.ndarray, q: np.ndarray, exact: np.ndarray) -> None:
    try:
        from usearch.index import Index
    except ImportError:
        print("usearch: not installed, skipped")
        return
    for dtype in ("i8", "f16"):
        index = Index(
            ndim=x.shape[1], metric="cos", dtype=dtype, connectivity=16, expansion_add=64, expansion_search=64
        )
        before = rss_mib()
        start = time.perf_counter()
        index.add(np.arange(len(x)), x)
        build = time.perf_counter() - start
        print(
            f"usearch HNSW M=16 ef_add=64 {dtype}: build {build:.1f} s ({len(x) / build:,.0f} vectors/s), "
            f"RSS +{rss_mib() - before:.0f} MiB"
        )
        for ef in (64, 128):
            index.expansion_search = ef
            rows, p50, p95 = one_at_a_time(lambda v, k, ix=index: (ix.search(v, k).keys[None, :],), q)
            print(f"  ef {ef:>3}: recall@10 {recall_at_10(rows, exact):.3f}, query p50 {p50:.2f} ms, p95 {p95:.2f} ms")
        del index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--nprobe", default="8,16,32,64,128,256")
    parser.add_argument("--usearch", action="store_true", help="also measure usearch's HNSW (if installed)")
    args = parser.parse_args()
    start = time.perf_counter()
    x, q = synthetic(args.n, args.dim, args.queries)
    print(
        f"{args.n:,} x {args.dim} synthetic unit vectors ({x.nbytes / 2**20:.0f} MiB float32), {args.queries} "
        f"queries, {os.cpu_count()} cpus; generated in {time.perf_counter() - start:.1f} s"
    )
    exact = np.concatenate([exact_top_k(x, q[i : i + 50], 10)[0] for i in range(0, len(q), 50)])
    _, p50, p95 = one_at_a_time(lambda v, k: exact_top_k(x, v, k), q[:50])
    print(f"exact search (float32 matrix product): query p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    bench_faiss(x, q, exact, [int(v) for v in args.nprobe.split(",")])
    if args.usearch:
        bench_usearch(x, q, exact)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {time.perf_counter() - start:.0f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
