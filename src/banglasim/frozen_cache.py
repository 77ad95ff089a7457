"""Frozen-prefix cache: run the frozen layers once per distinct text, not once per use.

With all but the last k layers frozen, the embeddings and frozen layers map a text to the same
hidden states every time (we run them in eval mode: no dropout, a deliberate choice). A passage
recurs across its questions and at every evaluation, so we keep its hidden states after the frozen
stack, keyed by its token ids, and push only the trainable layers through autograd.

It patches `auto_model.forward` on the instance (the saved weights are untouched) and checks
itself against the untouched forward on a probe batch before it is used; a model whose layout it
does not know is left as it is.
"""

from __future__ import annotations

import logging

import torch
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutput

logger = logging.getLogger(__name__)


class FrozenPrefixCache:
    """Cache hidden states after the frozen layers of a BERT-style encoder, per distinct input."""

    def __init__(self, auto_model: torch.nn.Module, trainable_layers: int) -> None:
        self.model = auto_model
        layers = auto_model.encoder.layer
        self.frozen = list(layers[: len(layers) - trainable_layers])
        self.trainable = list(layers[len(layers) - trainable_layers:])
        self.store: dict[bytes, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def supports(auto_model: torch.nn.Module, trainable_layers: int) -> bool:
        layers = getattr(getattr(auto_model, "encoder", None), "layer", None)
        return (
            hasattr(auto_model, "embeddings")
            and isinstance(layers, torch.nn.ModuleList)
            and 0 < trainable_layers < len(layers)
            and not getattr(auto_model.config, "is_decoder", False)
        )

    def install(self, probe_input: dict[str, torch.Tensor] | None = None) -> bool:
        """Patch the forward; with a probe batch, keep the patch only if it matches the original."""
        if probe_input is not None and not self._matches(probe_input):
            logger.warning("frozen-prefix cache disabled: its output differs from %s's own forward",
                           type(self.model).__name__)
            return False
        self.model.forward = self.forward
        return True

    def uninstall(self) -> None:
        self.model.__dict__.pop("forward", None)
        self.store.clear()

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.store.values())

    def _matches(self, features: dict[str, torch.Tensor]) -> bool:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            want = type(self.model).forward(self.model, **features).last_hidden_state
            got = self.forward(**features).last_hidden_state
        self.store.clear()
        self.hits = self.misses = 0
        self.model.train(was_training)
        mask = features["attention_mask"].bool()
        return bool(torch.allclose(want[mask], got[mask], atol=1e-4, rtol=1e-3))

    def _prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None) -> torch.Tensor:
        """Embeddings and frozen layers, without autograd and without dropout."""
        modules = [self.model.embeddings, *self.frozen]
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            # fp32 always (autocast off): cached states serve training and evaluation alike
            with torch.inference_mode(False), torch.no_grad(), torch.autocast(input_ids.device.type, enabled=False):
                input_ids = input_ids.clone()
                attention_mask = attention_mask.clone()
                tt = token_type_ids.clone() if token_type_ids is not None else None
                hidden = self.model.embeddings(input_ids=input_ids, token_type_ids=tt)
                mask = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden,
                                                 attention_mask=attention_mask)
                for layer in self.frozen:
                    out = layer(hidden, mask)
                    hidden = out[0] if isinstance(out, tuple) else out
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)
        return hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: object) -> BaseModelOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        lengths = attention_mask.sum(dim=1).tolist()
        ids_cpu = input_ids.detach().cpu()
        tt_cpu = token_type_ids.detach().cpu() if token_type_ids is not None else None
        keys = []
        for i, n in enumerate(lengths):
            key = ids_cpu[i, :n].numpy().tobytes()
            if tt_cpu is not None and tt_cpu[i, :n].any():
                key += b"|" + tt_cpu[i, :n].numpy().tobytes()
            keys.append(key)
        first_row: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            first_row.setdefault(key, i)
        missing = [i for key, i in first_row.items() if key not in self.store]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            width = max(lengths[i] for i in missing)
            sub = torch.tensor(missing, device=input_ids.device)
            hidden = self._prefix(input_ids[sub, :width], attention_mask[sub, :width],
                                  token_type_ids[sub, :width] if token_type_ids is not None else None)
            for row, i in enumerate(missing):
                self.store[keys[i]] = hidden[row, : lengths[i]].float().clone()
        width = input_ids.shape[1]
        first = self.store[keys[0]]
        hidden = first.new_zeros((len(keys), width, first.shape[-1]))
        for i, key in enumerate(keys):
            hidden[i, : lengths[i]] = self.store[key]
        mask = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in self.trainable:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return BaseModelOutput(last_hidden_state=hidden)
