"""Llama 3.2's real chat template (kept by setup from llama.cpp's sources) prints today's date
through strftime_now: the verification's rendering and training's agree on it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from slmtui.ml.base import load_base
from slmtui.ml.verify import Verification, _check_template
from tests.export.reference import REFERENCE

TEMPLATE = REFERENCE / "models" / "templates" / "meta-llama-Llama-3.2-3B-Instruct.jinja"


@pytest.mark.skipif(not TEMPLATE.is_file(), reason="make setup keeps the reference template")
def test_llama_3_2_template_renders_as_in_training(tiny_llama3):
    template = TEMPLATE.read_text(encoding="utf-8")
    assert "strftime_now" in template and "26 Jul 2024" in template  # its fixed fallback date
    _, tokenizer = load_base(tiny_llama3)
    tokenizer.chat_template = template
    gguf = SimpleNamespace(metadata={"tokenizer.chat_template": template})
    result = Verification("F16")
    _check_template(result, gguf, tokenizer)
    (check,) = result.checks
    assert check.passed, check
    from datetime import datetime

    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert datetime.now().strftime("%d %b %Y") in rendered
