"""Who may import whom: dependencies point down, domains stay apart.

    entry points (CLI, DAGs, notebooks, benchmarks) -> jobs -> transforms/<domain>
    -> transforms/common, catalog;  lakecore (the platform) imports none of them.

Read from the source (every `import`, also inside functions), so a forbidden
import fails here before it becomes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from lakecore.config import PROJECT_ROOT

PACKAGES = ("lakecore", "catalog", "transforms", "demo_data", "devtools", "notebooks", "jobs")
DOMAINS = ("seller_risk", "inventory", "recommendations")


def allowed(importer: str, imported: str) -> bool:
    """Whether module `importer` may import module `imported` (both project modules)."""
    src, dst = importer.split("."), imported.split(".")
    if dst[0] == src[0] and src[0] != "transforms":
        return src[0] != "lakecore" or dst[0] == "lakecore"
    if src[0] == "lakecore":
        return False
    if src[0] == "catalog":
        return False
    if src[0] == "transforms":
        if dst[0] == "catalog":
            return True
        if dst[0] != "transforms" or len(dst) < 2:
            return False
        if dst[1] == "common":
            return True
        # A domain imports only itself (and common); common imports no domain.
        return len(src) > 1 and src[1] in DOMAINS and src[1] == dst[1]
    if src[0] == "demo_data":
        return dst[0] == "catalog" or dst[:2] == ["transforms", "common"]
    if src[0] == "devtools":
        return dst[0] == "lakecore"
    if src[0] == "notebooks":
        return dst[0] in ("lakecore", "catalog", "transforms")
    return src[0] == "jobs"  # jobs stand on everything below them


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from transforms.common import skew` imports transforms.common.skew
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES and _is_module(m)}


def _is_module(name: str) -> bool:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations(root: Path) -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            for imported in sorted(project_imports(path)):
                if not allowed(importer, imported):
                    out.append(f"{importer} imports {imported}")
    return out


def test_the_tree_keeps_the_dependency_rule():
    assert violations(PROJECT_ROOT) == []


def test_only_entry_points_import_jobs():
    """Outside jobs/ itself: the DAGs, benchmarks and tests may; no package below may."""
    for package in PACKAGES:
        if package == "jobs":
            continue
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            assert not {m for m in project_imports(path) if m.startswith("jobs")}, path


def test_the_rule_rejects_what_it_forbids():
    # Each pair would break the layering: the test above must be able to fail.
    forbidden = [
        ("lakecore.io", "catalog.tables"),
        ("lakecore.runner", "jobs.registry"),
        ("catalog.tables", "lakecore.io"),
        ("transforms.inventory.replay", "transforms.seller_risk.facts"),
        ("transforms.common.skew", "transforms.inventory.ledger"),
        ("transforms.seller_risk.facts", "lakecore.io"),
        ("transforms.recommendations.model", "demo_data.core"),
        ("demo_data.core", "transforms.inventory.ledger"),
        ("notebooks.analytics", "jobs.cli"),
        ("devtools.kafka_broker", "transforms.common.skew"),
    ]
    assert [pair for pair in forbidden if allowed(*pair)] == []
    permitted = [
        ("transforms.inventory.replay", "transforms.inventory.ledger"),
        ("transforms.inventory.walmart", "transforms.common.seeded"),
        ("transforms.seller_risk.facts", "catalog.tables"),
        ("demo_data.products", "transforms.common.seeded"),
        ("jobs.ingest", "transforms.common.ingest"),
        ("lakecore.job", "lakecore.io"),
    ]
    assert [pair for pair in permitted if not allowed(*pair)] == []


def test_a_forbidden_import_in_a_file_is_reported(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "lakecore" / "io.py").write_text("def f():\n    from catalog import tables\n")
    (tmp_path / "transforms" / "inventory").mkdir()
    (tmp_path / "transforms" / "inventory" / "replay.py").write_text(
        "import transforms.seller_risk.facts\n"
    )
    assert violations(tmp_path) == [
        "lakecore.io imports catalog",
        "lakecore.io imports catalog.tables",
        "transforms.inventory.replay imports transforms.seller_risk.facts",
    ]
