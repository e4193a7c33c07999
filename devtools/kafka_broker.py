"""A real single-node Kafka broker (KRaft, combined broker + controller) from Maven jars.

No Docker: the jars `make setup` resolved into `.jars/kafka` (build/kafka/pom.xml)
run as `kafka.tools.StorageTool format` then `kafka.Kafka server.properties`, on
127.0.0.1, free ports and a data directory of the caller's choosing. Used by the
streaming tests (a pytest fixture) and by hand:

    scripts/kafka start [--dir DIR] [--port N]    # prints the bootstrap servers
    scripts/kafka status [--dir DIR]
    scripts/kafka stop [--dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lakecore.config import PROJECT_ROOT

JARS = PROJECT_ROOT / ".jars" / "kafka"
DEFAULT_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "lakehouse-kafka"
STATE_FILE = "broker.json"
READY_LINE = "Kafka Server started"


class KafkaBrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64, no padding.

    Like Kafka's own ``Uuid.randomUuid()``, an id starting with ``-`` is drawn
    again: the storage tool's argument parser would read it as an option
    (one start in 64 failed with "argument --cluster-id/-t: expected one argument").
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class KafkaBroker:
    """One broker process; its state (pid, ports) lives in `<data_dir>/broker.json`."""

    data_dir: Path = DEFAULT_DIR
    port: int | None = None
    heap: str = "512m"

    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def state(self) -> dict | None:
        """The running broker's pid and addresses, or None when none is running here."""
        if not self.state_file.is_file():
            return None
        state = json.loads(self.state_file.read_text())
        return state if _pid_alive(state["pid"]) else None

    @property
    def bootstrap_servers(self) -> str:
        state = self.state()
        if state is None:
            raise KafkaBrokerError(f"no Kafka broker running in {self.data_dir}")
        return state["bootstrap_servers"]

    def _properties(self, port: int, controller_port: int) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir / 'logs'}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Topics are created explicitly (tests and scripts), never by a typo.
                "auto.create.topics.enable=false",
                "",
            ]
        )

    def _java(self, *args: str) -> list[str]:
        if not any(JARS.glob("kafka_2.13-*.jar")):
            raise KafkaBrokerError(f"Kafka jars not found in {JARS}: run `make setup`")
        log4j = self.data_dir / "log4j2.properties"
        return [
            "java",
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{JARS}/*",
            *args,
        ]

    def start(self, timeout: float = 90.0, owner_pid: int | None = None) -> str:
        """Format a fresh data dir and start the broker; return the bootstrap servers.

        With `owner_pid`, a watchdog stops the broker when that process dies, even
        by SIGKILL (a killed test run leaves no broker behind).
        """
        if self.state() is not None:
            raise KafkaBrokerError(f"a Kafka broker is already running in {self.data_dir}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port, controller_port = self.port or free_port(), free_port()
        props = self.data_dir / "server.properties"
        props.write_text(self._properties(port, controller_port))
        (self.data_dir / "log4j2.properties").write_text(
            "rootLogger.level = INFO\nrootLogger.appenderRef.out.ref = out\n"
            "appender.out.type = Console\nappender.out.name = out\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = INFO\n"
            "logger.apache.name = org.apache.kafka\nlogger.apache.level = WARN\n"
        )
        fmt = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            _cluster_id(),
            "-c",
            str(props),
            "--ignore-formatted",
        )
        done = subprocess.run(fmt, capture_output=True, text=True)
        if done.returncode != 0:
            raise KafkaBrokerError(f"kafka storage format failed: {done.stderr or done.stdout}")
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            self._java("kafka.Kafka", str(props)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the caller's terminal does not kill it
        )
        servers = f"127.0.0.1:{port}"
        if owner_pid is not None:
            watchdog = (
                f"while kill -0 {owner_pid} 2>/dev/null && kill -0 {proc.pid} 2>/dev/null; "
                f"do sleep 1; done; kill {proc.pid} 2>/dev/null; sleep 20; kill -9 {proc.pid} 2>/dev/null"
            )
            subprocess.Popen(["sh", "-c", watchdog], start_new_session=True)
        self.state_file.write_text(
            json.dumps(
                {"pid": proc.pid, "bootstrap_servers": servers, "controller_port": controller_port}
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise KafkaBrokerError(
                    f"Kafka broker exited with {proc.returncode}; log: {self.log_file}\n{self._tail()}"
                )
            if READY_LINE in self.log_file.read_text(errors="replace"):
                return servers
            time.sleep(0.5)
        self.stop()
        raise KafkaBrokerError(
            f"Kafka broker not ready after {timeout}s; log: {self.log_file}\n{self._tail()}"
        )

    def _tail(self, lines: int = 20) -> str:
        if not self.log_file.is_file():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def create_topic(self, name: str, partitions: int = 4) -> None:
        """Create `name` with `partitions` partitions unless it exists (Kafka's TopicCommand)."""
        cmd = self._java(
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            self.bootstrap_servers,
            "--create",
            "--if-not-exists",
            "--topic",
            name,
            "--partitions",
            str(partitions),
            "--replication-factor",
            "1",
        )
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise KafkaBrokerError(
                f"could not create topic {name}: {(done.stderr or done.stdout).strip()[-2000:]}"
            )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after `timeout`); False if none was running."""
        state = self.state()
        if state is None:
            self.state_file.unlink(missing_ok=True)
            return False
        pid = state["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.state_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "status", "topic"))
    parser.add_argument("topic", nargs="?", help="topic: the topic to create")
    parser.add_argument("--partitions", type=int, default=4, help="topic: partitions (4)")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"data directory ({DEFAULT_DIR})"
    )
    parser.add_argument("--port", type=int, default=None, help="broker port (default: a free one)")
    args = parser.parse_args(argv)
    broker = KafkaBroker(args.dir, args.port)
    try:
        if args.command == "start":
            print(broker.start())
        elif args.command == "topic":
            if not args.topic:
                parser.error("topic: give the topic's name")
            broker.create_topic(args.topic, args.partitions)
            print(
                f"topic {args.topic} ({args.partitions} partitions) on {broker.bootstrap_servers}"
            )
        elif args.command == "stop":
            print("stopped" if broker.stop() else f"no broker running in {args.dir}")
        else:
            state = broker.state()
            print(
                f"running: {state['bootstrap_servers']} (pid {state['pid']})"
                if state
                else "not running"
            )
            return 0 if state else 3
    except KafkaBrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
