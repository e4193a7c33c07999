"""Seeded randomness as Spark columns: pure functions of (seed, purpose, row key).

Uniforms come from `xxhash64`, never from `rand()`, so a value does not depend
on partitioning or on the order Spark evaluates things: the same seed gives the
same rows. Used by the demo generator and by the Walmart shrink simulation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

# Uniforms have 1e-9 resolution: plenty for shares down to one in a million.
HASH_MODULUS = 1_000_000_000


def uniform(seed: int, purpose: str, *cols: str | Column) -> Column:
    """Pseudo-random double in [0, 1) from the hash of (seed, purpose, cols)."""
    if all(isinstance(c, str) for c in cols):
        # One SQL expression instead of a tree of Column calls: building the
        # plans makes hundreds of these, and each Column call is a JVM round trip.
        keys = ", ".join(f"`{c}`" for c in cols)
        return F.expr(
            f"pmod(xxhash64({seed}, '{_sql_text(purpose)}', {keys}), {HASH_MODULUS}) / 1e9"
        )
    keys = [F.col(c) if isinstance(c, str) else c for c in cols]
    h = F.xxhash64(F.lit(seed), F.lit(purpose), *keys)
    return F.pmod(h, F.lit(HASH_MODULUS)) / HASH_MODULUS


def _sql_text(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"{value!r}: no quotes or backslashes in generated SQL text")
    return value


def normal(seed: int, purpose: str, *cols: Any) -> Column:
    """Standard normal by Box-Muller over two independent uniforms."""
    u1 = uniform(seed, f"{purpose}/n1", *cols) + 1e-12  # log(0) would be NULL
    u2 = uniform(seed, f"{purpose}/n2", *cols)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2 * 3.141592653589793 * u2)


def randint(u: Column, low: int, high: int) -> Column:
    """Integer in [low, high] (inclusive) from a uniform."""
    return (F.floor(u * (high - low + 1)) + low).cast("long")


def even_offset(u: Column, span_s: int | Column) -> Column:
    """An even number of seconds in [0, span_s): events sit on even seconds, counts on odd."""
    return (F.floor(u * span_s / 2) * 2).cast("long")


def array_literal(values: Sequence[Any]) -> Column:
    """An (optionally nested) array literal as one SQL expression: one JVM call,
    not one per element."""
    return F.expr(_sql_literal(values))


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + _sql_text(value) + "'"
    if isinstance(value, list | tuple):
        return "array(" + ", ".join(_sql_literal(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value) + "D"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"unsupported literal {value!r}")


def at(values: Sequence[str | int | float], index: Column) -> Column:
    """`values[index]` for a 0-based index column."""
    return F.element_at(array_literal(values), (index + 1).cast("int"))


def pick(values: Sequence[Any], u: Column) -> Column:
    """One of `values`, uniformly (u in [0, 1))."""
    return at(values, F.floor(u * len(values)))


def weighted(choices: Sequence[tuple[Any, float]], u: Column) -> Column:
    """One of the values with the given weights (normalised), by cumulative thresholds."""
    total = sum(w for _, w in choices)
    out, acc = None, 0.0
    for value, weight in choices[:-1]:
        acc += weight / total
        out = F.when(u < acc, F.lit(value)) if out is None else out.when(u < acc, F.lit(value))
    last = F.lit(choices[-1][0])
    return last if out is None else out.otherwise(last)


def by_class(klass: str, rates: Mapping[str, float], default: float) -> Column:
    """A per-class number (e.g. the cancel rate of a seller class in column `klass`)."""
    cases = " ".join(
        f"WHEN {_sql_literal(k)} THEN {_sql_literal(float(v))}" for k, v in rates.items()
    )
    return F.expr(f"CASE `{klass}` {cases} ELSE {_sql_literal(float(default))} END")


def hex_id(seed: int, kind: str, *cols: str | Column) -> Column:
    """Opaque 32-hex id (Olist style) of a key: no label leaks through ids."""
    if all(isinstance(c, str) for c in cols):
        keys = ", ".join(f"CAST(`{c}` AS STRING)" for c in cols)
        return F.expr(f"md5(concat_ws(':', '{seed}', '{_sql_text(kind)}', {keys}))")
    keys = [(F.col(c) if isinstance(c, str) else c).cast("string") for c in cols]
    return F.md5(F.concat_ws(":", F.lit(str(seed)), F.lit(kind), *keys))
