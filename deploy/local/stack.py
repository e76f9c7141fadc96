#!/usr/bin/env python3
"""Install, start, check and stop a local PostgreSQL, a Kafka broker or cluster (KRaft) and the
identity provider (Keycloak, with the DTKS realm of ``deploy/keycloak``).

No Docker engine runs on the machines this project is built on, so the infrastructure runs as
plain local processes: PostgreSQL from Debian's package (as the ``postgres`` user, in a data
directory of ours) and Apache Kafka from its jars on Maven Central (resolved through the pinned
``pom.xml`` beside this file). Standard library only: this runs before any virtualenv exists.

The first start picks free ports, keeps all state under one folder (``--state-dir``) and writes the
values it started into ``<state-dir>/env``, a file a shell can ``source`` and make can ``include``.
A second start finds the running processes and changes nothing. A server started again (after a
crash, a stop or a restart) comes back on the ports remembered there, so running services keep
their addresses; if another process took such a port meanwhile, start stops and says so rather
than move the server behind the services' backs.

    stack.py install                          # PostgreSQL binaries, the Kafka jars, Keycloak (built once)
    stack.py start   --state-dir .dtks        # idempotent; starts whatever is down
    stack.py start   --state-dir .dtks --components postgres,kafka,keycloak   # with the identity provider
    stack.py status  --state-dir .dtks        # exit 0 only if all it started answer
    stack.py restart postgres|kafka --state-dir .dtks   # stop one and start it on its port
    stack.py start --kafka-brokers 3      # (or DTKS_KAFKA_BROKERS=3) a KRaft cluster of three brokers
    stack.py broker kill|start 2 --state-dir .dtks      # SIGKILL one broker / start it again
    stack.py stop    [postgres|kafka] --state-dir .dtks # ends what start started (or only one)

    stack.py start --kafka-auth scram     # (or DTKS_KAFKA_AUTH=scram) the broker as production runs it:
                                          # SASL/SCRAM-SHA-512 logins, ACLs, nothing for strangers

With ``--kafka-auth scram`` the broker's only client listener is SASL_PLAINTEXT with SCRAM-SHA-512
and the StandardAuthorizer denies whatever no ACL allows. Each service gets a SCRAM login of its own
name, created at format time, and ACLs (see ``service_acls``): it may write only its own topics
(``dtks.<service>.*``), read the topics it consumes, use its consumer groups (``<service>*``) and its
dead-letter and retry topics. ``admin`` is the super user (the broker itself and operators' tools).
The passwords are random per state folder, in ``<state-dir>/kafka/credentials.json``; the env file
names the admin login (DTKS_KAFKA_USERNAME/PASSWORD), so tools run from it act as the operator,
while each service is started with its own. A state folder keeps the mode it was formatted with.

With ``--kafka-brokers 3`` Kafka runs as a cluster: three processes, each broker and controller
(a static quorum of three voters), each on its own free ports with its own data under
``kafka/broker-<i>``. The cluster's defaults follow its size (``replication_for``): topics get three
replicas and ``min.insync.replicas=2``, so with the producers' ``acks=all`` one broker may die without
an acknowledged write being lost or a write refused. The env file lists every broker in
DTKS_KAFKA_BOOTSTRAP. The default stays one broker (replication 1) for ``make run`` and the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KAFKA_VERSION = "4.1.1"  # keep in step with pom.xml
CACHE_DIR = Path(os.environ.get("DTKS_CACHE_DIR", Path.home() / ".cache" / "dtks"))
KAFKA_LIB = CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "lib"
PG_MAJOR_PREFERRED = "15"


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class PortTaken(Exception):
    """A remembered port is held by another process: the server is not moved silently."""


def remembered_port(env: dict[str, str], var: str, what: str, state: Path) -> int:
    """The port ``var`` of the state folder's env if one is remembered and free, else 0 (none yet).

    The services were started with this address; a server that came back elsewhere would leave them
    calling the old one forever, so a taken port is an error an operator must resolve."""
    port = int(env.get(var, "0"))
    if port and port_open(port):
        raise PortTaken(
            f"{what} must come back on 127.0.0.1:{port} ({var} in {state / 'env'}), the address the "
            f"running services use, but another process now listens there. Stop that process (e.g. "
            f"`ss -ltnp 'sport = :{port}'` names it) and start again; or, when nothing uses the old "
            f"address, delete the {var} line from {state / 'env'} to take a new port."
        )
    return port


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------- install


def pg_bindir() -> Path | None:
    preferred = Path(f"/usr/lib/postgresql/{PG_MAJOR_PREFERRED}/bin")
    if (preferred / "initdb").exists():
        return preferred
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def install_postgres() -> Path:
    bindir = pg_bindir()
    if bindir:
        return bindir
    log("PostgreSQL server binaries missing: installing Debian's postgresql package")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env)
    bindir = pg_bindir()
    if not bindir:
        sys.exit("PostgreSQL installed but no initdb found under /usr/lib/postgresql")
    return bindir


def install_kafka() -> Path:
    marker = KAFKA_LIB / ".complete"
    if marker.exists():
        return KAFKA_LIB
    for tool in ("java", "mvn"):
        if not shutil.which(tool):
            log(f"{tool} missing: installing from Debian's packages")
            pkg = "openjdk-17-jre-headless" if tool == "java" else "maven"
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-q", pkg], check=True, env=env)
    log(f"resolving Kafka {KAFKA_VERSION} jars from Maven Central into {KAFKA_LIB}")
    KAFKA_LIB.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(HERE / "pom.xml"),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={KAFKA_LIB}",
        ],
        check=True,
    )
    marker.write_text(KAFKA_VERSION)
    return KAFKA_LIB


def install_chromium() -> Path:
    """Debian's Chromium, which the console's browser tests drive through Playwright (Playwright's
    own browser download is not reachable from the machines this project runs on)."""
    browser = Path("/usr/bin/chromium")
    if browser.exists():
        return browser
    log("Chromium missing: installing Debian's chromium package (for the console's browser tests)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env)
    if not browser.exists():
        sys.exit("chromium installed but /usr/bin/chromium is missing")
    return browser


def cmd_install(_: argparse.Namespace) -> None:
    bindir = install_postgres()
    lib = install_kafka()
    log(f"PostgreSQL binaries: {bindir}")
    log(f"Kafka jars: {lib} ({len(list(lib.glob('*.jar')))} jars)")
    log(f"Keycloak: {install_keycloak()}")
    log(f"Chromium: {install_chromium()}")


# ---------------------------------------------------------------- postgres


def as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as any other user it runs as that user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def chown_postgres(*paths: Path) -> None:
    if os.geteuid() == 0:
        for p in paths:
            shutil.chown(p, user="postgres")


def start_postgres(state: Path, env: dict[str, str]) -> dict[str, str]:
    bindir = install_postgres()
    data, run = state / "pg", state / "pg-run"
    url = env.get("DTKS_DATABASE_URL")
    port = int(env.get("DTKS_PG_PORT", "0"))
    if port and (data / "postmaster.pid").exists() and port_open(port):
        log(f"PostgreSQL already running on 127.0.0.1:{port}")
        return {"DTKS_PG_PORT": str(port), "DTKS_DATABASE_URL": url or pg_url(port)}
    data.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    chown_postgres(data, run)
    if not (data / "PG_VERSION").exists():
        log(f"initdb {data}")
        subprocess.run(
            as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    port = remembered_port(env, "DTKS_PG_PORT", "PostgreSQL", state) or free_port()
    # Tuned for a small development machine running many short transactions.
    opts = (
        f"-p {port} -k {run} -c listen_addresses=127.0.0.1 -c max_connections=300 "
        "-c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c max_prepared_transactions=0"
    )
    subprocess.run(
        as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(run / "pg.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log(f"PostgreSQL started on 127.0.0.1:{port}")
    return {"DTKS_PG_PORT": str(port), "DTKS_DATABASE_URL": pg_url(port)}


def pg_url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop_postgres(state: Path) -> None:
    data = state / "pg"
    bindir = pg_bindir()
    if not bindir or not (data / "postmaster.pid").exists():
        return
    log("stopping PostgreSQL")
    subprocess.run(
        as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "stop", "-m", "fast"]),
        check=False,
        stdout=subprocess.DEVNULL,
    )


def postgres_ok(env: dict[str, str]) -> bool:
    port = int(env.get("DTKS_PG_PORT", "0"))
    if not port or not port_open(port):
        return False
    bindir = pg_bindir()
    if not bindir:
        return False
    r = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
    return r.returncode == 0


# ---------------------------------------------------------------- kafka

LOG4J = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = warn
"""

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=6
# The replication of every topic follows the cluster's size (see replication_for): the project's
# topics take default.replication.factor (dtks_runtime.topics asks the broker for it), and a write
# with acks=all needs min.insync.replicas copies, so one broker of three may fail without a loss.
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
offsets.topic.num.partitions=12
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
# Topics are created by the project with their partitions and retention, never by accident.
auto.create.topics.enable=false
"""


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``brokers``: three copies where
    there are three brokers or more, two of which must acknowledge a write (so one broker may be
    lost, or restarted, with no write refused and nothing acknowledged lost); one on a single broker."""
    replication = min(brokers, 3)
    return replication, (2 if replication >= 3 else 1)


