"""The shape of the code that docs/ARCHITECTURE.md promises: functions that read top to bottom,
one helper for atomic writes, and a package whose name says what it does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "slmtui"
MAX_FUNCTION_LINES = 80


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in functions(path)
        if (lines := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long, "\n".join(long)


def lines_outside_files_py(pattern: re.Pattern) -> list[str]:
    """path:line of every line of the package, but slmtui/files.py, that the pattern finds."""
    return [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "files.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]


def test_atomic_writes_go_through_the_one_helper():
    """os.replace and .replace(path) of a temporary file appear only in slmtui/files.py."""
    found = lines_outside_files_py(
        re.compile(r"os\.replace\(|\.tmp\b.*\.replace\(|tmp\w*\.replace\(")
    )
    assert not found, "\n".join(found)


def test_folders_are_replaced_and_removed_through_the_one_helper():
    """Renaming a folder into place (alone, or after an rmtree of the target) is done only by
    slmtui/files.py; a rename elsewhere is a half-swapped folder waiting for a crash."""
    found = lines_outside_files_py(re.compile(r"(?<!store)\.rename\(|os\.rename\(|shutil\.move\("))
    assert not found, "\n".join(found)


def test_the_architecture_page_names_every_package():
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    packages = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file())
    missing = [name for name in packages if f"`{name}/`" not in page]
    assert not missing, missing


def test_no_code_cites_a_design_page_outside_the_repository():
    cited = [
        str(path.relative_to(ROOT))
        for folder in ("slmtui", "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if "DESIGN.md" in path.read_text(encoding="utf-8") and path.name != "test_house.py"
    ]
    assert not cited, cited
