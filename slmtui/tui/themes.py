"""Colour themes from themes/*.toml, registered with Textual at start.

A theme file holds the same names as Textual's Theme (primary, background, ...), so a user can
copy one, change colours and drop it next to the others.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

THEMES_DIR = Path(__file__).resolve().parents[2] / "themes"
_FIELDS = (
    "primary", "secondary", "accent", "warning", "error", "success",
    "foreground", "background", "surface", "panel", "boost", "dark",
)  # fmt: skip


def load_themes(folder: Path = THEMES_DIR) -> list[Theme]:
    """Every readable theme in folder; a broken file is reported, never fatal."""
    themes = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            values = {key: data[key] for key in _FIELDS if key in data}
            themes.append(
                Theme(
                    name=data.get("name", path.stem), variables=data.get("variables", {}), **values
                )
            )
        except (tomllib.TOMLDecodeError, TypeError, ValueError, OSError) as exc:
            print(f"slmtui: theme {path.name} ignored: {exc}")
    return themes
