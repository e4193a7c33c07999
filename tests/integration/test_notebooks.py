"""Each analyst notebook runs headless against the demo lake; a cell that raises fails."""

from __future__ import annotations

import importlib.util

import pytest

from lakecore.notebooks import NOTEBOOKS_DIR, execute, missing_tables, required_tables

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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_on_the_demo_lake(name, demo_lake):
    if name == "recommendations.ipynb" and importlib.util.find_spec("jobs.als_embeddings") is None:
        pytest.skip("jobs.als_embeddings is not in this checkout: the demo has no ALS tables")
    path = NOTEBOOKS_DIR / name
    assert missing_tables(demo_lake.root, required_tables(path)) == []
    nb = execute(path, demo_lake.root)
    text, images = _outputs(nb)
    expected_text, plots = EXPECTED[name]
    assert expected_text in text
    assert images == plots, f"{name}: {images} plots"
