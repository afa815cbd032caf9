"""What a Hugging Face folder cannot say about itself: facts kept from the GGUF it was made from.

When slmtui dequantizes a GGUF base into a Hugging Face folder for training, the llama.cpp
pre-tokenizer name (`tokenizer.ggml.pre`) is lost: tokenizer.json describes the pre-tokenizer as
a regex pipeline, not by name, and guessing the name wrong changes how llama.cpp splits text. We
keep it in `slmtui-source.json` inside the folder, and the GGUF writer copies it back.
"""

from __future__ import annotations

from pathlib import Path

from slmtui.export.errors import ConvertError
from slmtui.files import read_json_object, write_json_atomic

SOURCE_FILE = "slmtui-source.json"


def write_source_info(folder: Path, pre: str) -> Path:
    """Record the source GGUF's pre-tokenizer name in `folder` (written atomically)."""
    if not isinstance(pre, str) or not pre:
        raise ValueError(f"pre-tokenizer name must be a non-empty string, got {pre!r}")
    path = Path(folder) / SOURCE_FILE
    return write_json_atomic(path, {"tokenizer_pre": pre})


def read_source_info(folder: Path) -> dict:
    """The recorded facts ({} when the folder has none); `tokenizer_pre` is the one used now."""
    path = Path(folder) / SOURCE_FILE
    if not path.is_file():
        return {}
    return read_json_object(path, advice="delete it or fix it", error=ConvertError)
