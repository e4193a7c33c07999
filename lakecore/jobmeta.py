"""A job's declared metadata (name, what it reads and writes, whether it is dated),
read from its module's `SPEC = JobSpec(...)` without importing the module.

The scheduler needs these facts at DAG parse time, where importing a job would
import pyspark. Rather than keep a second copy, the job module's own source is
parsed: the `SPEC` call's metadata keywords must be static expressions
(string, bool and tuple literals, f-strings, `*` unpacking and `+` of tuples,
and names bound to such expressions in the module or imported from another
module of the project). `tests/unit/test_jobmeta.py` checks that what is read
here equals the imported `SPEC` of every job.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lakecore.config import PROJECT_ROOT

META_FIELDS = ("name", "description", "reads", "writes", "dated", "in_demo")
# A table the job writes as a whole: `layer.table` (not a pattern, not a topic).
TABLE_NAME = re.compile(r"^(bronze|silver|gold|ops|quarantine|truth|stream)\.[a-z][a-z0-9_]*$")
# A table per `--tables` entry: `silver.<table>`.
TABLE_PATTERN = re.compile(r"^(bronze|silver|gold|ops|quarantine|truth|stream)\.<table>$")


class JobMetaError(ValueError):
    pass


@dataclass(frozen=True)
class JobMeta:
    """What a job declares about itself: enough to schedule it and draw its lineage."""

    name: str
    description: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    dated: bool = False
    in_demo: bool = True

    def tables_written(self, tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The `layer.table` names a run publishes; `<table>` patterns expand to `tables`
        (a run's `--tables`), and stay unnamed without it."""
        out: list[str] = []
        # "stream.x | kafka:x": one of several sinks (by config); its table is named.
        for entry in (alt.strip() for w in self.writes for alt in w.split("|")):
            if TABLE_NAME.match(entry):
                out.append(entry)
            elif TABLE_PATTERN.match(entry):
                layer = entry.split(".", 1)[0]
                out += [f"{layer}.{t}" for t in tables]
        return tuple(dict.fromkeys(out))

    def silver_reads(self) -> tuple[str, ...]:
        """The silver tables it reads, without the layer (for a `conform --tables`)."""
        alts = (alt.strip() for r in self.reads for alt in r.split("|"))
        return tuple(
            r.split(".", 1)[1] for r in alts if TABLE_NAME.match(r) and r.startswith("silver.")
        )


def job_module_path(job: str, root: Path = PROJECT_ROOT) -> Path:
    return root / "jobs" / f"{job}.py"


def read_job_meta(job: str, root: Path = PROJECT_ROOT) -> JobMeta:
    """The metadata of `jobs/<job>.py`'s SPEC, read from its source."""
    path = job_module_path(job, root)
    if not path.is_file():
        raise JobMetaError(f"no job module {path}")
    return _read_meta(path.resolve(), root.resolve())


@cache
def _read_meta(path: Path, root: Path) -> JobMeta:
    tree = ast.parse(path.read_text(), filename=str(path))
    env = _Module(path, root, tree)
    call = env.spec_call()
    values: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg in META_FIELDS:
            try:
                values[kw.arg] = env.eval(kw.value)
            except _Unresolved as exc:
                raise JobMetaError(
                    f"{path}: SPEC's `{kw.arg}` must be a static expression "
                    f"(literals and module constants): {exc}"
                ) from None
    for key in ("reads", "writes"):
        if key in values:
            values[key] = tuple(values[key])
    return JobMeta(**values)


class _Unresolved(Exception):
    pass


class _Module:
    """Module-level constants of one file, evaluated lazily from their AST."""

    def __init__(self, path: Path, root: Path, tree: ast.Module):
        self.path, self.root, self.tree = path, root, tree
        self.assigned: dict[str, ast.expr] = {}
        self.imported: dict[str, tuple[str, str]] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self.assigned[target.id] = node.value
                elif (  # A, B = "x", "y"
                    isinstance(target, ast.Tuple)
                    and isinstance(node.value, ast.Tuple)
                    and len(target.elts) == len(node.value.elts)
                ):
                    for name, value in zip(target.elts, node.value.elts, strict=True):
                        if isinstance(name, ast.Name):
                            self.assigned[name.id] = value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.assigned[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)

    def spec_call(self) -> ast.Call:
        value = self.assigned.get("SPEC")
        if not isinstance(value, ast.Call):
            raise JobMetaError(f"{self.path}: no `SPEC = JobSpec(...)` at module level")
        return value

    def lookup(self, name: str) -> Any:
        if name in self.assigned:
            return self.eval(self.assigned[name])
        if name in self.imported:
            module, attr = self.imported[name]
            file = self.root.joinpath(*module.split(".")).with_suffix(".py")
            if not file.is_file():
                raise _Unresolved(f"{name} is imported from {module}, outside the project")
            other = _Module(file, self.root, ast.parse(file.read_text(), filename=str(file)))
            return other.lookup(attr)
        raise _Unresolved(f"name {name!r} is not a module constant")

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bool | int):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Tuple | ast.List):
            out: list[Any] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    out.extend(self.eval(elt.value))
                else:
                    out.append(self.eval(elt))
            return tuple(out)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue) and v.format_spec is None:
                    parts.append(str(self.eval(v.value)))
                else:
                    raise _Unresolved(ast.unparse(v))
            return "".join(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.eval(node.left) + self.eval(node.right)
        raise _Unresolved(ast.unparse(node))


def catalog_table_names(root: Path | None = None) -> tuple[str, ...]:
    """The canonical table names (`TableSchema("orders", ...)` in catalog/tables.py), read
    from the source like SPEC: what a `layer.<table>` write pattern can stand for."""
    path = (root or PROJECT_ROOT) / "catalog" / "tables.py"
    names = [
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "TableSchema"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]
    if not names:
        raise JobMetaError(f'{path}: no TableSchema("name", ...) found')
    return tuple(names)
