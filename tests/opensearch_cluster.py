"""A real three-node OpenSearch cluster on 127.0.0.1, for the tests and for ``make opensearch``.

The official distribution (``org.opensearch.distribution.integ-test-zip:opensearch``, a zip that
runs on the machine's Java, with no bundled JDK and no plugins, so no security plugin) is fetched
once through Maven Central with ``mvn dependency:copy`` into ``.cache/opensearch/`` and unpacked
there. Each node gets its own ports, config, data and log folders under one run folder, and runs
as an unprivileged system user when started by root (OpenSearch refuses to run as root).

The nodes are started with ``java`` directly rather than through ``bin/opensearch``: the shell
launcher starts two more JVMs per node (a temp-dir finder and a jvm.options parser) before the
node itself, which on a shared two-core machine is seconds of CPU for nothing. The JVM flags are
chosen for a small, quick test cluster (C1 only, serial GC, one processor per node); a production
cluster is configured by its operators, not by this module.

    python tests/opensearch_cluster.py start    # prints the node URLs; state in the run folder
    python tests/opensearch_cluster.py stop     # stops the nodes by their process ids
    python tests/opensearch_cluster.py status

Only the standard library is used, so the script runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "2.19.6"
ARTIFACT = f"org.opensearch.distribution.integ-test-zip:opensearch:{VERSION}:zip"
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ZHSEARCH_OPENSEARCH_CACHE", ROOT / ".cache" / "opensearch"))
# Where the distribution is unpacked when the system user cannot read CACHE (a clone under a
# private home folder).
SHARED_CACHE = Path("/var/tmp/zhsearch-opensearch")
# The run folder of ``make opensearch`` (the tests use a fresh temporary one per session).
DEFAULT_RUN_DIR = CACHE / "run"
SYSTEM_USER = "opensearch"
HEAP = os.environ.get("ZHSEARCH_OPENSEARCH_HEAP", "512m")
NODES = 3
# OpenSearch 2.19 runs on Java 11 to 23 (Java 24 removed the security manager it installs).
JAVA_VERSIONS = range(11, 24)

# Small and quick rather than fast: C1 only and a serial collector keep compile and GC threads
# from competing for two shared cores; the heap is fixed so the nodes never resize it.
JVM_FLAGS = [
    f"-Xms{HEAP}",
    f"-Xmx{HEAP}",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:ActiveProcessorCount=1",
    "-Xss1m",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
    "-Djava.locale.providers=SPI,COMPAT",
    "-Djava.security.manager=allow",
    "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
    "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory",
]

LOG4J = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:opensearch.logs.base_path}${sys:file.separator}opensearch.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = error
"""


class ClusterUnavailable(RuntimeError):
    """What this machine lacks to run the cluster (no Java, no Maven): a reason to skip."""


class ClusterFailed(RuntimeError):
    """The cluster was tried and did not come up: never a reason to skip."""


def java_command() -> str:
    """The ``java`` to run OpenSearch with (``OPENSEARCH_JAVA_HOME``, else the one on PATH)."""
    home = os.environ.get("OPENSEARCH_JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ClusterUnavailable("no Java on this machine (OpenSearch needs Java 11 to 23)")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not match:
        raise ClusterUnavailable(f"cannot read the version of {java}: {result.stderr.strip()}")
    major = int(match.group(1))
    if major == 1:  # "1.8.0" is Java 8
        major = int(match.group(2) or 0)
    if major not in JAVA_VERSIONS:
        raise ClusterUnavailable(
            f"{java} is Java {major}; OpenSearch {VERSION} needs Java 11 to 23"
            " (set OPENSEARCH_JAVA_HOME to one)"
        )
    return java


def distribution(cache: Path = CACHE) -> Path:
    """The unpacked distribution's home folder, fetched through Maven Central the first time."""
    home = cache / f"opensearch-{VERSION}"
    if _jar(home).exists():
        return home
    archive = cache / f"opensearch-{VERSION}.zip"
    cache.mkdir(parents=True, exist_ok=True)
    if not archive.exists() and (CACHE / archive.name).exists():
        shutil.copyfile(CACHE / archive.name, archive)
    if not archive.exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ClusterUnavailable(
                f"no Maven (mvn) to fetch OpenSearch {VERSION}, and no copy in {cache}"
            )
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}",
             f"-DoutputDirectory={cache}"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not archive.exists():
            raise ClusterFailed(f"mvn could not fetch {ARTIFACT}:\n{result.stdout[-2000:]}")
    # Unpack beside the archive, then rename: an interrupted unpack never looks complete.
    partial = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache))
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(partial)
    os.chmod(partial, 0o755)
    (partial / f"opensearch-{VERSION}").rename(home)
    shutil.rmtree(partial)
    return home


