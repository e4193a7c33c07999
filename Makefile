# Two commands on a fresh machine: `make demo` and `make test`.
# `make setup` is idempotent: stamps in .setup/ skip pip and Maven when
# pyproject.toml and build/pom.xml have not changed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .setup
PYTEST_ARGS ?=
# One process by default: on 2 cores two xdist workers were no faster locally and
# slower in CI (41 min against 35). With more cores, TEST_WORKERS=N runs N workers,
# grouped so shared session fixtures are built once (tests/conftest.py).
TEST_WORKERS ?= 0
# make bench BENCH_ARGS="--suite skew --orders 100000" (benchmarks/run.py --help)
BENCH_ARGS ?=

.PHONY: executor-env airflow-pools notebooks-lab setup demo-setup demo demo-kafka test lint fmt unit notebooks bench lock clean clean-lake help

help:
	@echo "make demo   - set up, generate demo data, ingest it, run every job but walmart_inventory, print a summary"
	@echo "make test   - set up, lint (ruff), run the whole test suite"
	@echo "make demo-kafka - make demo with the streams through a local Kafka broker"
	@echo "make setup  - create .venv, install the package, resolve JVM jars with Maven"
	@echo "make lock   - refresh build/constraints.txt (every Python dependency, pinned) from .venv"
	@echo "make fmt    - format the code with ruff"
	@echo "make notebooks - run the analyst notebooks on the lake, render HTML to notebooks/html"
	@echo "make notebooks-lab - JupyterLab on notebooks/ with the project's kernel (analyst extra)"
	@echo "make executor-env - pack the executors' Python (and this project's wheel) for a cluster: dist/executor-env.tar.gz"
	@echo "make airflow-pools - create the Airflow pools the DAGs' tasks run in"
	@echo "make bench  - benchmarks/run.py (default: the skew suite at 1M orders); BENCH_ARGS=..."

setup: $(STAMPS)/pip.stamp $(STAMPS)/jars.stamp $(STAMPS)/logstore.stamp $(STAMPS)/kafka.stamp $(STAMPS)/cds.stamp

# What `make demo` needs and no more: the package (no test tools, no Airflow) and
# Spark's jars. Every pip install is constrained to build/constraints.txt, so
# transitive versions do not float between machines (`make lock` refreshes it).
CONSTRAINTS := build/constraints.txt
demo-setup: $(STAMPS)/pip-core.stamp $(STAMPS)/jars.stamp $(STAMPS)/logstore.stamp

$(STAMPS)/pip-core.stamp: pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	@mkdir -p $(STAMPS)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e .
	@touch $@

lock: setup
	(echo "# Every transitive Python dependency, as tested: pip installs with -c this file."; \
	 echo "# Regenerate after changing pyproject.toml: make lock"; \
	 $(PY) -m pip freeze --exclude-editable) > $(CONSTRAINTS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMPS)/pip.stamp: pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	@mkdir -p $(STAMPS)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[dev,airflow]"
	@touch $(STAMPS)/pip-core.stamp $@

$(STAMPS)/jars.stamp: build/pom.xml
	@mkdir -p $(STAMPS)
	rm -rf .jars/spark
	mvn --batch-mode --quiet -f build/pom.xml dependency:copy-dependencies
	@ls .jars/spark/delta-spark_*.jar >/dev/null
	@touch $@

# The platform's own JVM classes (build/java/): the Delta log store for S3 (put-if-absent
# commits, several writing drivers) and the streams' state-store dedup, compiled against
# the jars above and pyspark's own jars.
JAVA_SRC := $(wildcard build/java/src/io/lakehouse/*/*.java)
$(STAMPS)/logstore.stamp: $(JAVA_SRC) $(STAMPS)/jars.stamp $(STAMPS)/pip-core.stamp
	rm -rf build/target/java .jars/spark/lakehouse-s3-logstore.jar && mkdir -p build/target/java
	javac --release 17 -d build/target/java \
	  -cp ".jars/spark/*:$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars/*" \
	  $(JAVA_SRC)
	jar cf .jars/spark/lakehouse-spark.jar -C build/target/java .
	@touch $@

# The driver JVM's class archive (lakecore/class_archive.py): every later job's JVM
# starts ~4 s sooner. Not part of demo-setup: it costs ~40 s once, the demo is one JVM.
$(STAMPS)/cds.stamp: $(STAMPS)/jars.stamp $(STAMPS)/logstore.stamp $(STAMPS)/pip-core.stamp
	$(PY) -m lakecore.class_archive
	@touch $@

# A single-node Kafka broker's jars (scripts/kafka), kept off Spark's classpath.
$(STAMPS)/kafka.stamp: build/kafka/pom.xml
	@mkdir -p $(STAMPS)
	rm -rf .jars/kafka
	mvn --batch-mode --quiet -f build/kafka/pom.xml dependency:copy-dependencies
	@ls .jars/kafka/kafka_2.13-*.jar >/dev/null
	@touch $@

demo: demo-setup
	$(PY) -m jobs demo

# The same, with the streams going through a local Kafka broker (started and stopped here).
demo-kafka: setup
	$(PY) -m jobs demo --kafka

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

# The executors' Python for a cluster with no checkout on its nodes (scripts/spark-submit
# ships it when LAKEHOUSE_EXECUTOR_ENV names it; devtools/executor_env.py says how).
executor-env: setup
	$(PY) -m devtools.executor_env --out dist

# The Airflow pools the DAGs' tasks run in (one slot each: one writer per table group).
airflow-pools: setup
	$(PY) -m lakecore.airflow_conf pools > build/airflow-pools.json
	$(VENV)/bin/airflow pools import build/airflow-pools.json

# JupyterLab on notebooks/ for analysts: the core install, the analyst extra and a
# kernel named "lakehouse" (this venv's Python, so pyspark, Delta jars and config).
KERNEL_NAME = lakehouse
$(STAMPS)/analyst.stamp: pyproject.toml $(CONSTRAINTS) $(STAMPS)/pip-core.stamp
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[analyst]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) \
	  --display-name "Lakehouse (PySpark 4.2 + Delta)"
	@touch $@

notebooks-lab: demo-setup $(STAMPS)/analyst.stamp
	$(VENV)/bin/jupyter lab --notebook-dir notebooks --ip 127.0.0.1

# Runs on ./lakehouse (after `make demo`) or on LAKEHOUSE_ROOT.
notebooks: setup
	$(PY) -m devtools.notebooks --html notebooks/html

unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# Benchmarks need the bench extra (DuckDB, matplotlib) on top of dev.
$(STAMPS)/bench.stamp: pyproject.toml $(STAMPS)/pip.stamp
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[dev,bench]"
	@touch $@

bench: setup $(STAMPS)/bench.stamp
	nice -n 10 $(PY) benchmarks/run.py $(BENCH_ARGS)

clean-lake:
	rm -rf lakehouse landing

clean: clean-lake
	rm -rf $(VENV) .jars $(STAMPS) build/target build/kafka/target .pytest_cache .ruff_cache
