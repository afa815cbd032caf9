"""Files every package writes and reads: whole files out, JSON objects in.

Readers only ever see a whole file: a write that fails or is killed leaves at most a hidden
temporary file next to the target (removed on failure), and a file that was already at the target
stays untouched until the new one is complete. Folders are replaced the same way
(`atomic_folder`, `replace_folder`, `place_folder`, `remove_folder`). This is the one place that
renames; every package may import it (docs/ARCHITECTURE.md, "Packages").
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path


class UnreadableFile(ValueError):
    """A file that should hold a JSON object cannot be read as one; the message names it."""


@contextlib.contextmanager
def atomic_output(out: Path, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `out`; on success it replaces `out`, on error it is removed.

    The temporary file lives in the same folder so that the final rename never crosses file
    systems, which is what makes it atomic. `sync` puts the data on disk before the name (off
    only for small files that are cheap to make again, such as caches).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if sync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; on success it takes `out`'s place, on error
    it is removed and `out` is left as it was.

    A folder cannot be renamed onto a full one, so an old `out` is first renamed aside, then the
    new one into place, then the old one removed: a reader finds the old folder or the new one,
    never a mix, and a process killed between the two renames leaves the old folder whole under
    its hidden name (`replace_folder` says which).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(source: Path, out: Path) -> None:
    """Put the finished folder `source` at `out` (same file system), replacing what is there:
    the old one is renamed aside (`.NAME.old-*`) before the new one takes its name."""
    source, out = Path(source), Path(out)
    aside = None
    if out.exists():
        aside = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        out.rename(aside)
    source.rename(out)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def place_folder(source: Path, out: Path) -> bool:
    """Give the finished folder `source` the name `out` unless something already has it (then
    `source` stays); True when it was placed. For names that must never be replaced: a published
    version, a cache entry another process made at the same moment."""
    source, out = Path(source), Path(out)
    if out.exists():
        return False
    try:
        source.rename(out)
    except OSError:
        if out.exists():
            return False
        raise
    return True


def remove_folder(path: Path) -> None:
    """Remove a folder so that it is never seen half deleted: renamed to a hidden name first."""
    path = Path(path)
    doomed = path.with_name(f".deleting-{path.name}-{time.time_ns()}")
    path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def write_text_atomic(path: Path, text: str, *, sync: bool = True) -> Path:
    """Write `text` (UTF-8) to `path` so that readers see the old file or the new, never half."""
    with atomic_output(path, sync=sync) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: Path, data: object, *, sync: bool = True) -> Path:
    """`data` as indented JSON, written atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", sync=sync)


def read_json_object(
    path: Path, *, advice: str = "", error: type[Exception] = UnreadableFile
) -> dict:
    """The JSON object in `path`, or `error` naming the file (plus `advice`, if given).

    A package raises its own error type (export passes ConvertError), so that its callers keep
    one `except` for everything that went wrong in that package.
    """
    suffix = f"; {advice}" if advice else ""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{path} is not readable JSON ({exc}){suffix}.") from exc
    if not isinstance(data, dict):
        raise error(f"{path} should hold a JSON object{suffix}.")
    return data


def read_json_if_valid(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing or damaged.

    For caches, saved results and optional side files, which are made again (or done without)
    when they cannot be read.
    """
    try:
        return read_json_object(path) if Path(path).is_file() else None
    except UnreadableFile:
        return None


def is_disk_full(exc: BaseException) -> bool:
    """The error says the disk (or the file system holding the workspace) has no room left."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "database or disk is full" in str(exc)
