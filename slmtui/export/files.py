"""Files the exporter reads and writes: JSON objects in, artifacts written atomically out.

Chat and publishing only ever see a whole file: a conversion that fails or is killed leaves at
most a hidden temporary file next to the target (removed on failure), and a file that was already
at the target stays untouched until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from slmtui.export.errors import ConvertError


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary path beside `out`; on success it replaces `out`, on error it is removed.

    The temporary file lives in the same folder so that the final rename never crosses file
    systems, which is what makes it atomic.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # the data must be on disk before the name is
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_json_object(path: Path, *, advice: str = "") -> dict:
    """The JSON object in `path`, or a ConvertError naming the file (plus `advice`, if given)."""
    suffix = f"; {advice}" if advice else ""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConvertError(f"{path} is not readable JSON ({exc}){suffix}.") from exc
    if not isinstance(data, dict):
        raise ConvertError(f"{path} should hold a JSON object{suffix}.")
    return data


def read_json_if_valid(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing or damaged.

    For caches and saved results, which are simply made again when they cannot be read.
    """
    try:
        return read_json_object(path) if Path(path).is_file() else None
    except ConvertError:
        return None
