"""Shrinking a GGUF with llama.cpp's own quantizer, through llama-cpp-python.

K-quants (Q4_K_M, Q5_K_M) are what people run on laptops, and only llama.cpp implements them, so
we call its quantizer rather than reimplementing it. llama_cpp is imported only when a
quantization runs: loading its native library is not free, and most of slmtui never needs it.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from slmtui.export.errors import ConvertError
from slmtui.files import atomic_output

# Names people know -> llama.cpp's file types (llama_ftype).
FTYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "Q4_0": 2,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q4_K_M": 15,
    "Q5_K_M": 17,
    "Q6_K": 18,
    "BF16": 32,
}


def quantize_gguf(src: Path, dst: Path, quant: str, *, threads: int = 0) -> Path:
    """Write `src` (an F32/F16/BF16 GGUF) quantized to `quant` at `dst`; returns `dst`.

    `threads` 0 lets llama.cpp use every core. Rows too narrow for a K-quant block fall back to
    another type inside llama.cpp (SmolLM2's 576-wide rows do). `dst` changes only on success.
    """
    src, dst = Path(src), Path(dst)
    ftype = FTYPES.get(quant.upper())
    if ftype is None:
        raise ConvertError(f"Unknown quantization {quant!r}; choose one of {', '.join(FTYPES)}.")
    if not src.is_file():
        raise ConvertError(f"Cannot quantize {src}: there is no such file.")
    if src.resolve() == dst.resolve():
        raise ConvertError("Quantizing a GGUF onto itself is not possible; choose another name.")
    try:
        import llama_cpp
    except ImportError as exc:  # the native library may also fail to load
        raise ConvertError(
            f"llama-cpp-python is not usable here ({exc}); run `make setup` to install it."
        ) from exc
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    with atomic_output(dst) as tmp:
        code = llama_cpp.llama_model_quantize(
            str(src).encode(), str(tmp).encode(), ctypes.byref(params)
        )
        if code != 0 or not tmp.is_file():
            raise ConvertError(
                f"llama.cpp could not quantize {src.name} to {quant.upper()} (code {code}); "
                "check that it is a complete GGUF model (not an adapter) in F32, F16 or BF16."
            )
    return dst
