"""The package's imports run one way: configuration and data below the steps and the report,
data below configuration, the torch-free report below the steps (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tracefl"

# package -> the tracefl packages it must never import (at module level or inside a function).
FORBIDDEN = {
    "config": ("report", "steps", "flower", "provenance", "runs", "explain", "baselines", "bench"),
    "data": ("config", "report", "steps", "flower", "provenance", "runs", "explain", "baselines", "bench"),
    "models": ("config", "report", "steps", "flower", "provenance", "runs", "explain", "baselines", "bench"),
    "provenance": ("report", "steps", "flower", "explain", "bench"),
    "runs": ("report", "steps", "explain", "bench"),
    "report": ("steps", "flower", "explain", "bench", "baselines"),
    "flower": ("report", "explain", "bench"),
    "baselines": ("config", "report", "steps", "flower", "explain", "bench"),
}
# The one exception: `flwr run`'s entry point (flower/app.py) starts the train and download
# steps, as the CLI does.
ALLOWED = {("flower/app.py", "steps")}


def imported_packages(path: Path) -> set[str]:
    """The ``tracefl`` subpackages (or flat modules) that ``path`` imports anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "tracefl":
                names += [f"tracefl.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tracefl" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in FORBIDDEN)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path):
    rel = path.relative_to(PACKAGE)
    package = rel.parts[0]
    bad = {name for name in imported_packages(path) & set(FORBIDDEN[package])
           if (rel.as_posix(), name) not in ALLOWED}
    assert not bad, f"tracefl/{rel.as_posix()} imports tracefl.{', tracefl.'.join(sorted(bad))}"


def test_the_checker_sees_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tracefl.report import tables\n    import tracefl.steps.train\n")
    assert imported_packages(module) == {"report", "steps"}