def system_user() -> tuple[int, int] | None:
    """The (uid, gid) to run the nodes as: a system user when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SYSTEM_USER],
            check=True, capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Cluster:
    """Nodes of one cluster started by :func:`start`: their URLs, process ids and run folder."""

    run_dir: Path
    urls: list[str]
    pids: list[int]
    started_in: float = 0.0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    # How each node was started, and as whom: what restart() needs (this process only).
    commands: list[list[str]] = field(default_factory=list, repr=False)
    owner: tuple[int, int] | None = None

    def spawn(self, number: int) -> subprocess.Popen[bytes]:
        """Start node ``number`` (its output appended to its stdout.log)."""
        owner, node_dir = self.owner, self.run_dir / f"node-{number}"
        with open(node_dir / "stdout.log", "ab") as out:
            return subprocess.Popen(
                self.commands[number], cwd=node_dir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                user=owner[0] if owner else None, group=owner[1] if owner else None,
                extra_groups=[] if owner else None,
                env={k: v for k, v in os.environ.items() if not k.startswith("OPENSEARCH_")},
            )

    def kill(self, number: int) -> None:
        """Kill node ``number`` at once (SIGKILL), as a crashed machine would go."""
        _signal(self.pids[number], signal.SIGKILL)
        self.processes[number].wait()

    def restart(self, number: int, timeout: float = 120.0) -> None:
        """Start node ``number`` again, on its data, and wait until the cluster is green with
        every node."""
        process = self.spawn(number)
        self.processes[number], self.pids[number] = process, process.pid
        _wait_green(self, len(self.pids), time.monotonic() + timeout)

    def save(self) -> None:
        state = {"urls": self.urls, "pids": self.pids, "started_in": self.started_in}
        (self.run_dir / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Cluster:
        state = json.loads((run_dir / "cluster.json").read_text())
        return cls(run_dir, state["urls"], state["pids"], state["started_in"])

    def alive(self) -> list[int]:
        """The process ids of the nodes still running."""
        living = []
        for number, pid in enumerate(self.pids):
            if number < len(self.processes):
                if self.processes[number].poll() is None:
                    living.append(pid)
            elif _pid_alive(pid):
                living.append(pid)
        return living

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node by its process id: SIGTERM, then SIGKILL after ``timeout``."""
        for pid in self.alive():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.alive():
            _signal(pid, signal.SIGKILL)
        for process in self.processes:
            process.wait()

    def log_tail(self, node: int, lines: int = 30) -> str:
        log = self.run_dir / f"node-{node}" / "logs" / "opensearch.log"
        out = self.run_dir / f"node-{node}" / "stdout.log"
        text = "".join(p.read_text(errors="replace") for p in (out, log) if p.exists())
        return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not a running node.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _node_config(number: int, http_ports: list[int], transport_ports: list[int],
                 node_dir: Path) -> str:
    seeds = ", ".join(f'"127.0.0.1:{port}"' for port in transport_ports)
    names = ", ".join(f'"node-{n}"' for n in range(len(http_ports)))
    return f"""\
cluster.name: zhsearch-test
node.name: node-{number}
path.data: {node_dir / "data"}
path.logs: {node_dir / "logs"}
network.host: 127.0.0.1
http.port: {http_ports[number]}
transport.port: {transport_ports[number]}
discovery.seed_hosts: [{seeds}]
cluster.initial_cluster_manager_nodes: [{names}]
# One processor per node: small thread pools, so three nodes share two cores politely.
node.processors: 1
# The test machine's disk may be nearly full for reasons of its own: allocate shards anyway.
cluster.routing.allocation.disk.threshold_enabled: false
bootstrap.memory_lock: false
"""


