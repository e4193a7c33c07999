"""Job metadata read statically (for the scheduler) is the imported SPEC's, for every job."""

from __future__ import annotations

import pytest

from jobs.registry import registry
from lakecore.jobmeta import JobMeta, JobMetaError, read_job_meta


@pytest.mark.parametrize("job", list(registry()))
def test_static_metadata_equals_the_imported_spec(job):
    assert read_job_meta(job) == registry()[job].meta


def test_tables_written_expands_patterns_with_the_runs_tables():
    meta = JobMeta(
        name="x",
        description="",
        writes=("bronze.<table>", "gold.a", "stream.b | kafka:b", "landing/demo/*"),
    )
    assert meta.tables_written() == ("gold.a", "stream.b")
    assert meta.tables_written(("t1", "t2")) == ("bronze.t1", "bronze.t2", "gold.a", "stream.b")


def test_silver_reads_names_only_silver_tables():
    meta = JobMeta(name="x", description="", reads=("silver.a", "gold.b", "kafka:c | silver.d"))
    assert meta.silver_reads() == ("a", "d")


def test_a_computed_spec_field_is_refused_with_the_file_and_field(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "odd.py").write_text(
        'TABLES = ("a", "b")\n'
        "SPEC = JobSpec(\n"
        '    name="odd",\n'
        '    description="d",\n'
        '    reads=tuple(f"silver.{t}" for t in TABLES),\n'
        ")\n"
    )
    with pytest.raises(JobMetaError, match=r"odd\.py: SPEC's `reads` must be a static"):
        read_job_meta("odd", root=tmp_path)


def test_constants_are_followed_across_project_modules(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "names.py").write_text('LAYER = "gold"\nOUT = f"{LAYER}.x"\n')
    (tmp_path / "jobs" / "j.py").write_text(
        "from pkg.names import OUT\n"
        'A, B = "silver.a", "silver.b"\n'
        'SPEC = JobSpec(name="j", description="d", reads=(A, *(B,)), writes=(OUT,), dated=True)\n'
    )
    assert read_job_meta("j", root=tmp_path) == JobMeta(
        name="j", description="d", reads=("silver.a", "silver.b"), writes=("gold.x",), dated=True
    )
