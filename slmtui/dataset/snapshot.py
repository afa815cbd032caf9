"""A dataset snapshot on disk: train.jsonl, val.jsonl and manifest.json, and its hash.

Each file is written atomically, the manifest last, so a snapshot with a manifest is whole. The
hash over its example lines is the identity of the snapshot a training run used.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from slmtui.config import DatasetConfig
from slmtui.dataset.example import Example
from slmtui.files import read_json_if_valid, write_json_atomic, write_text_atomic

# Bump when the layout of an example line changes (2: the ID is `id`, was `chunk`).
FORMAT_VERSION = 2


class DatasetError(RuntimeError):
    """A dataset file cannot be read."""


@dataclass(frozen=True)
class DatasetBuild:
    """One written dataset snapshot: its folder, its identity and what it holds."""

    path: Path
    hash: str
    stats: dict

    @property
    def train_path(self) -> Path:
        return self.path / "train.jsonl"

    @property
    def val_path(self) -> Path:
        return self.path / "val.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"


def write_snapshot(
    out_dir: Path,
    examples: list[Example],
    val_examples: list[Example],
    stats: dict,
    config: DatasetConfig,
    generator_key: str | None,
) -> DatasetBuild:
    """train.jsonl, val.jsonl, then manifest.json (each atomically, the manifest last), hashed."""
    train_lines = [example.to_line() for example in examples]
    val_lines = [example.to_line() for example in val_examples]
    digest = hashlib.sha256()
    tagged = [f"train\t{line}" for line in train_lines] + [f"val\t{line}" for line in val_lines]
    for line in sorted(tagged):
        digest.update(line.encode())
        digest.update(b"\n")
    order = ("kinds", "planned", "train", "val", "generated", "cached", "rejected",
             "rejected_reasons", "fallbacks", "pending", "tokens", "train_tokens",
             "val_tokens", "dialogue")  # fmt: skip
    build = DatasetBuild(
        out_dir, digest.hexdigest(), {key: stats[key] for key in order if key in stats}
    )
    manifest = {
        "format": FORMAT_VERSION,
        "hash": build.hash,
        "created_at": time.time(),
        "generator_key": generator_key,
        "config": asdict(config),
        "stats": build.stats,
        "files": {"train": "train.jsonl", "val": "val.jsonl"},
    }
    write_text_atomic(build.train_path, "".join(line + "\n" for line in train_lines))
    write_text_atomic(build.val_path, "".join(line + "\n" for line in val_lines))
    write_json_atomic(build.manifest_path, manifest)
    return build


def read_manifest(folder: Path) -> dict:
    """A snapshot's manifest ({} when it has none or it is damaged)."""
    return read_json_if_valid(Path(folder) / "manifest.json") or {}


def read_examples(path: Path) -> Iterator[Example]:
    """The examples of one JSON-lines file (train.jsonl or val.jsonl), in order."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
            if not isinstance(example, dict):
                raise DatasetError(f"{path}:{number}: an example must be a JSON object")
            yield Example.from_dict(example)
