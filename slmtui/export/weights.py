"""Reading safetensors one tensor at a time, and encoding each for its GGUF slot.

Export runs on the user's machine right after training, often with little memory to spare, so
the whole model is never held at once: we list tensors from the safetensors headers, then read,
convert and write them one by one. Each read opens the file anew, so no memory map (whose
touched pages count against the process) outlives its tensor. numpy has no bfloat16, so BF16
tensors are read as raw 16-bit words and widened to float32 by a shift, without torch.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, quants
from safetensors import safe_open

from slmtui.export.errors import ConvertError

# safetensors dtypes numpy reads directly.
_NUMPY_DTYPES = {"F32", "F16", "F64"}
_HEADER_LIMIT = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: its file, its name there, dtype and shape."""

    name: str
    file: Path
    dtype: str
    shape: tuple[int, ...]


def weight_files(folder: Path, stem: str = "model") -> list[Path]:
    """A model folder's safetensors files: the sharded index's files, or `<stem>.safetensors`."""
    folder = Path(folder)
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConvertError(f"{index} is not a readable safetensors index: {exc!r}") from exc
        files = [folder / name for name in dict.fromkeys(weight_map.values())]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ConvertError(
                f"{folder} is missing weight shards listed in {index.name}: {', '.join(missing)}. "
                "Copy the whole folder again."
            )
        return files
    single = folder / f"{stem}.safetensors"
    if single.is_file():
        return [single]
    pickles = sorted(p.name for p in folder.glob("*.bin"))
    hint = f" (it has {', '.join(pickles)}; slmtui reads only safetensors)" if pickles else ""
    raise ConvertError(
        f"{folder} has no {single.name} or {index.name}{hint}. Save the model with "
        "save_pretrained(), which writes safetensors."
    )


def list_tensors(files: Iterable[Path]) -> list[TensorRef]:
    """Every tensor in `files`, in file order, without reading any data."""
    refs: list[TensorRef] = []
    for path in files:
        _, header = _header(path)
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            refs.append(TensorRef(name, path, entry["dtype"], tuple(entry["shape"])))
    return refs


def read_tensor(ref: TensorRef) -> np.ndarray:
    """The tensor's data as float16/float32/float64 (BF16 widened to float32), in memory."""
    if ref.dtype in _NUMPY_DTYPES:
        stat = ref.file.stat()
        return _open(str(ref.file), stat.st_mtime_ns, stat.st_size).get_tensor(ref.name)
    if ref.dtype == "BF16":
        return _read_bf16(ref)
    raise ConvertError(
        f"Tensor {ref.name!r} in {ref.file.name} is stored as {ref.dtype}; slmtui converts only "
        "F32, F16 and BF16 weights. Save an unquantized (merged) model first."
    )


@functools.lru_cache(maxsize=4)
def _open(path: str, mtime_ns: int, size: int):
    """One open handle per weights file (opening parses the whole header; once is enough).

    The modification time and size are part of the key, so a file rewritten in place is opened
    afresh rather than read through a stale handle.
    """
    return safe_open(path, framework="np")


def _header(path: Path) -> tuple[int, dict]:
    """A safetensors header and its length: an 8-byte little-endian length, then that JSON."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _HEADER_LIMIT:
                raise ValueError(f"header of {length} bytes")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise ConvertError(f"{path} is not a readable safetensors file ({exc}).") from exc
    if not isinstance(header, dict):
        raise ConvertError(f"{path} is not a readable safetensors file.")
    return length, header


def _read_bf16(ref: TensorRef) -> np.ndarray:
    length, header = _header(ref.file)
    start, end = header[ref.name]["data_offsets"]
    count = math.prod(ref.shape)
    if end - start != 2 * count:
        raise ConvertError(f"Tensor {ref.name!r} in {ref.file.name} has a corrupt size.")
    words = np.fromfile(ref.file, dtype="<u2", count=count, offset=8 + length + start)
    return (words.astype(np.uint32) << 16).view(np.float32).reshape(ref.shape)


# --- GGUF side -------------------------------------------------------------------------------

OUTTYPES: dict[str, GGMLQuantizationType] = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "bf16": GGMLQuantizationType.BF16,
    "q8_0": GGMLQuantizationType.Q8_0,
}


def slot_type(gguf_name: str, shape: tuple[int, ...], outtype: str) -> GGMLQuantizationType:
    """The GGUF type of one tensor: norms, biases and every 1-D tensor stay F32.

    llama.cpp computes norms and bias additions in F32 and rounding them buys nothing; a row
    that Q8_0's 32-wide blocks cannot tile is written as F16 instead.
    """
    if len(shape) == 1 or gguf_name.endswith(("_norm.weight", ".bias")):
        return GGMLQuantizationType.F32
    wanted = OUTTYPES[outtype]
    if wanted == GGMLQuantizationType.Q8_0 and shape[-1] % 32:
        return GGMLQuantizationType.F16
    return wanted


def slot_nbytes(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> int:
    if qtype == GGMLQuantizationType.F32:
        return 4 * math.prod(shape)
    if qtype == GGMLQuantizationType.F16:
        return 2 * math.prod(shape)
    return math.prod(quants.quant_shape_to_byte_shape(shape, qtype))


def encode(array: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """`array` as the bytes (or floats) that a GGUF slot of type `qtype` holds."""
    if qtype == GGMLQuantizationType.F32:
        return np.ascontiguousarray(array, dtype=np.float32)
    if qtype == GGMLQuantizationType.F16:
        return np.ascontiguousarray(array, dtype=np.float16)
    return quants.quantize(np.ascontiguousarray(array, dtype=np.float32), qtype)
