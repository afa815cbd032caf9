"""What a Hugging Face folder cannot say about itself: facts kept from the GGUF it was made from.

When slmtui dequantizes a GGUF base into a Hugging Face folder for training, the llama.cpp
pre-tokenizer name (`tokenizer.ggml.pre`) is lost: tokenizer.json describes the pre-tokenizer as
a regex pipeline, not by name, and guessing the name wrong changes how llama.cpp splits text. We
keep it in `slmtui-source.json` inside the folder, and the GGUF writer copies it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from slmtui.export.files import read_json_object

SOURCE_FILE = "slmtui-source.json"


def write_source_info(folder: Path, pre: str) -> Path:
    """Record the source GGUF's pre-tokenizer name in `folder` (written atomically)."""
    if not isinstance(pre, str) or not pre:
        raise ValueError(f"pre-tokenizer name must be a non-empty string, got {pre!r}")
    path = Path(folder) / SOURCE_FILE
    tmp = path.with_name(f".{SOURCE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"tokenizer_pre": pre}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_source_info(folder: Path) -> dict:
    """The recorded facts ({} when the folder has none); `tokenizer_pre` is the one used now."""
    path = Path(folder) / SOURCE_FILE
    if not path.is_file():
        return {}
    return read_json_object(path, advice="delete it or fix it")
