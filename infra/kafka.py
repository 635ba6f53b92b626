"""The embedded Apache Kafka 4.x (KRaft, combined broker+controller) from Maven Central jars."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import InfraError

log = logging.getLogger(__name__)

INFRA_DIR = Path(__file__).resolve().parent
POM = INFRA_DIR / "pom.xml"
LIB_DIR = INFRA_DIR / "target" / "lib"
LOG4J = INFRA_DIR / "log4j2.properties"

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dirs}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.retention.hours=-1
"""


def require_tools() -> None:
    if shutil.which("java") is None:
        raise InfraError("Java 17+ is needed to run Apache Kafka: install a JDK or JRE "
                         "(e.g. apt-get install openjdk-17-jre-headless).")


def fetch_jars() -> Path:
    """Copy the Kafka jars from Maven Central (cached in ~/.m2) into infra/target/lib."""
    marker = LIB_DIR / ".fetched"
    if marker.exists() and marker.stat().st_mtime >= POM.stat().st_mtime:
        return LIB_DIR
    if shutil.which("mvn") is None:
        raise InfraError("Maven is needed to fetch the Kafka jars: apt-get install maven.")
    log.info("fetching Apache Kafka jars with Maven (first run only)")
    result = subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise InfraError(f"mvn could not fetch the Kafka jars:\n{result.stdout[-3000:]}")
    marker.touch()
    return LIB_DIR


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class KafkaService:
    bootstrap: str
    process: subprocess.Popen[bytes] | None = None
    log_file: Path | None = None
    _log_handle: object = field(default=None, repr=False)
    _start: tuple[Path, int, int, str] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def restart(self) -> None:
        """Start the crashed broker again with the same data and ports."""
        assert self._start is not None
        data_dir, port, controller_port, heap = self._start
        deadline = time.monotonic() + 30
        while not (port_is_free(port) and port_is_free(controller_port)):
            if time.monotonic() > deadline:
                raise InfraError(f"Kafka's ports {port}/{controller_port} stay taken")
            time.sleep(0.5)
        fresh = start_embedded(data_dir, port, controller_port, heap)
        self.process, self.log_file, self._log_handle = (fresh.process, fresh.log_file,
                                                         fresh._log_handle)

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("Kafka did not stop in %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()
        self.process = None


def _java_command(args: list[str], kafka_log: Path, heap: str | None = None) -> list[str]:
    cmd = ["java"]
    if heap:
        cmd += [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
    cmd += ["-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dledger.kafka.log={kafka_log}", "-cp", f"{LIB_DIR}/*"]
    return cmd + args


def start_embedded(data_dir: Path, port: int, controller_port: int, heap: str = "512m",
                   ready_timeout: float = 90.0) -> KafkaService:
    """Format (once) and start a single-node KRaft Kafka whose data lives in data_dir/kafka."""
    require_tools()
    fetch_jars()
    for p in (port, controller_port):
        if not port_is_free(p):
            raise InfraError(f"port {p} on 127.0.0.1 is taken: stop what uses it, or set "
                             "LEDGER_KAFKA_BOOTSTRAP to use a running Kafka instead.")
    home = (data_dir / "kafka").resolve()
    logs = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(SERVER_PROPERTIES.format(port=port, controller_port=controller_port,
                                              log_dirs=logs))
    kafka_log = home / "server.log"
    if not (logs / "meta.properties").exists():
        cluster_id = subprocess.run(
            _java_command(["kafka.tools.StorageTool", "random-uuid"], kafka_log),
            capture_output=True, text=True, check=True).stdout.strip()
        result = subprocess.run(
            _java_command(["kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                           "-c", str(props)], kafka_log), capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    out = open(home / "stdout.log", "ab")  # noqa: SIM115 - owned by the service for its lifetime
    proc = subprocess.Popen(_java_command(["kafka.Kafka", str(props)], kafka_log, heap),
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    service = KafkaService(bootstrap=f"127.0.0.1:{port}", process=proc, log_file=kafka_log,
                           _log_handle=out, _start=(data_dir, port, controller_port, heap))
    try:
        wait_ready(service.bootstrap, ready_timeout, proc)
    except BaseException:
        service.stop()
        raise
    return service


def wait_ready(bootstrap: str, timeout: float = 60.0,
               proc: subprocess.Popen[bytes] | None = None) -> None:
    """Ready means a real metadata request answered by a broker."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise InfraError(f"Kafka exited with code {proc.returncode} while starting; "
                             "see its server.log")
        if not _accepts_connections(bootstrap):
            time.sleep(0.3)
            continue
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
            try:
                if admin.describe_cluster().get("brokers"):
                    return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as err:
            last = err
        time.sleep(0.5)
    raise InfraError(f"Kafka at {bootstrap} did not become ready in {timeout:.0f}s: {last}")


def _accepts_connections(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the event topic with unlimited retention and no compaction (idempotent)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={
                "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"})])
    finally:
        admin.close()
