"""Apache Kafka for tests: one KRaft node from Maven Central's jars on the machine's Java.

`kafka_classpath()` resolves the jars once (tests/servers/pom.xml, `mvn dependency:copy-
dependencies`) into a cache outside the checkout. A `KafkaBroker` keeps its log on disk in its
own directory, so `kill()` (SIGKILL) followed by `start()` is a real broker crash and recovery.
It is always stopped by its own PID, never by name.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from tests.servers.process import ServerUnavailable, free_port, kill_child, stop_child

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("pom.xml")
# The broker's own heap; a test run holds one shared broker plus, at times, one of a crash test.
HEAP = ["-Xms128m", "-Xmx512m"]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lrs-tests" / f"kafka-{KAFKA_VERSION}"


def kafka_classpath() -> str:
    """The broker's class path, resolving the jars with Maven the first time."""
    lib = cache_dir() / "lib"
    if not (lib / ".complete").exists():
        java, mvn = shutil.which("java"), shutil.which("mvn")
        if java is None or mvn is None:
            raise ServerUnavailable(
                "Apache Kafka for the tests needs Java 17+ and Maven (apt-get install "
                "openjdk-17-jre-headless maven); or run ./scripts/test --no-servers"
            )
        partial = lib.with_name("lib.partial")
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [
                mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServerUnavailable(
                f"resolving Kafka {KAFKA_VERSION}'s jars with Maven failed:\n"
                f"{done.stdout[-4000:]}{done.stderr[-4000:]}"
            )
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
        (lib / ".complete").touch()
    return str(lib / "*")


_LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


class KafkaBroker:
    """`with KafkaBroker(dir) as broker:` ... `broker.bootstrap`; `kill()`, `start()` again.

    The ports are chosen once, so a restarted broker answers where clients already look.
    """

    def __init__(self, directory: Path, *, timeout: float = 90) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller_port = free_port()
        self.timeout = timeout
        self.log_path = self.directory / "broker.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _configure(self, classpath: str) -> Path:
        properties = self.directory / "server.properties"
        if (self.directory / "log" / "meta.properties").exists():
            return properties  # formatted already: a restart on the same log
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.directory / 'log'}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=5",
                    "group.initial.rebalance.delay.ms=0",
                    # A 2-core machine: fewer threads than Kafka's defaults for a server.
                    "num.network.threads=2",
                    "num.io.threads=4",
                    "background.threads=4",
                    "",
                ]
            )
        )
        (self.directory / "log4j.properties").write_text(_LOG4J)
        # A cluster id is 16 random bytes in URL-safe base64 (what `StorageTool random-uuid`
        # prints, without a second JVM start). Like Kafka's own Uuid.randomUuid, never one
        # that starts with "-": StorageTool would read it as an option (1 start in 64 failed).
        cluster = "-"
        while cluster.startswith("-"):
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        done = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
             "-t", cluster, "-c", str(properties)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServerUnavailable(f"formatting Kafka's log failed:\n{done.stdout}{done.stderr}")
        return properties

    def start(self) -> None:
        """Start the broker (on its existing log, if any) and wait until it lists topics."""
        if self.running:
            return
        classpath = kafka_classpath()
        properties = self._configure(classpath)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "java", *HEAP, "-XX:+UseSerialGC",
                    f"-Dlog4j.configuration=file:{self.directory / 'log4j.properties'}",
                    "-cp", classpath, "kafka.Kafka", str(properties),
                ],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + self.timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise ServerUnavailable(
                    f"Kafka exited with {self.process.returncode}:\n{self.log()[-4000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerUnavailable(f"Kafka did not answer in {self.timeout}s")
            time.sleep(0.2)

    def _answers(self) -> bool:
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=[self.bootstrap], request_timeout_ms=2000,
                bootstrap_timeout_ms=2000,
            )  # fmt: skip
        except (KafkaError, OSError):
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), escalating to SIGKILL after 30 s."""
        process, self.process = self.process, None
        stop_child(process, grace=30)

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to flush or close anything."""
        process, self.process = self.process, None
        kill_child(process)

    def lose_disk(self) -> None:
        """A broker that lost its disk: stopped, its log deleted; `start()` formats a new one
        on the same ports (no topics, no committed offsets)."""
        self.kill()
        shutil.rmtree(self.directory / "log", ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

