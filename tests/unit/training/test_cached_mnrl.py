"""Gradient caching (`train.loss: cached_mnrl`) with the frozen-prefix cache: the same training as plain MNRL."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_training import step_losses

from banglasim.config.params import load_params
from banglasim.models.loading import freeze_all_but_last, load_model
from banglasim.training.inputs import make_loss
from banglasim.training.train import install_cache

from repo_helpers import REPO_ROOT

PASSAGES = [
    "পদ্মা বাংলাদেশের প্রধান নদীগুলোর একটি",
    "ঢাকা বাংলাদেশের রাজধানী এবং বৃহত্তম শহর। এটি বুড়িগঙ্গা নদীর তীরে অবস্থিত।",
    "সুন্দরবন পৃথিবীর বৃহত্তম ম্যানগ্রোভ বন, যা বাংলাদেশ ও ভারতে বিস্তৃত।",
    "রবীন্দ্রনাথ ঠাকুর",
    "কাজী নজরুল ইসলাম বাংলাদেশের জাতীয় কবি।",
]
QUESTIONS = ["পদ্মা নদী কোথায়?", "বাংলাদেশের রাজধানী কোথায়?", "ম্যানগ্রোভ বন কোথায়?", "কে?", "জাতীয় কবি কে?"]
TRAINABLE = 2


def train_losses(
    model_dir, loss: str, cache_frozen: bool, steps: int = 6, batch: int = 4, mini_batch: int = 2
) -> tuple[list[float], object]:
    """Per-step losses of a few AdamW steps on (question, passage) batches, dropout 0; passages recur across steps."""
    model = load_model(str(model_dir))
    freeze_all_but_last(model, TRAINABLE)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    tp = replace(
        load_params(REPO_ROOT / "params.yaml", ("train",)).train,
        cache_frozen=cache_frozen,
        loss=loss,
        mini_batch_size=mini_batch,
    )
    cache = install_cache(model, tp, TRAINABLE, [{"anchor": q, "positive": p} for q, p in zip(QUESTIONS, PASSAGES)])
    assert (cache is not None) == cache_frozen, "the cache passed its probe check"
    torch.manual_seed(0)
    loss_fn = make_loss(model, tp.loss, tp.mini_batch_size)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    pairs = list(zip(QUESTIONS, PASSAGES))
    losses = step_losses(model, loss_fn, opt, pairs, steps, batch)
    if cache is not None:
        cache.uninstall()
    return losses, cache


@pytest.mark.parametrize("mini_batch", [1, 3])
def test_cached_mnrl_with_the_frozen_prefix_cache_trains_like_plain_mnrl(tiny_model_dir, mini_batch):
    """Batches of 4 in mini-batches of 1 or 3 (uneven): CachedMultipleNegativesRankingLoss embeds each
    mini-batch twice (without, then with gradients); the frozen-prefix cache serves the second pass from
    its store. Per-step losses (and so the updates) agree with MNRL without either cache to rounding."""
    plain, _ = train_losses(tiny_model_dir, "mnrl", cache_frozen=False)
    cached, cache = train_losses(tiny_model_dir, "cached_mnrl", cache_frozen=True, mini_batch=mini_batch)
    assert len(set(np.round(plain, 4))) > 1, "the losses move: the trainable layers are being trained"
    np.testing.assert_allclose(cached, plain, rtol=1e-5, atol=1e-6)
    stats = cache.stats()
    texts = 6 * 4 * 2  # steps x batch x (question, passage)
    assert stats["misses"] == len(QUESTIONS) + len(PASSAGES), "each distinct text ran the frozen layers once"
    assert stats["hits"] >= texts, "the with-gradient pass (and the recurring texts) came from the store"


def test_cached_mnrl_without_the_frozen_cache_also_matches(tiny_model_dir):
    plain, _ = train_losses(tiny_model_dir, "mnrl", cache_frozen=False)
    cached, _ = train_losses(tiny_model_dir, "cached_mnrl", cache_frozen=False)
    np.testing.assert_allclose(cached, plain, rtol=1e-5, atol=1e-6)
