"""Fixtures for the ml tests: a tiny random llama that has the real SmolLM2 tokenizer, and a
tiny random Gemma 3."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_models import make_tiny_gemma3, make_tiny_llama


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Hugging Face folder (2 layers, width 64) made once per test session."""
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-base") / "model")


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Gemma 3 folder: a sliding layer (window 8) and a global one."""
    return make_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3") / "model")


@pytest.fixture(scope="session")
def learnable_base(tmp_path_factory, tiny_base) -> Path:
    """The tiny llama with embeddings ten times larger than the default init.

    At std 0.02 a width-64 model's logits cannot leave about +-1 (the final norm fixes the hidden
    size), so no adapter could make it confident; scaled, its loss can visibly fall in 12 steps.
    """
    from slmtui.ml.base import load_base

    model, tokenizer = load_base(tiny_base)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(10.0)
    folder = tmp_path_factory.mktemp("learnable") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
