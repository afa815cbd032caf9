"""Fixtures for the ml tests: a tiny random llama that has the real SmolLM2 tokenizer, and a
tiny random Gemma 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_gemma3, make_tiny_llama


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Hugging Face folder (2 layers, width 64) made once per test session."""
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-base") / "model")


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Gemma 3 folder: a sliding layer (window 8) and a global one."""
    return make_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3") / "model")
