"""The embedded Apache Kafka 4.x (KRaft, combined broker+controller) from Maven Central jars:
one node for `ledger up`, or a cluster of N nodes (each broker and controller, replication
N, min.insync.replicas N-1) for tests that kill a broker under load."""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
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

# One node of a cluster: a static quorum of every node's controller, and every internal topic
# replicated to all nodes so that any one may die. A killed node is fenced (its partitions
# led by another) after broker.session.timeout.ms, shortened from 9 s.
CLUSTER_NODE_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dirs}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor={replicas}
min.insync.replicas={min_isr}
unclean.leader.election.enable=false
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=3
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
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
    _ports: tuple[int, ...] = field(default=(), repr=False)
    _relaunch: Callable[[], KafkaService] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def restart(self) -> None:
        """Start the crashed broker again with the same data and ports."""
        assert self._relaunch is not None
        deadline = time.monotonic() + 30
        while not all(port_is_free(p) for p in self._ports):
            if time.monotonic() > deadline:
                raise InfraError(f"Kafka's ports {self._ports} stay taken")
            time.sleep(0.5)
        fresh = self._relaunch()
        self.process, self.log_file, self._log_handle = (fresh.process, fresh.log_file,
                                                         fresh._log_handle)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no controlled shutdown, no leadership handed over."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

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


# For throwaway test clusters: the client-grade JIT and one GC thread start a node several
# seconds sooner on a small machine, three nodes at once.
QUICK_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:CICompilerCount=1")


def _java_command(args: list[str], kafka_log: Path, heap: str | None = None,
                  quick: bool = False) -> list[str]:
    cmd = ["java"]
    if quick:
        cmd += [*QUICK_JVM, *([f"-Xmx{heap}", f"-Xms{heap}"] if heap else [])]
    elif heap:
        cmd += [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
    cmd += ["-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dledger.kafka.log={kafka_log}", "-cp", f"{LIB_DIR}/*"]
    return cmd + args


def _format(props: Path, kafka_log: Path, cluster_id: str, *extra: str, quick: bool = False
            ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _java_command(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                       *extra], kafka_log, quick=quick),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _formatted(proc: subprocess.Popen[str]) -> None:
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise InfraError(f"formatting Kafka storage failed:\n{output}")


def _copy_format(formatted: Path, target: Path, node_id: int) -> None:
    """What `kafka-storage format` writes for another node of the same cluster: the same
    bootstrap metadata (feature levels), its own node and directory ids. One JVM formats the
    first node instead of one per node, seconds sooner on a small machine."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(formatted / "bootstrap.checkpoint", target / "bootstrap.checkpoint")
    meta = {}
    for line in (formatted / "meta.properties").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            meta[key] = value
    meta |= {"node.id": str(node_id), "directory.id": _cluster_id()}
    (target / "meta.properties").write_text("".join(f"{k}={v}\n" for k, v in meta.items()))


def _cluster_id() -> str:
    """What `kafka-storage random-uuid` prints (base64url, no padding), without a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _launch(home: Path, props: Path, port: int, heap: str, ports: tuple[int, ...],
            relaunch: Callable[[], KafkaService], quick: bool = False) -> KafkaService:
    kafka_log = home / "server.log"
    out = open(home / "stdout.log", "ab")  # noqa: SIM115 - owned by the service for its lifetime
    proc = subprocess.Popen(_java_command(["kafka.Kafka", str(props)], kafka_log, heap, quick),
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    return KafkaService(bootstrap=f"127.0.0.1:{port}", process=proc, log_file=kafka_log,
                        _log_handle=out, _ports=ports, _relaunch=relaunch)


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
    if not (logs / "meta.properties").exists():
        _formatted(_format(props, home / "server.log", _cluster_id(), "--standalone"))
    service = _launch(home, props, port, heap, (port, controller_port),
                      lambda: start_embedded(data_dir, port, controller_port, heap))
    try:
        wait_ready(service.bootstrap, ready_timeout, service.process)
    except BaseException:
        service.stop()
        raise
    return service


@dataclass
class KafkaCluster:
    """N combined broker+controller nodes (node ids 1..N); any one may be killed and restarted
    while the others keep a controller quorum and, with min.insync.replicas N-1, accept
    writes acknowledged by all in-sync replicas."""

    nodes: list[KafkaService]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> KafkaService:
        return self.nodes[node_id - 1]

    def kill(self, node_id: int) -> None:
        self.node(node_id).kill()

    def restart(self, node_id: int, ready_timeout: float = 60.0) -> None:
        node = self.node(node_id)
        node.restart()
        wait_ready(node.bootstrap, ready_timeout, node.process, brokers=len(self.nodes))

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()  # throwaway data: no controlled shutdown to wait for


def start_cluster(data_dir: Path, nodes: int = 3, heap: str = "256m",
                  ready_timeout: float = 90.0) -> KafkaCluster:
    """Format and start a fresh cluster under data_dir on free ports (for tests)."""
    require_tools()
    fetch_jars()
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    voters = ",".join(f"{i}@127.0.0.1:{cport}" for i, (_, cport) in enumerate(ports, 1))
    cluster_id = _cluster_id()
    homes = []
    for node_id, (port, cport) in enumerate(ports, 1):
        home = (data_dir / f"kafka-{node_id}").resolve()
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text(CLUSTER_NODE_PROPERTIES.format(
            node_id=node_id, voters=voters, port=port, controller_port=cport,
            log_dirs=home / "data", replicas=nodes, min_isr=max(1, nodes - 1)))
        homes.append((home, props))
    first = homes[0][0]
    _formatted(_format(homes[0][1], first / "server.log", cluster_id, quick=True))
    for node_id, (home, _) in enumerate(homes[1:], 2):
        _copy_format(first / "data", home / "data", node_id)

    def launcher(home: Path, props: Path, port: int, cport: int) -> Callable[[], KafkaService]:
        return lambda: _launch(home, props, port, heap, (port, cport),
                               launcher(home, props, port, cport), quick=True)

    cluster = KafkaCluster([launcher(home, props, port, cport)()
                            for (home, props), (port, cport) in zip(homes, ports, strict=True)])
    try:
        for node in cluster.nodes:
            wait_ready(node.bootstrap, ready_timeout, node.process, brokers=nodes)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def wait_ready(bootstrap: str, timeout: float = 60.0,
               proc: subprocess.Popen[bytes] | None = None, brokers: int = 1) -> None:
    """Ready means a real metadata request answered by a broker that knows `brokers` of them."""
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
                if len(admin.describe_cluster().get("brokers") or []) >= brokers:
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


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int = -1
                 ) -> None:
    """Create the event topic with unlimited retention and no compaction (idempotent).

    replication_factor -1 takes the cluster's default.replication.factor (1 on the embedded
    broker; what the operator chose on an existing cluster)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, partitions, replication_factor, topic_configs={
                "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"})])
    finally:
        admin.close()