# Who reads what (keep in step with the services' add_consumer calls and contracts' topics.py).
SERVICE_READS = {
    "proposal": ("verification", "registry"),
    "verification": ("proposal", "registry", "complaint", "civil_registry"),  # + flags for rounds
    "registry": ("proposal", "verification", "registry", "notification"),
    "notification": ("proposal", "verification", "registry"),
    "dci": ("registry",),  # the decrees, to notify DCI subscribers
    "complaint": ("proposal", "verification", "registry", "civil_registry"),  # + life events
}
# Processes of the local system that only publish: the civil-registry simulator's life events go to
# dtks.civil_registry.events. Process name -> its Kafka login (named as its topics are), which may
# write its own topics and read nothing else. Not in SERVICE_READS: in a real deployment Dukcapil's
# feed is not one of our processes (deploy/kubernetes gives it no login).
LOCAL_PRODUCERS = {"civil-registry": "civil_registry"}
ADMIN = "admin"

# The SASL part of server.properties. The controller listener uses PLAIN with a static login for the
# broker itself: KRaft reads SCRAM credentials from the metadata the controller serves, so the
# controller cannot authenticate with them. Clients and the broker's own requests use SCRAM.
SASL_PROPERTIES = """\
listeners=CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=CLIENT://127.0.0.1:{port}
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{admin_password}";
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="{admin}" password="{admin_password}" user_{admin}="{admin_password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin}
allow.everyone.if.no.acl.found=false
"""


def sasl_server_properties(plain: str, port: int, controller_port: int, admin_password: str) -> str:
    """server.properties with the PLAINTEXT listeners replaced by the SASL ones and the authorizer."""
    kept = [
        line
        for line in plain.splitlines()
        if not line.startswith(
            ("listeners=", "advertised.listeners=", "inter.broker.listener.name=", "controller.listener.names=",
             "listener.security.protocol.map=")
        )
    ]  # fmt: skip
    sasl = SASL_PROPERTIES.format(
        port=port, controller_port=controller_port, admin=ADMIN, admin_password=admin_password
    )
    return "\n".join(kept) + "\n" + sasl


