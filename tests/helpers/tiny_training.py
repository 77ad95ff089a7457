"""A few optimizer steps of a tiny Sentence Transformer on (question, passage) pairs, for the training tests."""

from __future__ import annotations

import torch


def features(model, texts: list[str]) -> dict[str, torch.Tensor]:
    """The model's tokenised inputs for `texts` (tensors only)."""
    feats = model[0].preprocess(texts)
    return {k: v for k, v in feats.items() if isinstance(v, torch.Tensor)}


def step_losses(
    model, loss_fn, opt: torch.optim.Optimizer, pairs: list[tuple[str, str]], steps: int, batch: int
) -> list[float]:
    """The loss of each of `steps` optimizer steps on batches of `batch` pairs (passages recur across steps)."""
    losses = []
    for step in range(steps):
        chosen = [pairs[(step + j) % len(pairs)] for j in range(batch)]
        value = loss_fn([features(model, [q for q, _ in chosen]), features(model, [p for _, p in chosen])], None)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses
