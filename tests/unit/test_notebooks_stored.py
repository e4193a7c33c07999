"""Notebooks are stored without outputs and hold no production logic."""

from __future__ import annotations

import ast

import nbformat
import pytest

from devtools.notebooks import notebooks, required_tables

NOTEBOOKS = notebooks()


def test_there_are_the_three_analyst_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "seller_risk.ipynb",
        "recommendations.ipynb",
        "inventory.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs (strip them)"
            assert cell.execution_count is None, f"{path.name}: execution counts stored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_reads_through_the_package_and_defines_nothing(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(
        "\n".join(line for line in c.source.splitlines() if not line.startswith("%"))
        for c in nb.cells
        if c.cell_type == "code"
    )
    tree = ast.parse(code)
    defined = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert defined == [], f"{path.name} defines {defined}: move it to notebooks/analytics.py"
    assert "A.open_lake(" in code  # the package's session factory and lake reader
    imports = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imports if m and m.startswith("pyspark")}, imports
    assert required_tables(path), f"{path.name}: metadata.lakehouse.requires is empty"
