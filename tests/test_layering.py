"""The core never loads the UI or torch; the UI never loads torch (DESIGN.md, rules)."""

import json
import subprocess
import sys

import pytest


def loaded_after_import(module: str) -> set[str]:
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "module",
    [
        "slmtui.core.ingest",
        "slmtui.core.watcher",
        "slmtui.core.extract",
        "slmtui.core.store",
        "slmtui.core.dataset",
        "slmtui.core.stylometry",
        "slmtui.eval.evaluate",
        "slmtui.eval.report",
        "slmtui.cli",
        "slmtui.config",
        "slmtui.workspace",
    ],
)
def test_core_loads_neither_textual_nor_torch(module):
    loaded = loaded_after_import(module)
    assert "textual" not in loaded
    assert "torch" not in loaded
    assert "transformers" not in loaded


def test_tui_does_not_load_torch():
    loaded = loaded_after_import("slmtui.tui.app")
    assert "textual" in loaded
    assert "torch" not in loaded and "transformers" not in loaded


@pytest.mark.parametrize(
    "module", ["slmtui.core.dataset", "slmtui.chat.generate", "slmtui.eval.evaluate"]
)
def test_llama_cpp_loads_only_when_a_model_is_used(module):
    assert "llama_cpp" not in loaded_after_import(module)
