"""Published model versions under .slmtui/models/: vN folders, their cards, and the active one.

A version is a folder `vN/` holding the GGUF, `card.json` (what it was made from and how well it
did), a `README.md` card for people and an Ollama `Modelfile`. The export job builds the whole
folder under a hidden staging name and renames it into place, so a version either exists whole or
not at all, and only a model that passed verification ever gets a version number. Which version
chat uses is the one line in `models/active`, also replaced atomically; rollback moves it back.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from slmtui.files import (
    place_folder,
    read_json_if_valid,
    remove_folder,
    write_json_atomic,
    write_text_atomic,
)

CARD_NAME = "card.json"
ACTIVE_NAME = "active"
_VERSION = re.compile(r"v(\d+)")


class RegistryError(RuntimeError):
    """A version that does not exist, or an operation the registry refuses; says what to do."""


@dataclass(frozen=True)
class ModelVersion:
    """One published version; `card` is the parsed card.json."""

    name: str  # "v3"
    path: Path
    card: dict

    @property
    def number(self) -> int:
        return int(self.name[1:])

    @property
    def gguf(self) -> Path:
        return self.path / self.card["gguf"]

    @property
    def size_bytes(self) -> int:
        return int(self.card.get("size_bytes", 0))


class ModelRegistry:
    """The versions in one workspace's models folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- reading ---------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """Every published version, oldest first; folders without a readable card are ignored."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if not (path.is_dir() and _VERSION.fullmatch(path.name)):
                continue
            card = read_json_if_valid(path / CARD_NAME)
            if card is None:
                continue
            found.append(ModelVersion(path.name, path, card))
        return sorted(found, key=lambda version: version.number)

    def get(self, name: str) -> ModelVersion:
        name = _normalise(name)
        for version in self.versions():
            if version.name == name:
                return version
        known = ", ".join(v.name for v in self.versions()) or "none yet"
        raise RegistryError(f"There is no model version {name!r} (published: {known}).")

    def active(self) -> ModelVersion | None:
        """The version chat uses, or None before the first export (or if it was deleted)."""
        try:
            name = (self.root / ACTIVE_NAME).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        try:
            return self.get(name)
        except RegistryError:
            return None

    # -- changing --------------------------------------------------------------------------

    def staging(self) -> Path:
        """A fresh hidden folder to build a version in; `publish` renames it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))

    def publish(self, staging: Path, card: dict, *, activate: bool = True) -> ModelVersion:
        """Give a verified staging folder the next version number, atomically, and activate it.

        The card is written into the folder first, so the renamed folder is complete the moment
        it appears. Two exports finishing together cannot take the same number: a rename onto
        an existing version fails and the next number is tried.
        """
        staging = Path(staging)
        if not (staging / card["gguf"]).is_file():
            raise RegistryError(f"{staging} holds no {card['gguf']}; nothing to publish.")
        number = max((v.number for v in self.versions()), default=0)
        for _attempt in range(100):
            number += 1
            name = f"v{number}"
            full_card = {**card, "version": name, "published": time.time()}
            write_json_atomic(staging / CARD_NAME, full_card)
            if not place_folder(staging, self.root / name):
                continue  # another export took this number
            version = ModelVersion(name, self.root / name, full_card)
            if activate:
                self.activate(name)
            return version
        raise RegistryError("Could not find a free version number to publish under.")

    def update_card(self, name: str, **fields: object) -> ModelVersion:
        """Add or replace fields of a version's card (what was learned about it since it was
        published: the blind test's score), written atomically."""
        version = self.get(name)
        card = {**version.card, **fields}
        write_json_atomic(version.path / CARD_NAME, card)
        return ModelVersion(version.name, version.path, card)

    def activate(self, name: str) -> ModelVersion:
        version = self.get(name)
        write_text_atomic(self.root / ACTIVE_NAME, version.name + "\n")
        return version

    def rollback(self) -> ModelVersion:
        """Make the version published before the active one active again."""
        active = self.active()
        if active is None:
            raise RegistryError("No model is active, so there is nothing to roll back from.")
        older = [v for v in self.versions() if v.number < active.number]
        if not older:
            raise RegistryError(f"{active.name} is the oldest version; there is none before it.")
        return self.activate(older[-1].name)

    def delete(self, name: str) -> ModelVersion | None:
        """Remove a version; if it was active, the newest remaining one becomes active.

        Returns the version that is active afterwards (None when no version is left).
        """
        version = self.get(name)
        was_active = (active := self.active()) is not None and active.name == version.name
        remove_folder(version.path)  # never seen half deleted
        remaining = self.versions()
        if not was_active:
            return self.active()
        if remaining:
            return self.activate(remaining[-1].name)
        (self.root / ACTIVE_NAME).unlink(missing_ok=True)
        return None

    def clean_leftovers(self) -> None:
        """Remove staging and deleting folders that a killed export or delete left behind."""
        if not self.root.is_dir():
            return
        for path in self.root.iterdir():
            if path.name.startswith((".staging-", ".deleting-")):
                shutil.rmtree(path, ignore_errors=True)


def _normalise(name: str) -> str:
    name = name.strip()
    return f"v{name}" if name.isdigit() else name