def kafka_credentials(kdir: Path) -> dict[str, str]:
    """SCRAM passwords of the admin and of each service: random, made once per state folder."""
    path = kdir / "credentials.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    creds = {name: secrets.token_urlsafe(24) for name in (ADMIN, *SERVICE_READS, *LOCAL_PRODUCERS.values())}
    path.write_text(json.dumps(creds, indent=2) + "\n")
    os.chmod(path, 0o600)
    return creds


def service_login(service: str, env: dict[str, str]) -> dict[str, str]:
    """The Kafka login a service process gets on a broker started with --kafka-auth scram: its own
    name and password (the env file's admin login is for tools); nothing on a plain broker, and
    nothing for a login a state folder formatted before it existed has no password for."""
    path = env.get("DTKS_KAFKA_CREDENTIALS")
    login = LOCAL_PRODUCERS.get(service, service)
    if not path or login not in (*SERVICE_READS, *LOCAL_PRODUCERS.values()):
        return {}
    password = json.loads(Path(path).read_text()).get(login)
    if password is None:
        return {}
    return {"DTKS_KAFKA_USERNAME": login, "DTKS_KAFKA_PASSWORD": password}


def service_acls(service: str, topic_prefix: str = "") -> list[list[str]]:
    """AclCommand arguments that give ``service`` what it needs and nothing more (one list a call).

    Prefixed patterns: ``dtks.<service>.`` covers its events and, for the registry, the public copy;
    ``dtks.dlq.<service>`` and ``dtks.retry.<service>`` its consumers' dead letters and retries;
    groups ``<service>`` its consumer groups (all are named after the service). Create on its own
    topics lets a service make them where no administrator did (the local stack); reading the topics
    it consumes is all it gets of the others'. ``topic_prefix`` is the services' DTKS_TOPIC_PREFIX:
    every topic pattern begins with it (consumer groups are not prefixed), so the ACLs hold for the
    topics the services really use, and the same names without it are nobody's."""
    principal = ["--allow-principal", f"User:{service}", "--resource-pattern-type", "prefixed"]
    own = [
        f"{topic_prefix}dtks.{service}.",
        f"{topic_prefix}dtks.dlq.{service}",
        f"{topic_prefix}dtks.retry.{service}",
    ]
    read = [*own, *(f"{topic_prefix}dtks.{owner}.events" for owner in SERVICE_READS.get(service, ()))]
    topics = lambda names: [arg for name in names for arg in ("--topic", name)]  # noqa: E731
    return [
        [*principal, "--operation", "Write", "--operation", "Create", *topics(own)],
        [*principal, "--operation", "Read", "--operation", "Describe", *topics(read)],
        [*principal, "--operation", "Read", "--operation", "Describe", "--group", service],
    ]


