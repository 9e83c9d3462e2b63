"""Data flows one way (datasets -> baselines -> benchmark): no module reaches back up the chain.

Imports are read with ``ast`` from the source, function-level and ``TYPE_CHECKING`` imports included, so a lazy
import inside a function cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import oncobench

PACKAGE = Path(oncobench.__file__).parent


def imported_modules(source: str, module: str) -> set[str]:
    """Every absolute module name the source of ``module`` imports (``from a.b import c``: ``a.b`` and ``a.b.c``)."""
    out: set[str] = set()
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against the module's package
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def offenders(layer: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        imports = imported_modules(path.read_text(encoding="utf-8"), module)
        bad = sorted(m for m in imports if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[module] = bad
    return found


def test_import_reader_sees_lazy_relative_and_type_checking_imports() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from oncobench.benchmark.tasks import Task\n"
              "def f():\n    import oncobench.leaderboard.site\n    from ..benchmark import job\n    from . import fusion\n")
    found = imported_modules(source, "oncobench.baselines.probe")
    assert {"oncobench.benchmark.tasks", "oncobench.leaderboard.site", "oncobench.benchmark.job",
            "oncobench.baselines.fusion"} <= found


@pytest.mark.parametrize("layer,forbidden", [
    ("baselines", ("oncobench.benchmark", "oncobench.leaderboard", "oncobench.cli")),
    ("datasets", ("oncobench.baselines", "oncobench.benchmark", "oncobench.leaderboard", "oncobench.cli")),
])
def test_lower_layers_never_import_higher_ones(layer: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(layer, forbidden) == {}


def test_explanations_live_in_the_benchmark_layer() -> None:
    from oncobench.baselines.deep import explain as model_explain
    from oncobench.benchmark import explain as task_explain

    assert hasattr(model_explain, "attributions") and not hasattr(model_explain, "explain_fold")
    assert task_explain.attributions is model_explain.attributions
