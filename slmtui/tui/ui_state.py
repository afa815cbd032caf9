"""Choices made inside the app that outlive it (the theme), in `.slmtui/ui.json`.

Kept out of slmtui.toml so the app never rewrites a file the user edits by hand. A choice made
in the app wins over `[ui] theme` until the user picks again; a broken file is ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from slmtui.files import read_json_if_valid, write_json_atomic

FILE_NAME = "ui.json"


@dataclass
class UIState:
    theme: str | None = None

    @classmethod
    def load(cls, state: Path) -> UIState:
        theme = (read_json_if_valid(state / FILE_NAME) or {}).get("theme")
        return cls(theme=theme if isinstance(theme, str) else None)

    def save(self, state: Path) -> None:
        """Written to a temporary name and renamed, like every other slmtui file."""
        write_json_atomic(state / FILE_NAME, asdict(self), sync=False)
