"""Fixtures for the app tests: a tiny random llama base so real training runs in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slmtui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Hugging Face folder (2 layers, width 64), made once per session (tests may use
    torch; the app under test never imports it)."""
    from tests.tiny_models import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny-base") / "model")


def tiny_workspace(root: Path, base: Path, max_steps: int) -> Workspace:
    workspace = Workspace.init(root / "ws")
    shutil.copytree(SAMPLES / "essays", workspace.writing / "essays")
    text = workspace.config_path.read_text().replace('base = "default"', f'base = "{base}"')
    text = text.replace("max_steps = 0", f"max_steps = {max_steps}")
    assert f"max_steps = {max_steps}" in text
    workspace.config_path.write_text(text)
    return workspace


@pytest.fixture
def train_workspace(tmp_path: Path, tiny_base: Path) -> Workspace:
    return tiny_workspace(tmp_path, tiny_base, max_steps=400)
