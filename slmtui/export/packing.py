"""The GGUF writer slmtui uses: gguf's own, with string arrays packed by NumPy.

A tokenizer is two long string arrays (50k-150k tokens, as many merges); gguf's writer packs
every element through a generic Python path, which was a third of a whole export of SmolLM2.
Here the array body (per string: little-endian uint64 length, then its UTF-8 bytes) is built from
one joined buffer with vectorised index arithmetic; the bytes are the same (the parity tests with
llama.cpp's converter compare them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gguf import GGUFEndian, GGUFValueType, GGUFWriter

_SEPARATOR = "\x00"


def pack_strings(items: Sequence[str]) -> bytes | None:
    """GGUF's encoding of a string array's elements, or None when a string holds a NUL byte (the
    separator this relies on; the caller then packs them one by one)."""
    joined = _SEPARATOR.join(items)
    if joined.count(_SEPARATOR) != len(items) - 1:
        return None
    data = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
    is_separator = data == 0
    ends = np.append(np.flatnonzero(is_separator), data.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = (ends - starts).astype("<u8")
    out = np.empty(8 * len(items) + int(lengths.sum()), dtype=np.uint8)
    # Record r starts at 9r + (bytes of strings before it); its length takes 8 bytes, then its
    # text. A text byte at position i of the joined buffer belongs to record r = separators
    # before i, and moves to i - r + 8(r + 1) = i + 7r + 8.
    record_starts = starts - np.arange(len(items)) + 8 * np.arange(len(items))
    out[record_starts[:, None] + np.arange(8)] = lengths.view(np.uint8).reshape(-1, 8)
    text = np.flatnonzero(~is_separator)
    out[text + 7 * np.cumsum(is_separator)[text] + 8] = data[text]
    return out.tobytes()


def pack_array(val: Sequence[Any]) -> tuple[GGUFValueType, bytes] | None:
    """(element type, packed elements) of a uniform array of str, int or float, as gguf would
    write it (int -> INT32, float -> FLOAT32), or None for anything else."""
    first = type(val[0]) if len(val) else None
    if first not in (str, int, float) or not all(type(item) is first for item in val):
        return None
    if first is str:
        body = pack_strings(val)
        return None if body is None else (GGUFValueType.STRING, body)
    if first is int:
        array = np.asarray(val, dtype=np.int64)
        if array.min() < -(2**31) or array.max() >= 2**31:
            return None
        return GGUFValueType.INT32, array.astype("<i4").tobytes()
    return GGUFValueType.FLOAT32, np.asarray(val, dtype="<f4").tobytes()


class PackingGGUFWriter(GGUFWriter):
    """gguf's GGUFWriter, packing large little-endian arrays with NumPy (`pack_array`)."""

    def _pack_val(
        self,
        val: Any,
        vtype: GGUFValueType,
        add_vtype: bool,
        sub_type: GGUFValueType | None = None,
    ) -> bytes:
        packed = None
        if (
            vtype == GGUFValueType.ARRAY
            and sub_type is None
            and self.endianess == GGUFEndian.LITTLE
        ):
            packed = pack_array(val) if isinstance(val, Sequence) and len(val) > 1 else None
        if packed is None:
            return super()._pack_val(val, vtype, add_vtype, sub_type)
        element_type, body = packed
        head = self._pack("I", vtype) if add_vtype else b""
        return head + self._pack("I", element_type) + self._pack("Q", len(val)) + body
