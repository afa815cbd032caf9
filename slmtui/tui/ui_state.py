"""Choices made inside the app that outlive it (the theme; whether it asked who you are), in
`.slmtui/ui.json`.

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
    identity_asked: bool = False  # "are you X?" is asked once, whatever the answer

    @classmethod
    def load(cls, state: Path) -> UIState:
        data = read_json_if_valid(state / FILE_NAME) or {}
        theme = data.get("theme")
        return cls(
            theme=theme if isinstance(theme, str) else None,
            identity_asked=data.get("identity_asked") is True,
        )

    def save(self, state: Path) -> None:
        """Written to a temporary name and renamed, like every other slmtui file."""
        write_json_atomic(state / FILE_NAME, asdict(self), sync=False)
