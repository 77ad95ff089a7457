"""The run record: software versions, device, precision, wall time and data counts of one training run."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from banglasim.config.params import Params
from banglasim.config.paths import PREPARE_METRICS, SPLIT_METRICS

PACKAGES = ("torch", "transformers", "sentence-transformers", "datasets", "accelerate", "dvc", "dvclive", "numpy")


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict:
    if torch.cuda.is_available():
        return {
            "device": torch.cuda.get_device_name(0),
            "cuda": torch.version.cuda or "unknown",
            "gpus": torch.cuda.device_count(),
        }
    return {"device": f"CPU: {cpu_name()}", "cuda": "none", "cpu_threads": torch.get_num_threads()}


def data_counts() -> dict:
    """Totals written by prepare and split (empty where a file is missing)."""
    counts: dict = {}
    for name, path in (("prepare", PREPARE_METRICS), ("split", SPLIT_METRICS)):
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            counts[name] = data.get("total", data)
    return counts


def code_revision() -> str:
    """The git commit of the code, with `+changes` when the working tree differs from it ('unknown' without git)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if rev.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def build_run_record(params: Params, **run: object) -> dict:
    """Everything a reviewer needs to trust a run: versions, device, code revision, params, data counts."""
    versions = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "versions": versions,
        **device_info(),
        **run,
        "code_revision": code_revision(),
        "params": params.as_dict(),
        "data": data_counts(),
    }
