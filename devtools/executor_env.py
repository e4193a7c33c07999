"""The executors' Python environment for a cluster, packed the way Spark documents it.

Executors run Python (the ALS top-N `mapInPandas`, the risk explanation's pandas UDF),
and a cluster node has no checkout and no `.venv`. This builds a fresh virtualenv with
the project's `executor` extra (numpy, pandas, pyarrow, pydantic, PyYAML) at the versions
installed in the environment building it, so the driver and the executors exchange Arrow
batches with the same libraries, plus this project installed from its wheel (not
editable: the packages and conf/ are in site-packages), and packs it with venv-pack:

    python -m devtools.executor_env            # -> dist/executor-env.tar.gz
    LAKEHOUSE_EXECUTOR_ENV=dist/executor-env.tar.gz scripts/spark-submit --master spark://... \\
        jobs/main.py als_embeddings --env standalone

`scripts/spark-submit` then ships it with `--archives <tar.gz>#environment` and points
the executors' Python at `./environment/bin/python`. pyspark is left out: each worker's
Spark installation puts its own pyspark.zip on the Python workers' path, and it must
match the cluster's Spark anyway. The packed venv's interpreter is a link to the Python
that built it, so the nodes need that Python at the same path (the usual image rule).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from lakecore.config import PROJECT_ROOT

ARCHIVE_NAME = "executor-env.tar.gz"
CONSTRAINTS = PROJECT_ROOT / "build" / "constraints.txt"
# What a wheel build needs from the checkout (the build writes into a copy of these,
# never into the checkout's own build/ folder, which holds the Maven poms).
SOURCES = ("pyproject.toml", "README.md")


def executor_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """The `executor` extra, each pinned to the version installed here when there is one."""
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["executor"]
    pinned = []
    for requirement in extra:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(requirement)
    return pinned


def _package_dirs(root: Path) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {pattern.split(".")[0].rstrip("*") for pattern in include}
    return sorted(t for t in tops if (root / t).is_dir())


def build_wheel(out: Path, root: Path = PROJECT_ROOT) -> Path:
    """This project's wheel, built from a copy of its sources, into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakehouse-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            shutil.copy2(root / name, src / name)
        skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "html")
        for name in _package_dirs(root):
            shutil.copytree(root / name, src / name, ignore=skip)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(out)],
            check=True,
        )
    return max(out.glob("marketplace_lakehouse-*.whl"), key=lambda p: p.stat().st_mtime)


def build(out_dir: Path, python: str = sys.executable) -> Path:
    """Build the packed executor environment; returns the .tar.gz path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / ARCHIVE_NAME
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lakehouse-executor-env-") as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        venv = Path(tmp) / "venv"
        # `python` may itself be a venv's: the new venv links to its base interpreter.
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        # Transitive versions (tzdata, python-dateutil...) as tested: the constraints file.
        constraints = ["-c", str(CONSTRAINTS)] if CONSTRAINTS.is_file() else []
        subprocess.run(
            [*pip, "--disable-pip-version-check", *constraints, *executor_requirements()],
            check=True,
        )
        subprocess.run([*pip, "--no-deps", str(wheel)], check=True)
        archive.unlink(missing_ok=True)
        pack = [str(Path(sys.executable).with_name("venv-pack")), "-q", "-p", str(venv)]
        subprocess.run([*pack, "-o", str(archive)], check=True)
    size = archive.stat().st_size / 2**20
    print(
        f"{archive}: {size:.0f} MiB, built in {time.monotonic() - started:.0f} s", file=sys.stderr
    )
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.executor_env", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "dist", help="output folder (default: dist/)"
    )
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
