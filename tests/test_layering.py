"""The import directions of docs/ARCHITECTURE.md ("Packages"), read from the code and checked at
import time: which package may import which, where torch, textual and llama_cpp may load."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "slmtui"

# The ground (config, workspace, files, formats, tokenizer, registry) may be imported by every
# package and imports only itself; every other unit lists what it may import besides the ground.
MAY_IMPORT: dict[str, set[str]] = {
    "ground": set(),
    "ingest": set(),
    "export": set(),
    "recall": {"ingest"},
    "chat": {"ingest", "export"},
    "dataset": {"ingest", "chat"},
    "jobs": {"ingest", "dataset", "chat"},
    "eval": {"ingest", "dataset", "chat", "jobs", "recall"},
    "ml": {"dataset", "export", "jobs", "chat"},
    "tui": {"ingest", "dataset", "chat", "jobs", "eval", "export", "recall"},
    "cli": {"ingest", "dataset", "chat", "jobs", "eval", "export", "tui", "recall"},
}
# Heavy or UI libraries, and the only units whose code may import them (even inside a function).
LIBRARY_OWNERS = {
    "torch": {"ml"},
    "transformers": {"ml"},
    "peft": {"ml"},
    "textual": {"tui"},
    "llama_cpp": {"chat", "export"},
}


def unit_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in MAY_IMPORT:
        return parts[1]
    if len(parts) > 1 and parts[1] == "cli":
        return "cli"
    return "ground"


def imports() -> list[tuple[str, str, str]]:
    """(file, importing unit, imported module) for every absolute import in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(PACKAGE)), unit_of(module), name) for name in names]
    return found


def test_every_unit_is_known():
    units = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert units == set(MAY_IMPORT) - {"ground"}


def test_packages_import_only_in_the_allowed_directions():
    wrong = [
        f"{path}: {unit} imports {name}"
        for path, unit, name in imports()
        if name.startswith("slmtui") and unit_of(name) not in {unit, "ground"} | MAY_IMPORT[unit]
    ]
    assert not wrong, "\n".join(wrong)


def test_heavy_libraries_are_imported_only_where_they_belong():
    wrong = [
        f"{path}: {unit} imports {name}"
        for path, unit, name in imports()
        if name.split(".")[0] in LIBRARY_OWNERS
        and unit not in LIBRARY_OWNERS[name.split(".")[0]] | {"ml"}
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_wrong_import():
    """A ground module importing a package, or ingest importing the UI, would be caught."""
    assert unit_of("slmtui.tui.app") not in MAY_IMPORT["ingest"] | {"ingest", "ground"}
    assert unit_of("slmtui.jobs.launch") not in MAY_IMPORT["ground"] | {"ground"}
    assert unit_of("slmtui.workspace") == "ground" and unit_of("slmtui.cli") == "cli"


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
        "slmtui.ingest.ingestor",
        "slmtui.ingest.watcher",
        "slmtui.ingest.extract",
        "slmtui.ingest.store",
        "slmtui.dataset.build",
        "slmtui.eval.stylometry",
        "slmtui.eval.evaluate",
        "slmtui.eval.report",
        "slmtui.runs",
        "slmtui.jobs.prepare",
        "slmtui.jobs.launch",
        "slmtui.jobs.describe",
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
    "module", ["slmtui.dataset.build", "slmtui.dataset.generator", "slmtui.eval.evaluate"]
)
def test_llama_cpp_loads_only_when_a_model_is_used(module):
    assert "llama_cpp" not in loaded_after_import(module)