def start(run_dir: Path | None = None, nodes: int = NODES, timeout: float = 180.0) -> Cluster:
    """Start ``nodes`` nodes on 127.0.0.1 and wait for a green cluster of all of them."""
    java = java_command()
    home = distribution()
    owner = system_user()
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="zhsearch-opensearch-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    http_ports = free_ports(nodes)
    transport_ports = free_ports(nodes)
    for number in range(nodes):
        node_dir = run_dir / f"node-{number}"
        if node_dir.exists():
            shutil.rmtree(node_dir)
        config = node_dir / "config"
        for sub in ("config", "data", "logs", "tmp"):
            (node_dir / sub).mkdir(parents=True)
        (config / "opensearch.yml").write_text(
            _node_config(number, http_ports, transport_ports, node_dir)
        )
        (config / "log4j2.properties").write_text(LOG4J)
    if owner is not None:
        for path in [run_dir, *run_dir.rglob("*")]:
            os.chown(path, *owner)
        if not _readable_by(_jar(home), owner):
            SHARED_CACHE.mkdir(parents=True, exist_ok=True)
            SHARED_CACHE.chmod(0o755)
            home = distribution(SHARED_CACHE)
        for path in (_jar(home), run_dir / "node-0" / "config" / "opensearch.yml"):
            if not _readable_by(path, owner):
                raise ClusterFailed(f"user {SYSTEM_USER!r} cannot read {path}")
    began = time.monotonic()
    cluster = Cluster(run_dir, [f"http://127.0.0.1:{port}" for port in http_ports], [])
    for number in range(nodes):
        node_dir = run_dir / f"node-{number}"
        cluster.commands.append([
            java, *JVM_FLAGS,
            f"-Djava.io.tmpdir={node_dir / 'tmp'}",
            f"-XX:ErrorFile={node_dir / 'logs' / 'hs_err_pid%p.log'}",
            f"-Dopensearch.path.home={home}",
            f"-Dopensearch.path.conf={node_dir / 'config'}",
            "-Dopensearch.distribution.type=zip",
            "-Dopensearch.bundled_jdk=false",
            "-cp", f"{home / 'lib'}/*",
            "org.opensearch.bootstrap.OpenSearch",
        ])
        cluster.owner = owner
        process = cluster.spawn(number)
        cluster.processes.append(process)
        cluster.pids.append(process.pid)
    try:
        _wait_green(cluster, nodes, began + timeout)
    except BaseException:
        cluster.stop()
        raise
    cluster.started_in = round(time.monotonic() - began, 1)
    cluster.save()
    return cluster


def _jar(home: Path) -> Path:
    return home / "lib" / f"opensearch-{VERSION}.jar"


def _readable_by(path: Path, owner: tuple[int, int]) -> bool:
    """Whether ``owner`` can read ``path`` (asked as that user: os.access answers for us)."""
    result = subprocess.run(["test", "-r", str(path)], user=owner[0], group=owner[1],
                            extra_groups=[], check=False)
    return result.returncode == 0


def _wait_green(cluster: Cluster, nodes: int, deadline: float) -> None:
    url = f"{cluster.urls[0]}/_cluster/health?wait_for_nodes={nodes}&wait_for_status=green"
    while True:
        dead = [n for n, p in enumerate(cluster.processes) if p.poll() is not None]
        if dead:
            raise ClusterFailed(
                f"OpenSearch node-{dead[0]} exited with status"
                f" {cluster.processes[dead[0]].returncode}:\n{cluster.log_tail(dead[0])}"
            )
        if time.monotonic() > deadline:
            raise ClusterFailed(f"no green cluster of {nodes} nodes in time:\n"
                                f"{cluster.log_tail(0)}")
        try:
            with urllib.request.urlopen(f"{url}&timeout=2s", timeout=5) as response:
                health = json.load(response)
            if not health.get("timed_out") and health.get("number_of_nodes") == nodes:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    parser.add_argument("--nodes", type=int, default=NODES)
    args = parser.parse_args(argv)
    try:
        if args.action == "fetch":
            print(distribution())
        elif args.action == "start":
            if (args.run_dir / "cluster.json").exists() and Cluster.load(args.run_dir).alive():
                print(f"already running: {args.run_dir / 'cluster.json'}", file=sys.stderr)
                return 1
            cluster = start(args.run_dir, args.nodes)
            print(f"green in {cluster.started_in} s: ZHSEARCH_OPENSEARCH_URL="
                  + ",".join(cluster.urls))
        elif args.action == "stop":
            if not (args.run_dir / "cluster.json").exists():
                print("not running", file=sys.stderr)
                return 1
            Cluster.load(args.run_dir).stop()
            (args.run_dir / "cluster.json").unlink()
        else:
            if not (args.run_dir / "cluster.json").exists():
                print("not running")
                return 1
            cluster = Cluster.load(args.run_dir)
            print(json.dumps({"urls": cluster.urls, "alive": cluster.alive()}))
    except (ClusterUnavailable, ClusterFailed) as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
