"""Bounded load on `banglasim serve`: N concurrent keep-alive clients x M requests, with idle connections held open.

    PYTHONPATH=src python benchmarks/serve_load.py --model models/export --index models/index \
        [--clients 8] [--requests 100] [--idle 50] [--questions FILE]

Starts `python -m banglasim serve --port 0 --quiet` on 127.0.0.1, asks every question once from one client (the
reference answers), then opens --idle connections that send nothing and runs --clients threads, each asking
--requests questions in turn over one keep-alive connection. Prints p50/p95 latency, the throughput, the
server's RSS before and after, and how many answers differed from the reference (should be 0). Questions: one
per line of --questions, else a built-in Bengali list. The server is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
QUESTIONS = [
    "পদ্মা সেতু কবে চালু হয়?",
    "বাংলাদেশের রাজধানী কোথায়?",
    "রবীন্দ্রনাথ ঠাকুর কবে নোবেল পুরস্কার পান?",
    "সুন্দরবন কোথায় অবস্থিত?",
    "বাংলা ভাষা আন্দোলন কোন সালে হয়েছিল?",
    "চাঁদ পৃথিবী থেকে কত দূরে?",
    "বাংলাদেশের জাতীয় ফুল কী?",
    "মুক্তিযুদ্ধ কত সালে শুরু হয়?",
]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ask(conn: http.client.HTTPConnection, question: str, top_k: int = 5) -> tuple[int, dict, float]:
    body = json.dumps({"question": question, "top_k": top_k}, ensure_ascii=False).encode()
    start = time.perf_counter()
    conn.request("POST", "/search", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    return resp.status, answer, time.perf_counter() - start


def start_server(model: str, index: str) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "banglasim", "serve", "--model", model, "--index", index, "--port", "0", "--quiet"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in range(2)]
    if not lines[1].startswith("serving on http://"):
        proc.kill()
        sys.exit(f"serve did not start: {lines} {proc.stderr.read()}")
    return proc, int(lines[1].split()[2].rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/export")
    parser.add_argument("--index", default="models/index")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--questions", default=None, help="one question per line (default: a built-in list)")
    args = parser.parse_args()
    questions = QUESTIONS
    if args.questions:
        questions = [q for q in Path(args.questions).read_text(encoding="utf-8").splitlines() if q.strip()]
    proc, port = start_server(args.model, args.index)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        reference = {q: ask(conn, q)[1] for q in questions}
        conn.close()
        rss_before = rss_mib(proc.pid)
        idle = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(args.idle)]
        latencies: list[float] = []
        differ, errors = [0], []

        def client(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for i in range(args.requests):
                    question = questions[(n + i) % len(questions)]
                    status, answer, took = ask(conn, question)
                    latencies.append(took)
                    differ[0] += status != 200 or answer != reference[question]
            except Exception as exc:  # noqa: BLE001 - counted and printed, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rss_after = rss_mib(proc.pid)
        for sock in idle:
            sock.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else float("nan")
    print(
        f"{args.clients} clients x {args.requests} requests, {args.idle} idle connections, {len(questions)} questions"
    )
    print(f"latency p50 {statistics.median(ms) if ms else float('nan'):.0f} ms, p95 {p95:.0f} ms")
    print(f"throughput {len(ms) / wall:.1f} requests/s over {wall:.1f} s")
    print(f"server RSS {rss_before:.0f} MiB before the load, {rss_after:.0f} MiB after")
    print(f"answers differing from the single-client ones: {differ[0]}; client errors: {len(errors)}")
    for line in errors[:5]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
