"""The platform's jobs: one module per job (`SPEC`), the registry, the CLI and the demo.

Importing this package imports nothing else: the scheduler reads job metadata
from the modules' source (lakecore.jobmeta) without importing pyspark.
"""
