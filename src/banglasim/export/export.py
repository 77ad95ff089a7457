"""Stage `export`: models/model -> models/export/, the tuned model as one ONNX graph that runs without torch.

Writes model.onnx (int8 by default: `export.quantize: int8 | fp32`), tokenizer.json (pruned to the
pieces ASCII, Bengali and the prepared corpus's characters can produce: `export.vocab: bengali_latin |
full`), manifest.json (hashes, sizes, prompts, versions) and README.md (a model card for `hf upload`).
The prompts are those the run record says the model was trained with. The folder is replaced as a whole
(a failed export leaves the previous one). Encode with `banglasim.export.runtime.OnnxEncoder`.
"""

from __future__ import annotations

import json

from banglasim.config.params import load_params
from banglasim.config.paths import EXAMPLES_FILE, EXPORT_DIR, MODEL_DIR, PASSAGES_FILE, RUN_RECORD_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.export import build, card, vocab
from banglasim.models.folder import folder_digest
from banglasim.models.loading import load_model, quiet_library_bars, resolve_prompts
from banglasim.models.registry import hub_id


def data_facts(record: dict, passages: list[dict], examples: list[dict]) -> dict:
    """The training data as the card describes it: source names, passages and examples prepared."""
    sources = sorted({e.get("source", "") for e in examples} - {""}) or list(
        record.get("params", {}).get("data", {}).get("sources", {})
    )
    return {"sources": sources, "passages": len(passages), "examples": len(examples)}


def run(params_path: str) -> None:
    quiet_library_bars()
    cfg = load_params(params_path, ("export",)).export
    require_inputs(
        [
            (MODEL_DIR / "modules.json", "train"),
            (RUN_RECORD_FILE, "train"),
            (PASSAGES_FILE, "prepare"),
            (EXAMPLES_FILE, "prepare"),
        ]
    )
    record = json.loads(RUN_RECORD_FILE.read_text(encoding="utf-8"))
    model = load_model(str(MODEL_DIR))
    prompts = record.get("prompts") or resolve_prompts(model, None, None)  # an older record: the model's own
    source_digest = folder_digest(MODEL_DIR)
    passages, examples = atomic.read_jsonl(PASSAGES_FILE), atomic.read_jsonl(EXAMPLES_FILE)
    texts = vocab.corpus_texts([PASSAGES_FILE, EXAMPLES_FILE])
    options = build.ExportOptions(vocab=cfg.vocab, quantize=cfg.quantize)
    with atomic.atomic_dir(EXPORT_DIR) as out:
        try:
            manifest = build.build(model, out, texts, options, prompts, source_digest)
        except vocab.PruneError as exc:
            raise UserError(f"{MODEL_DIR}: {exc}", fix="set export.vocab: full in params.yaml") from None
        base = hub_id(record.get("params", {}).get("model", {}).get("name", "unknown"))
        readme = card.model_card(manifest, base, data_facts(record, passages, examples))
        (out / "README.md").write_text(readme, encoding="utf-8")
        manifest["sizes"]["README.md"] = (out / "README.md").stat().st_size
        build.write_manifest(out, manifest)
    total = sum(p.stat().st_size for p in EXPORT_DIR.iterdir())
    print(
        f"export: {EXPORT_DIR}/ {total / 1e6:.1f} MB ({manifest['quantize']}, opset {manifest['opset']}; "
        f"{manifest['pieces_kept']:,} of {manifest['pieces_total']:,} vocabulary pieces kept)"
    )
