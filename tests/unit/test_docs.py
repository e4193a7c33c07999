"""The docs match the tree: relative links resolve, and every `make` target, CLI command
and job they name exists."""

from __future__ import annotations

import re

import pytest

from jobs.cli import build_parser
from jobs.registry import registry
from lakecore.config import PROJECT_ROOT

DOCS = sorted(
    [
        PROJECT_ROOT / "README.md",
        PROJECT_ROOT / "CONTRIBUTING.md",
        PROJECT_ROOT / "benchmarks" / "README.md",
        *(PROJECT_ROOT / "docs").glob("*.md"),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# `make x` in code (backticks or a code block line), not the verb in prose.
MAKE = re.compile(r"(?:^|`|\n\s*)make ([a-z][a-z-]*)")
CLI = re.compile(r"(?:\blakehouse|python -m jobs) ([a-z_]+)(?: ([a-z_<>]+))?")


def make_targets() -> set[str]:
    text = (PROJECT_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_relative_links_resolve(doc):
    for target in LINK.findall(doc.read_text()):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{doc.name}: broken link {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_named_make_targets_commands_and_jobs_exist(doc):
    text = doc.read_text()
    targets = make_targets()
    for target in MAKE.findall(text):
        assert target in targets, f"{doc.name}: `make {target}` is not a Makefile target"
    jobs = set(registry())
    commands = set(build_parser(registry())._subparsers._group_actions[0].choices)
    for command, arg in CLI.findall(text):
        assert command in commands, f"{doc.name}: unknown command `{command}`"
        if command in ("run", "config") and arg and not arg.startswith("<"):
            assert arg in jobs, f"{doc.name}: unknown job `{arg}`"


def test_notebooks_ask_for_the_kernel_make_notebooks_lab_registers():
    import json
    import tomllib

    makefile = (PROJECT_ROOT / "Makefile").read_text()
    (kernel,) = re.findall(r"^KERNEL_NAME = (\S+)$", makefile, re.M)
    assert "--name $(KERNEL_NAME)" in makefile
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == kernel, path
    extras = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("jupyterlab==") for d in extras["analyst"])
