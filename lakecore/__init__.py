"""Platform core: typed config, the one SparkSession factory, Delta IO, run records, CLI."""