def apply_acls(kdir: Path, port: int, admin_password: str, log4j: Path) -> None:
    """Add every service's ACLs through Kafka's AclCommand as the admin (adding twice is harmless),
    for the topic prefix the services will use (DTKS_TOPIC_PREFIX in stack.py's environment; applied
    at every start, so a broker restarted with another prefix gets its ACLs too). The calls run side
    by side: each is a JVM start of a second or two."""
    topic_prefix = os.environ.get("DTKS_TOPIC_PREFIX", "")
    admin_config = kdir / "admin.properties"
    admin_config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{admin_password}";\n'
    )
    os.chmod(admin_config, 0o600)
    base = [
        "--bootstrap-server",
        f"127.0.0.1:{port}",
        "--command-config",
        str(admin_config),
        "--add",
        "--force",
    ]
    calls = [
        subprocess.Popen(
            java_cmd("org.apache.kafka.tools.AclCommand", *base, *args, log4j=log4j, heap="256m"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for service in (*SERVICE_READS, *LOCAL_PRODUCERS.values())
        for args in service_acls(service, topic_prefix)
    ]
    failed = [(call.args, err) for call in calls for _, err in [call.communicate()] if call.returncode != 0]
    if failed:
        sys.exit(f"adding ACLs failed: {failed[0][1].strip()[-2000:]}")
    log(
        f"ACLs added for {', '.join((*SERVICE_READS, *LOCAL_PRODUCERS.values()))} ({len(calls)} AclCommand calls)"
    )


def java_cmd(main: str, *args: str, log4j: Path, heap: str = "1g") -> list[str]:
    return [
        "java",
        "-Xms256m",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{KAFKA_LIB}/*",
        main,
        *args,
    ]


KAFKA_ENV_KEYS = (
    "DTKS_KAFKA_PORT",
    "DTKS_KAFKA_CONTROLLER_PORT",
    "DTKS_KAFKA_PORTS",
    "DTKS_KAFKA_CONTROLLER_PORTS",
    "DTKS_KAFKA_BROKERS",
    "DTKS_KAFKA_BOOTSTRAP",
    "DTKS_KAFKA_SECURITY_PROTOCOL",
    "DTKS_KAFKA_SASL_MECHANISM",
    "DTKS_KAFKA_USERNAME",
    "DTKS_KAFKA_PASSWORD",
    "DTKS_KAFKA_CREDENTIALS",
)


def broker_dir(kdir: Path, index: int, brokers: int) -> Path:
    """Where broker ``index`` (1-based) keeps its properties, data, pid and log: ``kafka/`` itself for
    the single broker (the layout every state folder had before clusters), ``kafka/broker-<i>``
    in a cluster."""
    return kdir if brokers == 1 else kdir / f"broker-{index}"


def kafka_brokers(state: Path, asked: int | None = None) -> int:
    """The cluster size of this state folder: what it was formatted with (a restart keeps it), else
    ``asked`` (--kafka-brokers, DTKS_KAFKA_BROKERS), else one."""
    size_file = state / "kafka" / "brokers"
    formatted = int(size_file.read_text()) if size_file.exists() else None
    if formatted is None and (state / "kafka" / "data").exists():
        formatted = 1  # a single broker's folder from before the size was written down
    if formatted is not None and asked is not None and asked != formatted:
        sys.exit(
            f"{state / 'kafka'} holds a cluster of {formatted} broker(s); stop and remove it to start {asked}"
        )
    brokers = formatted or asked or 1
    if brokers < 1:
        sys.exit("--kafka-brokers must be 1 or more")
    return brokers


def remembered_ports(
    env: dict[str, str], brokers: int, state: Path, running: set[int]
) -> list[tuple[int, int]]:
    """(client port, controller port) of each broker: the remembered ones, or new free ones when none
    are remembered yet. A broker that is down must come back on its own ports (see remembered_port):
    if another process holds one, starting stops and says so; a running broker holds its own."""
    if brokers == 1:
        names = [("DTKS_KAFKA_PORT", "DTKS_KAFKA_CONTROLLER_PORT")]
        pairs = [(int(env.get(names[0][0], "0")), int(env.get(names[0][1], "0")))]
    else:
        ports = [int(p) for p in env.get("DTKS_KAFKA_PORTS", "").split(",") if p]
        controllers = [int(p) for p in env.get("DTKS_KAFKA_CONTROLLER_PORTS", "").split(",") if p]
        pairs = list(zip(ports, controllers, strict=True)) if len(ports) == brokers else []
    if not pairs or not all(port and controller for port, controller in pairs):
        taken: set[int] = set()
        for _ in range(2 * brokers):
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
        ordered = sorted(taken)
        return [(ordered[2 * i], ordered[2 * i + 1]) for i in range(brokers)]
    for index, (port, controller_port) in enumerate(pairs, start=1):
        if index in running:
            continue
        for which, taken_port in (("", port), ("'s controller", controller_port)):
            if port_open(taken_port):
                raise PortTaken(
                    f"Kafka broker {index}{which} must come back on 127.0.0.1:{taken_port} (remembered "
                    f"in {state / 'env'}), the address the cluster and the running services use, but "
                    f"another process now listens there. Stop that process (e.g. `ss -ltnp 'sport = "
                    f":{taken_port}'` names it) and start again; or, when nothing uses the old address, "
                    f"stop the whole cluster and delete its port lines from {state / 'env'}."
                )
    return pairs


def broker_pid(kdir: Path, index: int, brokers: int) -> int | None:
    """The pid of broker ``index`` if it runs, else None."""
    pid_file = broker_dir(kdir, index, brokers) / "kafka.pid"
    if pid_file.exists() and pid_alive(pid := int(pid_file.read_text())):
        return pid
    return None


def start_kafka(
    state: Path, env: dict[str, str], auth: str | None = None, brokers: int | None = None
) -> dict[str, str]:
    """Start every broker of the state folder's cluster that is down (all of them the first time),
    on its remembered ports, and wait until each is up. A cluster's brokers are started together:
    with a static quorum of three controllers none can finish starting before a majority runs."""
    install_kafka()
    kdir = state / "kafka"
    brokers = kafka_brokers(state, brokers)
    kdir.mkdir(parents=True, exist_ok=True)
    # The data folder keeps the logins it was formatted with: no switching modes on it.
    mode_file = kdir / "auth"
    if auth is None:  # not asked for: the mode this folder was formatted with (a restart keeps it)
        auth = mode_file.read_text().strip() if mode_file.exists() else "none"
    if mode_file.exists() and mode_file.read_text().strip() != auth:
        sys.exit(
            f"{kdir} was started with --kafka-auth {mode_file.read_text().strip()}; stop and remove it to change"
        )
    # Back on the previous ports, so clients holding the old env keep working (see remembered_ports).
    running = {i for i in range(1, brokers + 1) if broker_pid(kdir, i, brokers) is not None}
    pairs = remembered_ports(env, brokers, state, running)
    bootstrap = ",".join(f"127.0.0.1:{port}" for port, _ in pairs)
    started = kafka_env(pairs, auth, kdir)
    if len(running) == brokers and all(port_open(port) for port, _ in pairs):
        log(f"Kafka already running on {bootstrap}")
        return started
    log4j = kdir / "log4j2.properties"
    log4j.write_text(LOG4J.format(level="info"))
    (kdir / "log4j2-tools.properties").write_text(LOG4J.format(level="warn"))
    cluster_file = kdir / "cluster.id"
    if not cluster_file.exists():
        out = subprocess.run(
            java_cmd("kafka.tools.StorageTool", "random-uuid", log4j=log4j, heap="256m"),
            check=True,
            capture_output=True,
            text=True,
        )
        cluster_file.write_text(out.stdout.strip().splitlines()[-1])
    (kdir / "brokers").write_text(str(brokers))
    creds = kafka_credentials(kdir) if auth == "scram" else {}
    voters = ",".join(f"{i}@127.0.0.1:{c}" for i, (_, c) in enumerate(pairs, start=1))
    replication, min_isr = replication_for(brokers)
    # A broker cluster gets smaller heaps by default: three JVMs share the machine.
    heap = os.environ.get("DTKS_KAFKA_HEAP", "1g" if brokers == 1 else "512m")
    launched: list[tuple[int, subprocess.Popen[bytes], Path, int]] = []
    for index, (port, controller_port) in enumerate(pairs, start=1):
        if index in running:
            continue
        bdir = broker_dir(kdir, index, brokers)
        bdir.mkdir(parents=True, exist_ok=True)
        server_properties = SERVER_PROPERTIES.format(
            node_id=index,
            voters=voters,
            port=port,
            controller_port=controller_port,
            data=bdir / "data",
            replication=replication,
            min_isr=min_isr,
        )
        scram: list[str] = []
        if auth == "scram":
            server_properties = sasl_server_properties(server_properties, port, controller_port, creds[ADMIN])
            # SCRAM logins go into the metadata at format time (ignored on an already formatted folder).
            for name, password in creds.items():
                scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        props = bdir / "server.properties"
        props.write_text(server_properties)
        os.chmod(props, 0o600)
        subprocess.run(
            java_cmd(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_file.read_text().strip(),
                "-c",
                str(props),
                "--ignore-formatted",
                *scram,
                log4j=log4j,
                heap="256m",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log_path = bdir / "kafka.log"
        # Only what this start writes tells whether it started (the log is kept across starts).
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                java_cmd("kafka.Kafka", str(props), log4j=log4j, heap=heap),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (bdir / "kafka.pid").write_text(str(proc.pid))
        launched.append((index, proc, log_path, offset))
    mode_file.write_text(auth)
    deadline = time.monotonic() + 120
    waiting = list(launched)
    while waiting and time.monotonic() < deadline:
        for item in list(waiting):
            index, proc, log_path, offset = item
            if proc.poll() is not None:
                sys.exit(f"Kafka broker {index} exited with {proc.returncode}; see {log_path}")
            with open(log_path, "rb") as f:
                f.seek(offset)
                if b"Kafka Server started" in f.read() and port_open(pairs[index - 1][0]):
                    waiting.remove(item)
        time.sleep(0.25)
    if waiting:
        for _, proc, _, _ in launched:
            proc.terminate()
        sys.exit(f"Kafka broker(s) {[i for i, *_ in waiting]} did not start within 120 s; see {kdir}")
    log(f"Kafka {KAFKA_VERSION} started on {bootstrap} ({brokers} broker(s), replication {replication})")
    if auth == "scram":
        apply_acls(kdir, pairs[0][0], creds[ADMIN], kdir / "log4j2-tools.properties")
    return started


def kafka_env(pairs: list[tuple[int, int]], auth: str, kdir: Path) -> dict[str, str]:
    """What the env file says about the cluster: the bootstrap list of every broker (clients find
    the others through any one), the first broker's ports as before, every broker's in a cluster."""
    started = {
        "DTKS_KAFKA_PORT": str(pairs[0][0]),
        "DTKS_KAFKA_CONTROLLER_PORT": str(pairs[0][1]),
        "DTKS_KAFKA_BOOTSTRAP": ",".join(f"127.0.0.1:{port}" for port, _ in pairs),
        "DTKS_KAFKA_BROKERS": str(len(pairs)),
    }
    if len(pairs) > 1:
        started["DTKS_KAFKA_PORTS"] = ",".join(str(port) for port, _ in pairs)
        started["DTKS_KAFKA_CONTROLLER_PORTS"] = ",".join(str(c) for _, c in pairs)
    if auth == "scram":
        creds = kafka_credentials(kdir)
        started |= {
            "DTKS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "DTKS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "DTKS_KAFKA_USERNAME": ADMIN,
            "DTKS_KAFKA_PASSWORD": creds[ADMIN],
            "DTKS_KAFKA_CREDENTIALS": str(kdir / "credentials.json"),
        }
    return started


def stop_process(pid_file: Path, name: str, *, kill_group: bool = False) -> None:
    """TERM the process of ``pid_file``, give it 30 s, then KILL it; ``kill_group`` also KILLs its
    process group afterwards, for a launcher script whose java may outlive it."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if pid_alive(pid):
        log(f"stopping {name}")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            log(f"{name} did not stop within 30 s: killing it")
            os.kill(pid, signal.SIGKILL)
        if kill_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def stop_kafka(state: Path) -> None:
    """Stop every broker: all are sent TERM at once (a cluster's last brokers cannot shut down in
    order without the others' quorum, so one by one would leave the last waiting), then KILLed after
    30 s if still there."""
    kdir = state / "kafka"
    brokers = kafka_brokers(state)
    pid_files = [broker_dir(kdir, i, brokers) / "kafka.pid" for i in range(1, brokers + 1)]
    if brokers == 1:
        stop_process(pid_files[0], "Kafka")
        return
    pids = {}
    for index, pid_file in enumerate(pid_files, start=1):
        if pid_file.exists() and pid_alive(pid := int(pid_file.read_text())):
            log(f"stopping Kafka broker {index}")
            os.kill(pid, signal.SIGTERM)
            pids[index] = pid
    deadline = time.monotonic() + 30
    while any(pid_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for index, pid in pids.items():
        if pid_alive(pid):
            log(f"Kafka broker {index} did not stop within 30 s: killing it")
            os.kill(pid, signal.SIGKILL)
    for pid_file in pid_files:
        pid_file.unlink(missing_ok=True)


def kill_broker(state: Path, index: int) -> None:
    """SIGKILL one broker of the cluster, as a crash or a lost machine would end it: no controlled
    shutdown, no flush. ``stack.py start`` starts it again on its ports."""
    kdir = state / "kafka"
    brokers = kafka_brokers(state)
    if not 1 <= index <= brokers:
        sys.exit(f"no broker {index}: the cluster has brokers 1 to {brokers}")
    pid = broker_pid(kdir, index, brokers)
    if pid is None:
        log(f"Kafka broker {index} is not running")
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    (broker_dir(kdir, index, brokers) / "kafka.pid").unlink(missing_ok=True)
    log(f"Kafka broker {index} killed (SIGKILL, pid {pid})")


def kafka_ok(state: Path, env: dict[str, str]) -> bool:
    """Every broker of the cluster runs and listens on its port."""
    kdir = state / "kafka"
    if not (kdir / "brokers").exists() and not (kdir / "kafka.pid").exists():
        return False
    brokers = kafka_brokers(state)
    ports = env.get("DTKS_KAFKA_PORTS") or env.get("DTKS_KAFKA_PORT", "")
    listed = [int(p) for p in ports.split(",") if p]
    return len(listed) == brokers and all(
        broker_pid(kdir, i, brokers) is not None and port_open(port) for i, port in enumerate(listed, start=1)
    )


# ---------------------------------------------------------------- keycloak

KEYCLOAK_VERSION = "26.4.2"
KEYCLOAK_HOME = CACHE_DIR / f"keycloak-{KEYCLOAK_VERSION}"
KEYCLOAK_REALM = "dtks"
KEYCLOAK_REALM_FILE = HERE.parent / "keycloak" / "dtks-realm.json"
# Options Keycloak fixes at build time (kc.sh build); `start --optimized` then skips the ~60 s
# Quarkus augmentation. Written beside the build so a changed list triggers a rebuild.
KEYCLOAK_BUILD_OPTIONS = ("--db=postgres",)


def ensure_java_and_maven() -> None:
    for tool in ("java", "mvn"):
        if not shutil.which(tool):
            log(f"{tool} missing: installing from Debian's packages")
            pkg = "openjdk-17-jre-headless" if tool == "java" else "maven"
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-q", pkg], check=True, env=env)


def install_keycloak() -> Path:
    """Keycloak's distribution zip from Maven Central, unpacked and built once for PostgreSQL."""
    marker = KEYCLOAK_HOME / ".dtks-built"
    wanted = " ".join(KEYCLOAK_BUILD_OPTIONS)
    if marker.exists() and marker.read_text() == wanted:
        return KEYCLOAK_HOME
    import fcntl  # POSIX only, like the rest of this script's process handling

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Parallel test runs may all find Keycloak missing; one installs, the others wait for it.
    with open(CACHE_DIR / f"keycloak-{KEYCLOAK_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted:
            return KEYCLOAK_HOME
        ensure_java_and_maven()
        if not (KEYCLOAK_HOME / "bin" / "kc.sh").exists():
            unpack_keycloak()
        log(f"building Keycloak {KEYCLOAK_VERSION} for PostgreSQL (once; about a minute)")
        subprocess.run(
            [str(KEYCLOAK_HOME / "bin" / "kc.sh"), "build", *KEYCLOAK_BUILD_OPTIONS],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        marker.write_text(wanted)
    return KEYCLOAK_HOME


def unpack_keycloak() -> None:
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        log(f"resolving Keycloak {KEYCLOAK_VERSION} (distribution zip, 160 MB) from Maven Central")
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(HERE / "pom.xml"),
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip",
                f"-DoutputDirectory={tmp}",
                "-Dmdep.stripVersion=true",
            ],
            check=True,
        )
        with zipfile.ZipFile(Path(tmp) / "keycloak-quarkus-dist.zip") as archive:
            archive.extractall(tmp)
        unpacked = Path(tmp) / f"keycloak-{KEYCLOAK_VERSION}"
        for script in (unpacked / "bin").glob("*.sh"):
            script.chmod(0o755)  # zipfile does not restore permissions
        shutil.rmtree(KEYCLOAK_HOME, ignore_errors=True)
        unpacked.rename(KEYCLOAK_HOME)


def keycloak_instance_home(state: Path) -> Path:
    """A home of this instance's own: its data (transaction logs, the realm to import) apart from
    every other instance's, its programs shared with the one build in the cache."""
    home = state / "keycloak" / "home"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "data" / "import").mkdir(parents=True, exist_ok=True)
    # kc.sh takes its home from where the script lies, so a copy here makes this folder the home.
    shutil.copy2(KEYCLOAK_HOME / "bin" / "kc.sh", home / "bin" / "kc.sh")
    for part in ("lib", "conf", "themes", "providers"):
        link = home / part
        if not link.exists():
            link.symlink_to(KEYCLOAK_HOME / part)
    shutil.copy2(KEYCLOAK_REALM_FILE, home / "data" / "import" / KEYCLOAK_REALM_FILE.name)
    return home


def keycloak_pg_client(env: dict[str, str]) -> tuple[Path, list[str], dict[str, str]]:
    """psql's folder, connection arguments and environment for the project's PostgreSQL."""
    from urllib.parse import urlsplit

    url = urlsplit(env["DTKS_DATABASE_URL"])
    host, port, user = url.hostname or "127.0.0.1", url.port or 5432, url.username or "postgres"
    bindir = pg_bindir()
    if not bindir:
        sys.exit("PostgreSQL client programs missing: run stack.py install")
    return bindir, ["-h", host, "-p", str(port), "-U", user], dict(os.environ, PGPASSWORD=url.password or "")


def keycloak_database(env: dict[str, str], name: str) -> tuple[str, str, str, bool]:
    """Create Keycloak's own database on the project's PostgreSQL; its JDBC URL, user, password,
    and whether it was created now."""
    import re
    from urllib.parse import urlsplit

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):  # it goes into SQL below
        sys.exit(f"DTKS_KEYCLOAK_DATABASE must be a plain lower-case name, not {name!r}")
    bindir, where, pg_env = keycloak_pg_client(env)
    exists = subprocess.run(
        [
            str(bindir / "psql"),
            *where,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=pg_env,
    ).stdout.strip()
    if not exists:
        subprocess.run([str(bindir / "createdb"), *where, name], check=True, env=pg_env)
    url = urlsplit(env["DTKS_DATABASE_URL"])
    jdbc = f"jdbc:postgresql://{url.hostname or '127.0.0.1'}:{url.port or 5432}/{name}"
    # Keycloak insists on a password even where PostgreSQL trusts local connections.
    return jdbc, url.username or "postgres", url.password or "unused-with-trust-auth", not exists


# Tests only (DTKS_KEYCLOAK_SNAPSHOT=1): Keycloak's first start on a new database spends most of its
# one to three minutes creating its schema and importing the realm. The first test run dumps that
# database once (per Keycloak version and realm file) and later runs restore it into their new
# database, so Keycloak starts as on an existing one. Its keys and admin password are then shared
# by those test runs: never for `make run` or anything real.
def keycloak_snapshot() -> Path:
    import hashlib

    digest = hashlib.sha256(KEYCLOAK_REALM_FILE.read_bytes()).hexdigest()[:12]
    return CACHE_DIR / f"keycloak-{KEYCLOAK_VERSION}-test-db-{digest}.sql"


def restore_keycloak_snapshot(env: dict[str, str], name: str, snapshot: Path) -> str:
    """Load the snapshot into the new database; answers the admin password it holds."""
    bindir, where, pg_env = keycloak_pg_client(env)
    subprocess.run(
        [str(bindir / "psql"), *where, "-d", name, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(snapshot)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=pg_env,
    )
    return snapshot.with_suffix(".admin").read_text().strip()


def save_keycloak_snapshot(env: dict[str, str], name: str, snapshot: Path, admin_password: str) -> None:
    bindir, where, pg_env = keycloak_pg_client(env)
    partial = snapshot.parent / f"{snapshot.name}.{os.getpid()}.partial"
    subprocess.run(
        [str(bindir / "pg_dump"), *where, "-d", name, "--no-owner", "--no-privileges", "-f", str(partial)],
        check=True,
        env=pg_env,
    )
    admin = snapshot.with_suffix(".admin")
    admin_partial = admin.parent / f"{admin.name}.{os.getpid()}.partial"
    admin_partial.write_text(admin_password)
    admin_partial.rename(admin)
    partial.rename(snapshot)  # last: whoever sees the dump finds its password beside it


def keycloak_answers(port: int, timeout: float = 2.0) -> bool:
    from urllib.error import URLError
    from urllib.request import urlopen

    url = f"http://127.0.0.1:{port}/realms/{KEYCLOAK_REALM}/.well-known/openid-configuration"
    try:
        with urlopen(url, timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (URLError, OSError):
        return False


def keycloak_env(port: int, admin_password: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "DTKS_KEYCLOAK_PORT": str(port),
        "DTKS_KEYCLOAK_URL": base,
        "DTKS_KEYCLOAK_ADMIN_USER": "admin",
        "DTKS_KEYCLOAK_ADMIN_PASSWORD": admin_password,
        "DTKS_OIDC_ISSUER": f"{base}/realms/{KEYCLOAK_REALM}",
    }


def start_keycloak(state: Path, env: dict[str, str]) -> dict[str, str]:
    install_keycloak()
    kdir = state / "keycloak"
    pid_file = kdir / "keycloak.pid"
    port = int(env.get("DTKS_KEYCLOAK_PORT", "0"))
    kdir.mkdir(parents=True, exist_ok=True)
    password_file = kdir / "admin-password"
    if not password_file.exists():
        import secrets

        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    admin_password = password_file.read_text().strip()
    if pid_file.exists() and pid_alive(int(pid_file.read_text())) and port and keycloak_answers(port):
        log(f"Keycloak already running on 127.0.0.1:{port}")
        return keycloak_env(port, admin_password)
    home = keycloak_instance_home(state)
    database = os.environ.get("DTKS_KEYCLOAK_DATABASE", "keycloak")
    db_url, db_user, db_password, created = keycloak_database(env, database)
    snapshot = keycloak_snapshot() if os.environ.get("DTKS_KEYCLOAK_SNAPSHOT") == "1" and created else None
    restored = bool(snapshot and snapshot.exists() and snapshot.with_suffix(".admin").exists())
    if snapshot and restored:
        admin_password = restore_keycloak_snapshot(env, database, snapshot)
        password_file.write_text(admin_password)
    # The port asked for, else the previous one if free (clients keep their issuer), else a free one.
    port = int(os.environ.get("DTKS_KEYCLOAK_PORT", "0")) or port
    if not port or port_open(port):
        port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        str(home / "bin" / "kc.sh"),
        "start",
        "--optimized",
        "--import-realm",  # the realm file once; a realm that exists is left as it is
        "--cache=local",  # one node: no JGroups cluster ports, no discovery of other instances
        "--http-enabled=true",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        "--http-management-port=0",  # health/metrics interface on a free port, never 9000 twice
        f"--hostname={base}",  # the issuer in every token: this exact address
        "--hostname-strict=false",
        f"--db-url={db_url}",
        f"--db-username={db_user}",
        f"--db-password={db_password}",
    ]
    kc_env = dict(
        os.environ,
        KC_BOOTSTRAP_ADMIN_USERNAME="admin",  # used once, when the master realm is created
        KC_BOOTSTRAP_ADMIN_PASSWORD=admin_password,
        JAVA_OPTS_KC_HEAP=os.environ.get("DTKS_KEYCLOAK_HEAP", "-Xms64m -Xmx512m"),
    )
    log_path = kdir / "keycloak.log"
    started = time.monotonic()
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=kc_env,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    limit = float(os.environ.get("DTKS_KEYCLOAK_START_TIMEOUT", "300"))
    while time.monotonic() - started < limit:
        if proc.poll() is not None:
            sys.exit(f"Keycloak exited with {proc.returncode}; see {log_path}")
        if keycloak_answers(port):
            log(f"Keycloak {KEYCLOAK_VERSION} started on {base} in {time.monotonic() - started:.0f} s")
            if snapshot and not restored:
                try:
                    save_keycloak_snapshot(env, database, snapshot, admin_password)
                except (OSError, subprocess.CalledProcessError) as error:  # only a later run's speed
                    log(f"no snapshot of Keycloak's test database: {error}")
            return keycloak_env(port, admin_password)
        time.sleep(1)
    stop_keycloak(state)
    sys.exit(f"Keycloak did not start within {limit:.0f} s; see {log_path}")


def stop_keycloak(state: Path) -> None:
    # kc.sh passes TERM on to its java; the group (its own session) catches a java left behind.
    stop_process(state / "keycloak" / "keycloak.pid", "Keycloak", kill_group=True)


def keycloak_ok(state: Path, env: dict[str, str]) -> bool:
    pid_file = state / "keycloak" / "keycloak.pid"
    port = int(env.get("DTKS_KEYCLOAK_PORT", "0"))
    return (
        pid_file.exists() and pid_alive(int(pid_file.read_text())) and bool(port) and keycloak_answers(port)
    )


# ---------------------------------------------------------------- env file


def read_env(state: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    path = state / "env"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.removeprefix("export ").strip()
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value
    return env


def write_env(state: Path, env: dict[str, str]) -> None:
    lines = ["# Written by deploy/local/stack.py: the local infrastructure it started. Source it."]
    lines += [f"export {k}={v}" for k, v in sorted(env.items())]
    (state / "env").write_text("\n".join(lines) + "\n")


def cmd_start(args: argparse.Namespace) -> None:
    state = Path(args.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    env = read_env(state)
    # restart passes no --components: it starts again only what is down, among PostgreSQL and Kafka.
    components = set(getattr(args, "components", "postgres,kafka").split(","))
    try:
        if "postgres" in components:
            env.update(start_postgres(state, env))
        if "kafka" in components:
            env.update(start_kafka(state, env, args.kafka_auth, getattr(args, "kafka_brokers", None)))
    except PortTaken as taken:
        sys.exit(f"[stack] {taken}")
    if "keycloak" in components:
        env.update(start_keycloak(state, env))
    env["DTKS_KAFKA_LIB"] = str(KAFKA_LIB)
    env["DTKS_KAFKA_TOOLS_LOG4J"] = str(state / "kafka" / "log4j2-tools.properties")
    env["DTKS_STATE_DIR"] = str(state)
    write_env(state, env)
    log(f"environment written to {state / 'env'}")


def cmd_status(args: argparse.Namespace) -> None:
    state = Path(args.state_dir).resolve()
    env = read_env(state)
    pg, kafka = postgres_ok(env), kafka_ok(state, env)
    print(f"postgres: {'up at ' + env.get('DTKS_DATABASE_URL', '') if pg else 'down'}")
    print(f"kafka:    {'up at ' + env.get('DTKS_KAFKA_BOOTSTRAP', '') if kafka else 'down'}")
    keycloak = True
    if "DTKS_KEYCLOAK_PORT" in env:  # only where it was started
        keycloak = keycloak_ok(state, env)
        print(f"keycloak: {'up at ' + env.get('DTKS_OIDC_ISSUER', '') if keycloak else 'down'}")
    sys.exit(0 if pg and kafka and keycloak else 1)


def cmd_stop(args: argparse.Namespace) -> None:
    state = Path(args.state_dir).resolve()
    if args.name is None:
        stop_keycloak(state)
    if args.name in (None, "kafka"):
        stop_kafka(state)
    if args.name in (None, "postgres"):
        stop_postgres(state)
    log("stopped")


def cmd_broker(args: argparse.Namespace) -> None:
    """One broker of the cluster: ``kill`` (SIGKILL) it, or ``start`` it again on its ports (the
    others are left as they are). What the fault tests do to show the services ride out a lost broker."""
    state = Path(args.state_dir).resolve()
    if args.action == "kill":
        kill_broker(state, args.index)
        return
    brokers = kafka_brokers(state)
    if not 1 <= args.index <= brokers:
        sys.exit(f"no broker {args.index}: the cluster has brokers 1 to {brokers}")
    env = read_env(state)
    try:
        start_kafka(state, env)  # starts the brokers that are down: the one killed
    except PortTaken as taken:
        sys.exit(f"[stack] {taken}")


def cmd_restart(args: argparse.Namespace) -> None:
    """Stop one server and start it again on the port it had: what an operator does after changing
    its settings, and what the tests do to prove the services ride it out on their own."""
    state = Path(args.state_dir).resolve()
    (stop_kafka if args.name == "kafka" else stop_postgres)(state)
    cmd_start(args)  # starts only what is down: the one just stopped


SERVERS = ("postgres", "kafka")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install").set_defaults(func=cmd_install)
    for name, func in (
        ("start", cmd_start),
        ("status", cmd_status),
        ("stop", cmd_stop),
        ("restart", cmd_restart),
    ):
        p = sub.add_parser(name)
        p.add_argument("--state-dir", default=os.environ.get("DTKS_STATE_DIR", ".dtks"))
        if name in ("stop", "restart"):
            p.add_argument(
                "name", nargs="?" if name == "stop" else None, choices=SERVERS, help="only this server"
            )
        if name in ("start", "restart"):
            p.add_argument(
                "--kafka-auth",
                choices=("none", "scram"),
                default=os.environ.get("DTKS_KAFKA_AUTH"),
                help="scram: SASL/SCRAM-SHA-512 logins and ACLs per service (see above); by default "
                "the mode the state folder was started with, or none",
            )
        p.set_defaults(func=func)
    sub.choices["start"].add_argument(
        "--kafka-brokers",
        type=int,
        default=int(os.environ["DTKS_KAFKA_BROKERS"]) if os.environ.get("DTKS_KAFKA_BROKERS") else None,
        help="how many Kafka brokers (KRaft, each broker and controller, its own process, ports and "
        "data): 1 by default; with 3 the topics get 3 replicas and min.insync.replicas=2. A state "
        "folder keeps the size it was first started with",
    )
    broker = sub.add_parser("broker", help="kill or start one broker of the cluster by its index")
    broker.add_argument("action", choices=("kill", "start"))
    broker.add_argument("index", type=int, help="1-based, as node.id")
    broker.add_argument("--state-dir", default=os.environ.get("DTKS_STATE_DIR", ".dtks"))
    broker.set_defaults(func=cmd_broker)
    sub.choices["start"].add_argument(
        "--components",
        default="postgres,kafka",
        help="which to start, comma-separated, of postgres,kafka,keycloak (make run starts all three; "
        "keycloak alone needs DTKS_DATABASE_URL in the env file)",
    )
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
