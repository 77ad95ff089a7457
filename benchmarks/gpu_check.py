"""The train stage on whatever accelerator this machine has: each case passes or fails, with its steps/s.

Cases: the tiny random BERT and all-MiniLM-L6-v2, each with the frozen-prefix cache on and off, in every
precision the device offers (CUDA: bf16 where supported, and fp16; CPU: fp32), and two-GPU DDP
(`train.processes: 2`) when two GPUs are present. Each case runs the real stage
(`python -m banglasim.training.train`) in a throw-away copy of the pipeline on the sample data (~20 steps), so
what passes here is what `dvc repro` runs. Made for a GPU machine (under 5 minutes there); on a CPU-only
machine it runs the CPU cases. Usage: bash benchmarks/gpu_check.sh [--steps-pairs 320]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_model(dest: Path) -> Path:
    """A 4-layer, 32-dim random BERT over the sample data's characters (the tests' tiny model)."""
    sys.path.insert(0, str(REPO / "tests" / "helpers"))
    from repo_helpers import build_tiny_model

    return build_tiny_model(dest)


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def prepare_workspace(root: Path, pairs: int) -> tuple[Path, dict]:
    """A copy of src/, params and the sample data, with ingest, prepare and split done once."""
    work = root / "work"
    shutil.copytree(REPO / "src", work / "src")
    shutil.copytree(REPO / "data/raw/sample", work / "data/raw/sample")
    shutil.copy(REPO / "params.yaml", work / "params.yaml")
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    edit(
        work,
        prepare__num_samples=pairs,
        train__evals_per_epoch=1,
        train__epochs=1,
        train__warmup_ratio=0.1,
        train__warmup_steps=None,
        evaluate__bootstrap_samples=0,
    )
    for stage in ("ingest", "prepare", "split"):
        proc = run([sys.executable, "-m", "banglasim", stage], work, env)
        if proc.returncode:
            sys.exit(f"setup failed at {stage}:\n{proc.stderr[-3000:]}")
    return work, env


def edit(work: Path, **changes) -> None:
    params = yaml.safe_load((work / "params.yaml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, name = key.split("__", 1)
        params[section][name] = value
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")


def case(work: Path, env: dict, model: str, max_len: int, cache: bool, precision: str, processes: int) -> dict:
    """One train-stage run; pass = exit 0, finite metrics, a published model."""
    edit(
        work,
        model__name=model,
        model__max_seq_length=max_len,
        train__cache_frozen=cache,
        train__precision=precision,
        train__processes=processes,
    )
    shutil.rmtree(work / ".checkpoints", ignore_errors=True)
    shutil.rmtree(work / "models/model", ignore_errors=True)
    for stage in ("base-model", "mine"):
        proc = run([sys.executable, "-m", "banglasim", stage], work, env)
        if proc.returncode:
            return {"ok": False, "why": f"{stage}: {proc.stderr.strip().splitlines()[-1:]}"}
    started = time.perf_counter()
    proc = run([sys.executable, "-m", "banglasim", "train"], work, env)
    wall = time.perf_counter() - started
    if proc.returncode:
        return {"ok": False, "why": (proc.stderr.strip().splitlines() or ["?"])[-1][:200], "wall": wall}
    record = json.loads((work / "reports/run_record.json").read_text())
    live = json.loads((work / "dvclive/metrics.json").read_text())
    finite = all(math.isfinite(v) for v in live.values() if isinstance(v, (int, float)))
    steps = json.loads((work / "metrics/train.json").read_text())["total_steps"]
    return {
        "ok": finite and (work / "models/model/model.safetensors").exists(),
        "why": "" if finite else "NaN metric",
        "steps_per_s": steps / record["wall_seconds"],
        "precision": record["precision"],
        "wall": wall,
        "cache": record["frozen_cache"] is not None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=360, help="sample pairs (about 20 training steps at batch 16)")
    args = parser.parse_args()
    import torch

    gpus = torch.cuda.device_count()
    precisions = (["bf16"] if gpus and torch.cuda.is_bf16_supported() else []) + ["fp16"] if gpus else ["fp32"]
    print(
        f"device: {torch.cuda.get_device_name(0) if gpus else 'CPU only'} ({gpus} GPU(s)); "
        f"torch {torch.__version__}; precisions: {', '.join(precisions)}"
    )
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        work, env = prepare_workspace(root, args.pairs)
        models = [("tiny", str(tiny_model(root / "tiny")), 64), ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2", 256)]
        cases = [
            (label, name, n, cache, p, 1) for label, name, n in models for cache in (True, False) for p in precisions
        ]
        if gpus >= 2:
            cases += [(label, name, n, True, precisions[0], 2) for label, name, n in models]
        failed = 0
        for label, name, max_len, cache, precision, processes in cases:
            result = case(work, env, name, max_len, cache, precision, processes)
            failed += not result["ok"]
            what = f"{label:17s} cache {'on ' if cache else 'off'} {precision:4s} x{processes}"
            if result["ok"]:
                print(
                    f"PASS  {what}  {result['steps_per_s']:.2f} steps/s ({result['wall']:.0f} s with start-up)",
                    flush=True,
                )
            else:
                print(f"FAIL  {what}  {result['why']}", flush=True)
        print(f"{len(cases) - failed} of {len(cases)} cases passed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
