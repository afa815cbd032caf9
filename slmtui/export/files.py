"""Writing an artifact under a temporary name and renaming it into place.

Chat and publishing only ever see a whole file: a conversion that fails or is killed leaves at
most a hidden temporary file next to the target (removed on failure), and a file that was already
at the target stays untouched until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


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
