"""The re-ranker's ONNX graph: a Sentence Transformers CrossEncoder as (question, passage) pair -> one logit.

Inputs `input_ids`, `attention_mask` and, when the model's tokenizer produces them (BERT; not e5/XLM-R),
`token_type_ids` (int64, [batch, seq]); output `logits` (float32, [batch]): the first logit of the
underlying sequence-classification model, no activation (a sigmoid is monotone, so ranking needs none).
Exported like the bi-encoder (graph.py): TorchScript exporter, opset graph.OPSET, dynamic batch and
sequence axes; int8 through graph.quantize_int8. With a pruned vocabulary the word-embedding matrix keeps
only the rows of the kept pieces, in the order of their new ids.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from sentence_transformers import CrossEncoder

from banglasim.export import graph
from banglasim.export.reranker_runtime import OUTPUT_NAME


def input_names(ce: CrossEncoder) -> tuple[str, ...]:
    """The graph's inputs: input_ids, attention_mask, and token_type_ids when the tokenizer makes them."""
    names = ("input_ids", "attention_mask")
    return (*names, "token_type_ids") if "token_type_ids" in ce.tokenizer.model_input_names else names


def check_exportable(ce: CrossEncoder) -> None:
    """Only a CrossEncoder that is one Transformer module (a sequence-classification model) is exported."""
    kinds = [type(module).__name__ for module in ce]
    if kinds != ["Transformer"] or ce.model is None or not hasattr(ce.model, "get_input_embeddings"):
        raise ValueError(f"cannot export a cross-encoder made of {' -> '.join(kinds)} (only one Transformer module)")


class PairScorer(torch.nn.Module):
    """(input_ids, attention_mask[, token_type_ids]) -> the first logit of each pair, float32 [batch]."""

    def __init__(self, ce: CrossEncoder) -> None:
        super().__init__()
        self.model = ce.model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.model(**kwargs).logits[:, 0].float()


def slice_cross_encoder_embeddings(ce: CrossEncoder, kept_ids: list[int]) -> None:
    """Keep only the word-embedding rows of `kept_ids` (new id i takes old row kept_ids[i]), in place."""
    model = ce.model
    old = model.get_input_embeddings()
    if max(kept_ids) >= old.num_embeddings:
        raise ValueError(f"piece id {max(kept_ids)} has no embedding row ({old.num_embeddings} rows)")
    if len(kept_ids) == old.num_embeddings and kept_ids == list(range(old.num_embeddings)):
        return
    rows = old.weight.detach()[torch.tensor(kept_ids, dtype=torch.long)].clone()
    model.set_input_embeddings(torch.nn.Embedding.from_pretrained(rows, freeze=True))
    model.config.vocab_size = len(kept_ids)


def export_cross_encoder_onnx(ce: CrossEncoder, path: Path, opset: int = graph.OPSET) -> None:
    """Write the fp32 graph of `ce` (pair -> first logit) to `path`."""
    check_exportable(ce)
    ce = ce.to("cpu").eval()
    wrapper = PairScorer(ce).eval()
    names = input_names(ce)
    ids = torch.tensor([[0, 5, 2, 6, 2], [0, 7, 2, 8, 1]], dtype=torch.long)  # a padded batch of two pairs
    ids = ids.clamp(max=ce.model.get_input_embeddings().num_embeddings - 1)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.long)
    types = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 1, 0]], dtype=torch.long)
    args = (ids, mask, types) if "token_type_ids" in names else (ids, mask)
    axes = {name: {0: "batch", 1: "seq"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=list(names),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
