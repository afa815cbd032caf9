"""Choices made inside the app that outlive it (the theme), in `.slmtui/ui.json`.

Kept out of slmtui.toml so the app never rewrites a file the user edits by hand. A choice made
in the app wins over `[ui] theme` until the user picks again; a broken file is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "ui.json"


@dataclass
class UIState:
    theme: str | None = None

    @classmethod
    def load(cls, state: Path) -> UIState:
        try:
            data = json.loads((state / FILE_NAME).read_text(encoding="utf-8"))
            theme = data.get("theme")
            return cls(theme=theme if isinstance(theme, str) else None)
        except (OSError, ValueError, AttributeError):
            return cls()

    def save(self, state: Path) -> None:
        """Written to a temporary name and renamed, like every other slmtui file."""
        state.mkdir(parents=True, exist_ok=True)
        temporary = state / f".{FILE_NAME}.tmp"
        temporary.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(temporary, state / FILE_NAME)
