"""Frozen-prefix cache: run the frozen layers once per distinct text, not once per use.

With all but the last k layers frozen, the embeddings and frozen layers map a text to the same
hidden states every time. A passage recurs across its questions and at every evaluation, so we keep
its hidden states after the frozen stack, keyed by its token ids, and push only the trainable
layers through autograd. It patches `auto_model.forward` on the instance (the saved weights are
untouched) and checks itself against the untouched forward on a probe batch before it is used.

What this changes in training: the frozen stack runs in eval mode (no dropout) and in fp32
(autocast off); without the cache it runs in train mode with dropout, under autocast. With dropout 0
and no autocast the per-step losses agree to rounding (tests/test_frozen_cache.py); with dropout > 0
the frozen layers add no noise (the trainable ones still do), and under bf16/fp16 autocast the frozen
matmuls are fp32, so the trainable layers get slightly different (more exact) inputs.

Devices: every tensor the cache receives or makes goes to the model's device (its first parameter's);
the probe comes from the tokenizer on the CPU. States live (unless `store_device` says) on the
model's device, no copies, unless that is a CUDA device and the store is uncapped or its cap is over
a quarter of the free GPU memory: then in host memory, each batch assembled there (pinned) and
copied over once - B x L x H fp32, one activation's worth - leaving GPU memory to activations (an
uncapped corpus is GiBs: ~0.4 MB per 256-token passage at hidden 384). Tested on CPU and torch's
CPU-backed `lazy` device; not on CUDA.

Memory: `max_bytes` caps the bytes of stored states (keys, 0.5% more at hidden 384, are not); least
recently used texts are evicted and recomputed when they come back.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict

import torch
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutput

from banglasim.models.loading import encoder_layers

logger = logging.getLogger(__name__)


class FrozenPrefixCache:
    """Cache hidden states after the frozen layers of a BERT-style encoder, per distinct input (LRU, capped)."""

    def __init__(
        self,
        auto_model: torch.nn.Module,
        trainable_layers: int,
        *,
        max_bytes: int | None = None,
        store_device: str | torch.device | None = None,
    ) -> None:
        self.model = auto_model
        layers = encoder_layers(auto_model)
        self.frozen = list(layers[: len(layers) - trainable_layers])
        self.trainable = list(layers[len(layers) - trainable_layers :])
        self.max_bytes = max_bytes
        self._store_device = torch.device(store_device) if store_device is not None else None
        self.store: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self._nbytes = 0
        self.hits = self.misses = self.evictions = 0

    @staticmethod
    def supports(auto_model: torch.nn.Module, trainable_layers: int) -> bool:
        layers = encoder_layers(auto_model)
        return (
            hasattr(auto_model, "embeddings")
            and isinstance(layers, torch.nn.ModuleList)
            and 0 < trainable_layers < len(layers)
            and not getattr(auto_model.config, "is_decoder", False)
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def store_device(self) -> torch.device:
        """Where states are kept: as given, else the model's device unless that is a GPU without room."""
        if self._store_device is None:
            dev = self.device
            if dev.type == "cuda":
                room = torch.cuda.mem_get_info(dev)[0] // 4
                dev = dev if self.max_bytes is not None and self.max_bytes <= room else torch.device("cpu")
            self._store_device = dev
        return self._store_device

    def install(self, probe_input: dict[str, torch.Tensor] | None = None) -> bool:
        """Patch the forward; with a probe batch, keep the patch only if it matches the original."""
        if probe_input is not None and not self._matches(probe_input):
            logger.warning(
                "frozen-prefix cache disabled: its output differs from %s's own forward", type(self.model).__name__
            )
            return False
        self.model.forward = self.forward
        return True

    def uninstall(self) -> None:
        self.model.__dict__.pop("forward", None)
        self.clear()

    def clear(self) -> None:
        self.store.clear()
        self._nbytes = 0

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def stats(self) -> dict[str, object]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "entries": len(self.store),
            "nbytes": self._nbytes,
            "max_bytes": self.max_bytes,
            "store_device": str(self.store_device),
        }

    def describe(self) -> str:
        cap = " (no cap)" if self.max_bytes is None else f" of {self.max_bytes / 2**20:,.0f} MiB"
        return (
            f"frozen-prefix cache: {self.hits:,} hits / {self.misses:,} misses / {self.evictions:,} evictions, "
            f"{self._nbytes / 2**20:,.0f} MiB{cap}"
        )

    def _put(self, key: bytes, states: torch.Tensor, spares: dict, busy: set[int]) -> torch.Tensor:
        """Store a copy of `states`, evicting least recently used entries to stay under max_bytes.

        The copy goes into an evicted tensor of the same shape when there is one (not one `busy` in
        this batch): fresh allocations amid scattered frees fragment glibc's heap (benchmarks/cache_memory.py:
        peak RSS grew by ~2.5x the cap; with reuse, by the cap plus the batch's temporaries).
        Stored tensors are made outside inference mode even during an evaluation (encode runs under
        `torch.inference_mode`): an inference tensor cannot be reused in place by a later training step.
        """
        size = states.numel() * states.element_size()
        if self.max_bytes is not None and size > self.max_bytes:
            return states  # bigger than the whole cap: not stored
        while self.max_bytes is not None and self._nbytes + size > self.max_bytes:
            _, old = self.store.popitem(last=False)
            self._nbytes -= old.numel() * old.element_size()
            self.evictions += 1
            if id(old) not in busy:
                spares.setdefault(old.shape, []).append(old)
        pool = spares.get(states.shape)
        with torch.inference_mode(False), torch.no_grad():  # stored tensors are normal ones, in any mode
            kept = pool.pop().copy_(states) if pool else states.clone()
        self.store[key] = kept
        self._nbytes += size
        return kept

    def _matches(self, features: dict[str, torch.Tensor]) -> bool:
        was_training = self.model.training
        self.model.eval()
        on_device = {k: v.to(self.device) for k, v in features.items()}
        with torch.no_grad():
            want = type(self.model).forward(self.model, **on_device).last_hidden_state.cpu()
            got = self.forward(**features).last_hidden_state.cpu()
        self.clear()
        self.hits = self.misses = self.evictions = 0
        self.model.train(was_training)
        mask = features["attention_mask"].cpu().bool()
        return bool(torch.allclose(want[mask], got[mask], atol=1e-4, rtol=1e-3))

    def _prefix(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None
    ) -> torch.Tensor:
        """Embeddings and frozen layers on the model's device, without autograd, dropout or autocast."""
        dev = self.device
        modules = [self.model.embeddings, *self.frozen]
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        no_autocast = (
            torch.autocast(dev.type, enabled=False)
            if torch.amp.is_autocast_available(dev.type)
            else contextlib.nullcontext()
        )
        try:
            with torch.inference_mode(False), torch.no_grad(), no_autocast:
                tt = token_type_ids.to(dev) if token_type_ids is not None else None
                hidden = self.model.embeddings(input_ids=input_ids.to(dev), token_type_ids=tt)
                mask = create_bidirectional_mask(
                    config=self.model.config, inputs_embeds=hidden, attention_mask=attention_mask.to(dev)
                )
                for layer in self.frozen:
                    out = layer(hidden, mask)
                    hidden = out[0] if isinstance(out, tuple) else out
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)
        return hidden

    def states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """The frozen prefix path: each row's [length, hidden] fp32 states on the store device.

        The tensors are the store's own, valid until the next call (evicted ones are reused).
        """
        lengths = attention_mask.detach().cpu().sum(dim=1).tolist()
        ids_cpu = input_ids.detach().cpu()
        tt_cpu = token_type_ids.detach().cpu() if token_type_ids is not None else None
        keys = []
        for i, n in enumerate(lengths):
            key = ids_cpu[i, :n].numpy().tobytes()
            if tt_cpu is not None and tt_cpu[i, :n].any():
                key += b"|" + tt_cpu[i, :n].numpy().tobytes()
            keys.append(key)
        found: dict[bytes, torch.Tensor] = {}
        missing: dict[bytes, int] = {}  # key -> first row
        for i, key in enumerate(keys):
            if key in found or key in missing:
                continue
            if key in self.store:
                self.store.move_to_end(key)
                found[key] = self.store[key]
            else:
                missing[key] = i
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            width = max(lengths[i] for i in missing.values())
            sub = torch.tensor(list(missing.values()))
            hidden = self._prefix(
                ids_cpu[sub, :width],
                attention_mask.detach().cpu()[sub, :width],
                tt_cpu[sub, :width] if tt_cpu is not None else None,
            )
            hidden = hidden.to(self.store_device, torch.float32)  # one copy per batch of misses
            spares: dict[torch.Size, list[torch.Tensor]] = {}
            busy = {id(t) for t in found.values()}
            for row, (key, i) in enumerate(missing.items()):
                found[key] = self._put(key, hidden[row, : lengths[i]], spares, busy)
                busy.add(id(found[key]))
        return [found[key] for key in keys]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: object,
    ) -> BaseModelOutput:
        dev = self.device
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        rows = self.states(input_ids, attention_mask, token_type_ids)
        pin = self.store_device.type == "cpu" and dev.type == "cuda"
        hidden = torch.zeros(
            (len(rows), input_ids.shape[1], rows[0].shape[-1]), device=self.store_device, pin_memory=pin
        )
        for i, row in enumerate(rows):
            hidden[i, : row.shape[0]] = row
        hidden = hidden.to(dev, non_blocking=pin)
        mask = create_bidirectional_mask(
            config=self.model.config, inputs_embeds=hidden, attention_mask=attention_mask.to(dev)
        )
        for layer in self.trainable:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return BaseModelOutput(last_hidden_state=hidden)
