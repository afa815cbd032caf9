"""Where things live inside a workspace folder.

A workspace is a folder holding `slmtui.toml`, the watched `writing/` folder and `.slmtui/` with
the state database, training runs, published models and caches. Nothing else in the code builds
these paths by hand, so the layout can change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slmtui.config import Config, default_system_prompt, with_changes
from slmtui.config_file import load_config, render_default_toml
from slmtui.files import write_text_atomic

CONFIG_NAME = "slmtui.toml"
WRITING_NAME = "writing"
STATE_NAME = ".slmtui"


class WorkspaceError(RuntimeError):
    """The folder is not a workspace, or one cannot be made there."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def writing(self) -> Path:
        return self.root / WRITING_NAME

    @property
    def state(self) -> Path:
        return self.root / STATE_NAME

    @property
    def db_path(self) -> Path:
        return self.state / "state.db"

    @property
    def runs(self) -> Path:
        return self.state / "runs"

    @property
    def models(self) -> Path:
        return self.state / "models"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def logs(self) -> Path:
        """Logs of jobs that belong to no run folder (evaluation)."""
        return self.state / "logs"

    def load_config(self) -> Config:
        return load_config(self.config_path)

    def ensure_state(self) -> None:
        """Create the state folders if a user removed them; never touches writing/ contents."""
        for folder in (self.state, self.runs, self.models, self.cache):
            folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def init(cls, root: Path, *, name: str = "") -> Workspace:
        """Make a workspace in root (which may already hold a writing/ folder).

        `name`, when given, is who the writing is by: it goes into `[identity] names` and the
        system prompt, both editable in slmtui.toml afterwards."""
        root = root.expanduser().resolve()
        if (root / CONFIG_NAME).exists():
            raise WorkspaceError(f"{root} is already a workspace (it has {CONFIG_NAME})")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        workspace = cls(root)
        workspace.writing.mkdir(exist_ok=True)
        workspace.ensure_state()
        config = Config()
        if name.strip():
            config = with_changes(
                config, "identity", names=[name.strip()],
                system_prompt=default_system_prompt(name.strip()),
            )  # fmt: skip
        write_text_atomic(workspace.config_path, render_default_toml(config))
        return workspace

    @classmethod
    def open(cls, root: Path) -> Workspace:
        """Open an existing workspace, or explain why root is not one."""
        root = root.expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise WorkspaceError(
                f"{root} is not an slmtui workspace (no {CONFIG_NAME}). "
                f"Make one with: slmtui init {root}"
            )
        workspace = cls(root)
        workspace.ensure_state()
        return workspace

    @classmethod
    def find(cls, start: Path) -> Workspace:
        """The workspace holding start, looking upwards like git does."""
        start = start.expanduser().resolve()
        for folder in (start, *start.parents):
            if (folder / CONFIG_NAME).is_file():
                return cls.open(folder)
        raise WorkspaceError(
            f"No slmtui workspace at or above {start}. "
            "Make one with `slmtui init DIR`, pass -w DIR, or try `slmtui demo`."
        )
