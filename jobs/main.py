"""spark-submit entry point: `spark-submit jobs/main.py <job> [args]` == `python -m jobs run <job>`."""

import sys
from pathlib import Path

# spark-submit runs this file as a script: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] not in (
        "run",
        "list",
        "query",
        "tables",
        "demo",
        "health",
        "alert",
        "config",
    ):
        argv = ["run", *argv]
    sys.exit(main(argv))
