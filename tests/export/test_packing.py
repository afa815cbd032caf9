"""The NumPy packing of GGUF arrays writes exactly the bytes gguf's own writer does."""

from __future__ import annotations

import struct

import pytest
from gguf import GGUFValueType, GGUFWriter

from slmtui.export.packing import PackingGGUFWriter, pack_strings

ARRAYS = [
    ["a", "bb", "", "ĠĠ ĠĠ", "東京", "🙂x", "<0x0A>", "[PAD7]"],
    [3, 0, -1, 2**31 - 1, -(2**31)],
    [0.5, -1000.0, 1e-7],
    [1, 2, 2**40],  # too wide for INT32: gguf's path
    ["with\x00nul", "plain"],  # a NUL: gguf's path
    [True, False],
    ["x"],
]


@pytest.mark.parametrize("values", ARRAYS)
def test_same_bytes_as_gguf_writer(values):
    ours, theirs = PackingGGUFWriter(None, "llama"), GGUFWriter(None, "llama")
    if values == [1, 2, 2**40]:  # gguf refuses it, and so do we (through gguf's path)
        for writer in (ours, theirs):
            with pytest.raises(struct.error):
                writer._pack_val(values, GGUFValueType.ARRAY, add_vtype=True)
        return
    want = theirs._pack_val(values, GGUFValueType.ARRAY, add_vtype=True)
    assert ours._pack_val(values, GGUFValueType.ARRAY, add_vtype=True) == want


def test_a_string_with_a_nul_is_left_to_the_slow_path():
    assert pack_strings(["a\x00b", "c"]) is None
    assert pack_strings(["a", "b"]) == b"\x01" + b"\x00" * 7 + b"a" + b"\x01" + b"\x00" * 7 + b"b"
