"""Each analyst notebook runs headless against the demo lake; a cell that raises fails."""

from __future__ import annotations

import importlib.util
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from devtools.notebooks import NOTEBOOKS_DIR, execute, missing_tables, required_tables

pytestmark = pytest.mark.integration

# notebook -> (text its outputs must show: a computed figure, not a title; plots)
EXPECTED = {
    "seller_risk.ipynb": ("active sellers, median score", 2),
    "inventory.ipynb": ("locations x", 3),
    "recommendations.ipynb": ("recommended:", 2),
}


def _outputs(nb) -> tuple[str, int]:
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            data = out.get("data", {})
            text.append(data.get("text/plain", ""))
            images += "image/png" in data
    return "\n".join(text), images


def _runnable(name: str) -> bool:
    return name != "recommendations.ipynb" or importlib.util.find_spec("jobs.als_embeddings")


@pytest.fixture(scope="module")
def executed(demo_lake) -> dict[str, Future]:
    """Every notebook at once, each in its own kernel (and Spark): they only read the
    lake, and three kernels starting side by side take half as long as one by one."""
    names = [n for n in sorted(EXPECTED) if _runnable(n)]
    with ThreadPoolExecutor(len(names)) as pool:
        return {n: pool.submit(execute, NOTEBOOKS_DIR / n, demo_lake.root) for n in names}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_on_the_demo_lake(name, demo_lake, executed):
    if not _runnable(name):
        pytest.skip("jobs.als_embeddings is not in this checkout: the demo has no ALS tables")
    path = NOTEBOOKS_DIR / name
    assert missing_tables(demo_lake.root, required_tables(path)) == []
    nb = executed[name].result()  # a cell that raised raises here
    text, images = _outputs(nb)
    expected_text, plots = EXPECTED[name]
    assert expected_text in text
    assert images == plots, f"{name}: {images} plots"
