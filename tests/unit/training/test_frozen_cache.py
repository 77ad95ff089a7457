"""FrozenPrefixCache: devices, bounded (LRU) memory, and what the cache changes in training."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from tiny_training import features, step_losses

from banglasim.models.loading import freeze_all_but_last, load_model, transformer_layers
from banglasim.training.frozen_cache import FrozenPrefixCache

PASSAGES = [
    "পদ্মা বাংলাদেশের প্রধান নদীগুলোর একটি",
    "ঢাকা বাংলাদেশের রাজধানী এবং বৃহত্তম শহর। এটি বুড়িগঙ্গা নদীর তীরে অবস্থিত।",
    "সুন্দরবন পৃথিবীর বৃহত্তম ম্যানগ্রোভ বন, যা বাংলাদেশ ও ভারতে বিস্তৃত।",
    "রবীন্দ্রনাথ ঠাকুর",
]
QUESTIONS = ["পদ্মা নদী কোথায়?", "বাংলাদেশের রাজধানী কোথায়?", "ম্যানগ্রোভ বন কোথায়?", "কে?"]
TEXTS = PASSAGES + QUESTIONS + ["পদ্মা নদী কোথায়?"]  # a repeat inside one call


@pytest.fixture
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


# ---------------------------------------------------------------- devices


@pytest.fixture(scope="module")
def lazy_device() -> str:
    """torch's TorchScript lazy-tensor backend: a real non-CPU device type that computes on the CPU.

    A model there rejects CPU inputs the way a CUDA model does, so a CPU-only machine can check that
    the cache moves tensors to the model's device.
    """
    try:
        import torch._lazy.ts_backend

        torch._lazy.ts_backend.init()
        torch.ones(1, device="lazy").cpu()
    except Exception as exc:  # noqa: BLE001 - any failure means the backend is not usable here
        pytest.skip(f"torch lazy backend unavailable: {exc}")
    return "lazy"


@pytest.mark.parametrize("store_device", [None, "cpu"])
def test_cache_moves_cpu_inputs_to_the_models_device(tiny, lazy_device, store_device):
    """The probe (and any batch) comes from the tokenizer on the CPU; the model is elsewhere (a GPU in training).

    Fails on the cache before device handling: the probe's CPU token ids reach the embeddings
    ("Input tensor is not a lazy tensor", on CUDA "Expected all tensors to be on the same device").
    """
    auto = tiny[0].auto_model.eval()
    probe = features(tiny, TEXTS[:4])
    batch = features(tiny, TEXTS)
    with torch.no_grad():
        want = auto(**batch).last_hidden_state
    auto.to(lazy_device)
    seen: list[torch.device] = []

    def record(_module, args, kwargs):
        seen.extend(t.device for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor))

    hooks = [m.register_forward_pre_hook(record, with_kwargs=True) for m in [auto.embeddings, *auto.encoder.layer]]
    kwargs = {"store_device": store_device} if store_device is not None else {}
    cache = FrozenPrefixCache(auto, 2, **kwargs)
    try:
        assert cache.install(probe), "the probe check must pass with the model off the CPU"
        with torch.no_grad():
            from_cpu = auto(**batch).last_hidden_state  # misses: CPU inputs
            from_dev = auto(**{k: v.to(lazy_device) for k, v in batch.items()}).last_hidden_state  # hits
        assert from_cpu.device.type == from_dev.device.type == lazy_device
        assert seen and all(d.type == lazy_device for d in seen), f"devices fed to the layers: {set(seen)}"
        mask = batch["attention_mask"].bool()
        for got in (from_cpu, from_dev):
            torch.testing.assert_close(got.cpu()[mask], want[mask], atol=1e-5, rtol=1e-4)
        assert cache.hits >= len(set(TEXTS)) and cache.misses == len(set(TEXTS))
        assert {t.device.type for t in cache.store.values()} == {store_device or lazy_device}
    finally:
        cache.uninstall()
        for h in hooks:
            h.remove()


# ---------------------------------------------------------------- bounded memory (LRU)


def test_eviction_is_least_recently_used(tiny):
    auto = tiny[0].auto_model.eval()
    a, b, c = (features(tiny, [t]) for t in PASSAGES[:3])
    probe = FrozenPrefixCache(auto, 2)  # unbounded: learn each entry's key and size
    for f in (a, b, c):
        probe.states(**f)
    (ka, sa), (kb, sb), (kc, sc) = ((k, t.numel() * t.element_size()) for k, t in probe.store.items())

    cache = FrozenPrefixCache(auto, 2, max_bytes=max(sa + sb, sa + sc, sb + sc))  # room for any two
    cache.states(**a)
    cache.states(**b)
    cache.states(**a)  # a is now the most recently used
    assert list(cache.store) == [kb, ka]
    cache.states(**c)  # evicts b, the least recently used, not a
    assert list(cache.store) == [ka, kc] and cache.evictions == 1
    cache.states(**b)  # b is computed again; evicts a
    assert list(cache.store) == [kc, kb] and cache.evictions == 2
    assert (cache.hits, cache.misses) == (1, 4)
    assert cache.nbytes == sum(t.numel() * t.element_size() for t in cache.store.values())


def test_store_stays_under_its_cap_and_evicted_texts_give_the_same_embeddings(tiny):
    tiny.eval()
    want = tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True)
    auto = tiny[0].auto_model
    unbounded = FrozenPrefixCache(auto, 2)
    unbounded.states(**features(tiny, TEXTS))
    cap = unbounded.nbytes // 3  # about a third of the distinct texts fit
    cache = FrozenPrefixCache(auto, 2, max_bytes=cap)
    assert cache.install(features(tiny, TEXTS[:4]))
    sizes: list[int] = []
    forward = auto.forward

    def checked(**kw):
        out = forward(**kw)
        sizes.append(cache.nbytes)
        return out

    auto.forward = checked
    try:
        for order, batch in [(slice(None), 3), (slice(None, None, -1), 2), (slice(None), 4)]:
            got = tiny.encode(TEXTS[order], batch_size=batch, convert_to_numpy=True)
            np.testing.assert_allclose(got, want[order], atol=1e-5)
    finally:
        cache.uninstall()
    assert sizes and max(sizes) <= cap
    assert cache.evictions > 0
    assert cache.misses > len(set(TEXTS)), "evicted texts were recomputed"
    assert "forward" not in auto.__dict__


def test_evicted_tensors_are_reused_without_clobbering_rows_of_the_same_batch(tiny):
    """Same-length texts, a cap of two entries, batches of four: hits and new rows are evicted mid-batch."""
    texts = ["পদম", "দপম", "মদপ", "পমদ", "দমপ", "মপদ"]
    stream = [texts[i] for i in (0, 1, 0, 2, 3, 1, 4, 5, 0, 2, 5, 3, 1)] * 2
    tiny.eval()
    want = tiny.encode(stream, batch_size=4, convert_to_numpy=True)
    auto = tiny[0].auto_model
    sizes = {t.numel() * t.element_size() for t in FrozenPrefixCache(auto, 2).states(**features(tiny, texts))}
    assert len(sizes) == 1, "the texts must have one token length"
    cache = FrozenPrefixCache(auto, 2, max_bytes=2 * sizes.pop())
    assert cache.install()
    owners: dict[int, set[bytes]] = {}
    held: list[torch.Tensor] = []  # keeps ids unique while we look
    forward = auto.forward

    def watched(**kw):
        out = forward(**kw)
        for key, t in cache.store.items():
            owners.setdefault(id(t), set()).add(key)
            held.append(t)
        return out

    auto.forward = watched
    try:
        np.testing.assert_allclose(tiny.encode(stream, batch_size=4, convert_to_numpy=True), want, atol=1e-5)
    finally:
        cache.uninstall()
    assert cache.evictions > 0 and len(cache.store) == 0
    assert any(len(keys) > 1 for keys in owners.values()), "an evicted tensor was reused for another text"


def test_an_entry_bigger_than_the_cap_is_not_stored(tiny):
    tiny.eval()
    want = tiny.encode(PASSAGES, convert_to_numpy=True)
    cache = FrozenPrefixCache(tiny[0].auto_model, 2, max_bytes=1)
    assert cache.install()
    try:
        np.testing.assert_allclose(tiny.encode(PASSAGES, convert_to_numpy=True), want, atol=1e-5)
        assert len(cache.store) == 0 and cache.nbytes == 0 and cache.evictions == 0
    finally:
        cache.uninstall()


def test_stats_and_describe(tiny):
    cache = FrozenPrefixCache(tiny[0].auto_model, 1, max_bytes=512 * 2**20)
    cache.hits, cache.misses, cache.evictions = 1234, 567, 89
    line = cache.describe()
    assert line == "frozen-prefix cache: 1,234 hits / 567 misses / 89 evictions, 0 MiB of 512 MiB"
    assert re.search(r", 0 MiB \(no cap\)$", FrozenPrefixCache(tiny[0].auto_model, 1).describe())
    stats = cache.stats()
    assert {k: stats[k] for k in ("hits", "misses", "evictions", "entries", "nbytes", "max_bytes")} == {
        "hits": 1234,
        "misses": 567,
        "evictions": 89,
        "entries": 0,
        "nbytes": 0,
        "max_bytes": 512 * 2**20,
    }


# ---------------------------------------------------------------- what the cache changes in training


def _train_losses(model_dir, use_cache: bool, steps: int = 6) -> tuple[list[float], FrozenPrefixCache | None]:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = load_model(str(model_dir))
    freeze_all_but_last(model, 2)
    auto = model[0].auto_model
    auto.config.hidden_dropout_prob = auto.config.attention_probs_dropout_prob = 0.0
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    cache = None
    if use_cache:
        cache = FrozenPrefixCache(auto, 2)
        assert cache.install(features(model, PASSAGES[:2]))
    torch.manual_seed(0)
    loss_fn = MultipleNegativesRankingLoss(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    pairs = list(zip(QUESTIONS, PASSAGES))
    losses = step_losses(model, loss_fn, opt, pairs, steps, 3)
    if cache is not None:
        cache.uninstall()
    return losses, cache


def test_training_with_and_without_the_cache_gives_the_same_losses_when_dropout_is_zero(tiny_model_dir):
    """With dropout 0 and no autocast, the cache changes nothing but rounding: per-step losses agree to 1e-5 relative.

    With dropout > 0 they differ by design: the cache runs the frozen layers in eval mode (no dropout noise
    there; the trainable layers keep theirs), and under bf16/fp16 autocast it runs them in fp32.
    """
    plain, _ = _train_losses(tiny_model_dir, use_cache=False)
    cached, cache = _train_losses(tiny_model_dir, use_cache=True)
    assert cache.hits > 0, "repeated passages were served from the store"
    assert len(set(np.round(plain, 4))) > 1, "the losses move: the trainable layers are being trained"
    np.testing.assert_allclose(cached, plain, rtol=1e-5, atol=0)


def test_with_dropout_the_cached_frozen_states_are_the_eval_mode_ones(tiny):
    """Dropout on (0.1), train mode: the frozen stack still runs without it, so its states are deterministic."""
    auto = tiny[0].auto_model
    feats = features(tiny, PASSAGES)
    auto.eval()
    with torch.no_grad():
        hidden = auto.embeddings(input_ids=feats["input_ids"], token_type_ids=feats["token_type_ids"])
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(
            config=auto.config, inputs_embeds=hidden, attention_mask=feats["attention_mask"]
        )
        for layer in auto.encoder.layer[:2]:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
    tiny.train()
    cache = FrozenPrefixCache(auto, 2)
    for row, got in enumerate(cache.states(**feats)):
        torch.testing.assert_close(got, hidden[row, : got.shape[0]], atol=1e-6, rtol=1e-5)
    assert auto.training, "the model's train/eval mode is restored"


def test_a_cap_that_evicts_every_step_trains_to_the_same_losses_as_no_cap(tiny_model_dir):
    """Issue 19.1: states stored during an evaluation (encode runs under torch.inference_mode) are inference
    tensors; evicting one during a training step and reusing it crashed ("Inplace update to inference tensor
    outside InferenceMode"). Same-length texts so every evicted tensor fits the next miss; a cap of two entries.
    """
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    texts = ["পদম", "দপম", "মদপ", "পমদ", "দমপ", "মপদ"]
    pairs = list(zip(texts[:3], texts[3:]))

    def losses(cap_entries: int | None) -> tuple[list[float], FrozenPrefixCache]:
        model = load_model(str(tiny_model_dir))
        freeze_all_but_last(model, 2)
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        auto = model[0].auto_model
        size = FrozenPrefixCache(auto, 2).states(**features(model, texts[:1]))[0]
        cap = None if cap_entries is None else cap_entries * size.numel() * size.element_size()
        cache = FrozenPrefixCache(auto, 2, max_bytes=cap)
        assert cache.install(features(model, texts[:2]))
        torch.manual_seed(0)
        loss_fn = MultipleNegativesRankingLoss(model)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        out = []
        try:
            for step in range(6):
                model.encode(texts)  # the evaluation before each step: inference mode, fills the store
                model.train()
                batch = [pairs[(step + j) % len(pairs)] for j in range(3)]
                loss = loss_fn([features(model, [q for q, _ in batch]), features(model, [p for _, p in batch])], None)
                opt.zero_grad()
                loss.backward()
                opt.step()
                out.append(loss.item())
        finally:
            cache.uninstall()
        return out, cache

    uncapped, free = losses(None)
    capped, tight = losses(2)
    assert free.evictions == 0 and tight.evictions >= 6, (free.describe(), tight.describe())
    assert len(set(np.round(uncapped, 4))) > 1, "the losses move"
    np.testing.assert_allclose(capped, uncapped, rtol=1e-5, atol=0)


# ---------------------------------------------------------------- which prefixes, same embeddings, gradients


def test_frozen_cache_supports_only_a_proper_frozen_prefix(tiny):
    auto = tiny[0].auto_model
    assert FrozenPrefixCache.supports(auto, 1)
    assert FrozenPrefixCache.supports(auto, 3)
    assert not FrozenPrefixCache.supports(auto, 4)  # nothing frozen: nothing to cache
    assert not FrozenPrefixCache.supports(auto, 0)


@pytest.mark.parametrize("trainable", [1, 2])
def test_frozen_cache_gives_the_same_embeddings_and_serves_repeats_from_the_store(tiny, trainable):
    tiny.eval()
    want = tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True)
    auto = tiny[0].auto_model
    cache = FrozenPrefixCache(auto, trainable)
    probe = tiny[0].preprocess(TEXTS[:4])
    probe = {k: v for k, v in probe.items() if isinstance(v, torch.Tensor)}
    assert cache.install(probe)
    assert cache.store == {}, "the probe leaves nothing behind"
    try:
        misses0 = cache.misses
        got = tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True)
        np.testing.assert_allclose(got, want, atol=1e-5)
        hits, misses = cache.hits, cache.misses
        assert misses - misses0 == len(set(TEXTS)), "each distinct text runs the frozen layers once"
        assert len(cache.store) == len(set(TEXTS))
        # Same texts again, batched differently (other padding widths): all from the store.
        again = tiny.encode(TEXTS[::-1], batch_size=2, convert_to_numpy=True)
        np.testing.assert_allclose(again, want[::-1], atol=1e-5)
        assert cache.hits > hits
        assert cache.misses == misses
        assert cache.nbytes > 0
    finally:
        cache.uninstall()
    assert "forward" not in auto.__dict__
    np.testing.assert_allclose(tiny.encode(TEXTS, batch_size=3, convert_to_numpy=True), want, atol=1e-6)


def test_frozen_cache_trainable_layers_get_gradients_frozen_ones_do_not(tiny):
    auto = tiny[0].auto_model
    freeze_all_but_last(tiny, 2)
    cache = FrozenPrefixCache(auto, 2)
    assert cache.install()
    try:
        tiny.train()
        features = tiny[0].preprocess(TEXTS[:3])
        features = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
        out = tiny(features)["sentence_embedding"]
        out.pow(2).sum().backward()
        layers = transformer_layers(tiny)
        assert all(p.grad is not None for p in layers[3].parameters())
        assert all(p.grad is None for p in layers[0].parameters())
    finally:
        cache.uninstall()
