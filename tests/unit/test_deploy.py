"""The shipped deployment examples (deploy/) parse and run the commands that exist."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import yaml

from jobs.cli import build_parser
from jobs.registry import registry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def parses(argv: list[str]) -> None:
    """The CLI accepts these arguments (argparse exits 2 otherwise)."""
    build_parser(registry()).parse_args(argv)


def test_systemd_unit_runs_the_supervised_stream_and_stops_it_with_sigterm():
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "systemd" / "lakehouse-stream@.service")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", "seller_risk_stream"))
    assert argv[0].endswith("/.venv/bin/lakehouse") and argv[1:3] == [
        "stream",
        "seller_risk_stream",
    ]
    parses([a.replace("${LAKEHOUSE_ENV}", "local") for a in argv[1:]])
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert int(service["TimeoutStopSec"]) >= 60
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_kubernetes_deployments_run_one_supervised_replica_with_a_health_probe():
    jobs = set()
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        (doc,) = list(yaml.safe_load_all(path.read_text()))
        assert doc["kind"] == "Deployment" and doc["apiVersion"] == "apps/v1", path
        spec = doc["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", path
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 60
        (container,) = pod["containers"]
        args = container["args"]
        assert args[0] == "stream", path
        parses(args)
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe[0].endswith("/lakehouse") and probe[1] == "health", path
        parses(probe[1:])
        assert probe[probe.index("--job") + 1] == args[1], path
        assert not any("SECRET" in str(e) or "ACCESS_KEY" in str(e) for e in container["env"])
        jobs.add(args[1])
    assert jobs == {"seller_risk_stream", "inventory_stream"}
