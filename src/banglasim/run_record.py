"""The run record: software versions, device, precision, wall time and data counts of one training run."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

import torch

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
        return {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda or "unknown",
                "gpus": torch.cuda.device_count()}
    return {"device": f"CPU: {cpu_name()}", "cuda": "none", "cpu_threads": torch.get_num_threads()}


def data_counts(metrics_dir: Path = Path("metrics")) -> dict:
    """Totals written by prepare and split (empty where a file is missing)."""
    counts: dict = {}
    for name in ("prepare", "split"):
        path = metrics_dir / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            counts[name] = data.get("total", data)
    return counts


def collect(**run: object) -> dict:
    """Everything a reviewer needs to trust a run; no field is left blank."""
    versions = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"versions": versions, **device_info(), **run, "data": data_counts()}
