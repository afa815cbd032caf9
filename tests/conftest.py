"""Shared fixtures: real workspaces in temporary folders, and the real SmolLM2 tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slmtui.config import Config
from slmtui.ingest.ingestor import Ingestor
from slmtui.tokenizer import load_tokenizer
from slmtui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="session")
def tokenizer():
    """The bundled base model's tokenizer (built from its GGUF once, then cached)."""
    return load_tokenizer()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def samples_workspace(workspace: Workspace) -> Workspace:
    """The samples' writing (their chat exports left out: tests of chats bring their own)."""
    shutil.copytree(SAMPLES, workspace.writing, dirs_exist_ok=True, ignore=WRITING_ONLY)
    return workspace


# samples/chats holds the samples' chat exports; writing tests leave them out (and the questions
# beside the writing, samples/qa.json, which are not writing).
WRITING_ONLY = shutil.ignore_patterns("chats", "qa.json")


@pytest.fixture
def make_ingestor(tokenizer):
    """Ingestors over a workspace, closed at the end of the test."""
    made: list[Ingestor] = []

    def make(workspace: Workspace, config: Config | None = None) -> Ingestor:
        ingestor = Ingestor(workspace, config or workspace.load_config(), tokenizer=tokenizer)
        made.append(ingestor)
        return ingestor

    yield make
    for ingestor in made:
        ingestor.close()


def small_workspace(root: Path, names: list[str], *, ingest: bool = True) -> Workspace:
    """A workspace on the bundled base model with some of the samples' essays."""
    workspace = Workspace.init(root / "ws")
    for name in names:
        shutil.copy(SAMPLES / "essays" / name, workspace.writing / name)
    if ingest:
        with Ingestor(workspace, workspace.load_config()) as ingestor:
            ingestor.scan()
    return workspace


def request_counts(workspace: Workspace):
    """How many of the planned chat-pair requests the store's cache holds (RequestStatus)."""
    from slmtui.dataset.generator import generator_for
    from slmtui.dataset.requests import request_status
    from slmtui.ingest.store import Store

    config = workspace.load_config()
    with Store(workspace.db_path) as store:
        return request_status(store, config.dataset, generator_for(config.model.base).key)
