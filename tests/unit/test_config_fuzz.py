"""Fuzzed job config: any mutation of any conf/jobs/*.yaml loads, or stops with a
ConfigError naming the file (and the key, when one key is at fault); never another
exception, never a traceback from the command line.

Mutations: a key set to a hostile value (wrong type, huge or negative number,
NaN, empty, nested structure, null), an unknown key, a removed key, a section
replaced by a scalar, broken YAML, a non-mapping document. Each example loads
the config in-process (no Spark), so the default count is cheap; FUZZ_EXAMPLES
raises it for a long local run.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.cli import main as cli_main
from jobs.registry import registry
from lakecore.config import PROJECT_ROOT, ConfigError, load_run_config
from lakecore.spark_conf import job_sql_conf, job_static_conf

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
JOBS = sorted(registry())
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**31, 2**63, 10**40]),
    st.sampled_from([0, -1, 2**31, 2**63, 10**40]),  # twice: numbers are the usual slip
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "1e308", "NaN", "yes", "-0", "64q", "☃"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
)


def key_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a YAML document (mappings only)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, str(k)))
            out += key_paths(v, (*prefix, str(k)))
    return out


def set_path(doc: dict, path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def del_path(doc: dict, path: tuple[str, ...]) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


@st.composite
def mutated(draw) -> tuple[str, str, tuple[str, ...] | None]:
    """(job, the mutated YAML text, the key path at fault or None)."""
    job = draw(st.sampled_from(JOBS))
    doc = yaml.safe_load((PROJECT_ROOT / "conf" / "jobs" / f"{job}.yaml").read_text()) or {}
    doc = copy.deepcopy(doc)
    paths = key_paths(doc)
    kind = draw(st.sampled_from(["set", "set", "set", "unknown", "delete", "syntax", "scalar"]))
    if kind == "syntax":
        text = yaml.safe_dump(doc)
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        junk = draw(st.sampled_from([": : [", "\t- {", "key: 'unterminated", "]]", "&a *b"]))
        return job, text[:cut] + junk + text[cut:], None
    if kind == "scalar":
        return job, draw(st.sampled_from(["42", "- a\n- b", "'text'", "null"])), None
    if kind == "unknown" or not paths:
        parent = draw(st.sampled_from([(), *[p for p in paths if isinstance(_get(doc, p), dict)]]))
        name = "zz_" + draw(st.text(alphabet="abcdefgh", min_size=1, max_size=6))
        set_path(doc, (*parent, name), draw(HOSTILE)) if parent else doc.__setitem__(
            name, draw(HOSTILE)
        )
        return job, yaml.safe_dump(doc), (*parent, name)
    path = draw(st.sampled_from(paths))
    if kind == "delete":
        del_path(doc, path)
        return job, yaml.safe_dump(doc), path
    set_path(doc, path, draw(HOSTILE))
    return job, yaml.safe_dump(doc), path


def _get(doc: dict, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@pytest.fixture(scope="module")
def conf_copy(tmp_path_factory) -> Path:
    conf = tmp_path_factory.mktemp("fuzzconf") / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    return conf


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
def test_a_mutated_job_config_loads_or_names_file_and_key(conf_copy, case):
    job, text, path = case
    target = conf_copy / "jobs" / f"{job}.yaml"
    original = (PROJECT_ROOT / "conf" / "jobs" / f"{job}.yaml").read_text()
    target.write_text(text)
    try:
        cfg = load_run_config(job, registry()[job].config_model, conf_dir=conf_copy)
        # What the session factory and spark-submit get from it: computed, and every
        # number within what Spark takes (a Java int or long).
        conf = {**job_static_conf(cfg.job), **job_sql_conf(cfg.job)}
        for key in ("spark.sql.shuffle.partitions", "spark.default.parallelism"):
            if key in conf:
                assert 1 <= int(conf[key]) < 2**31, (key, conf[key])
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith(str(target)), msg
        # A key at fault is named (its top-level section at least).
        if path is not None and "not valid YAML" not in msg and "top level" not in msg:
            assert path[0] in msg or "missing key" in msg, msg
    finally:
        target.write_text(original)


def test_the_command_line_says_exit_2_and_no_traceback(conf_copy, capsys):
    target = conf_copy / "jobs" / "conform.yaml"
    original = target.read_text()
    target.write_text("conform:\n  parallel_tables: [1, 2\n")
    try:
        code = cli_main(["run", "conform", "--conf-dir", str(conf_copy)])
    finally:
        target.write_text(original)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {target}: not valid YAML") and "Traceback" not in err


@pytest.mark.parametrize("key", ["spark.shuffle_partitions", "spark.default_parallelism"])
def test_spark_int_settings_refuse_what_spark_cannot_take(key):
    spec = registry()["conform"]
    with pytest.raises(ConfigError, match=rf"key '{key}': Input should be less than or equal"):
        load_run_config(spec.name, spec.config_model, overrides=[f"{key}={2**31}"])
