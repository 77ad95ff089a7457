"""Mixed precision: which one a run uses on this machine."""

from __future__ import annotations

from pathlib import Path

import torch

from banglasim.core.errors import UserError


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """'auto': bf16 on CUDA where supported, else fp16; on CPU bf16 autocast where it has bf16 units, else fp32."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "bf16" if cpu_has_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise UserError(
            "param train.precision = 'fp16' needs a CUDA GPU",
            fix="use 'auto', 'fp32' or (on CPUs with bf16 units) 'bf16'",
        )
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise UserError(
            f"param train.precision = 'bf16': this GPU ({torch.cuda.get_device_name(0)}) has no bf16",
            fix="use 'auto' (fp16 there) or 'fp16'",
        )
    return precision
