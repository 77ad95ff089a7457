"""Precision resolution on CPU."""

from __future__ import annotations

import pytest
import torch

from banglasim.core.errors import UserError
from banglasim.training.precision import resolve_precision


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU behaviour")
def test_resolve_precision_on_cpu(monkeypatch):
    import banglasim.training.precision as precision_mod

    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(UserError, match="train.precision"):
        resolve_precision("fp16")
