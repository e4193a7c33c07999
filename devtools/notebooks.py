"""Run the analyst notebooks headless and render them to HTML (`make notebooks`).

    .venv/bin/python -m devtools.notebooks [--lake DIR] [--html notebooks/html] [NAME.ipynb ...]

Each notebook runs in its own kernel (so its own Spark driver) with the project
on PYTHONPATH and `LAKEHOUSE_ROOT` set when `--lake` is given. A notebook whose
`metadata.lakehouse.requires` tables are not in the lake is skipped with the
reason; a cell that raises makes the run fail (exit 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lakecore.config import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
TIMEOUT_SECONDS = 900  # per cell


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def required_tables(path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return list(nb.metadata.get("lakehouse", {}).get("requires", []))


def missing_tables(lake_root: str, tables: list[str]) -> list[str]:
    """Tables not present under a local lake root (a Delta table has a _delta_log)."""
    return [t for t in tables if not (Path(lake_root, *t.split(".", 1)) / "_delta_log").is_dir()]


def execute(path: Path, lake_root: str | None = None):
    """Run every cell of one notebook in a fresh kernel; return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    if lake_root:
        env["LAKEHOUSE_ROOT"] = str(lake_root)
    env.setdefault("MPLBACKEND", "agg")
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(PROJECT_ROOT)}},
    )
    client.execute(env=env)
    return nb


def render_html(nb, out: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.notebooks", description=__doc__)
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--lake", help="lake root (default: LAKEHOUSE_ROOT, else the env's)")
    parser.add_argument("--html", default=str(NOTEBOOKS_DIR / "html"), help="output folder")
    args = parser.parse_args(argv)

    from lakecore.config import JobConfig, load_run_config

    lake_root = args.lake or load_run_config("query", JobConfig).lake_root
    paths = [NOTEBOOKS_DIR / n for n in args.names] if args.names else notebooks()
    failed = 0
    for path in paths:
        missing = missing_tables(lake_root, required_tables(path))
        if missing:
            print(f"skipped {path.name}: {', '.join(missing)} not in {lake_root}")
            continue
        try:
            nb = execute(path, lake_root)
        except Exception as exc:  # a cell raised: report it, render the others
            print(f"FAILED {path.name}: {type(exc).__name__}: {str(exc)[-2000:]}", file=sys.stderr)
            failed += 1
            continue
        out = render_html(nb, Path(args.html) / f"{path.stem}.html")
        print(f"rendered {path.name} -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
