#!/usr/bin/env python3
"""Install, start, check and stop a local PostgreSQL and a single-node Kafka broker (KRaft).

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

    stack.py install                          # PostgreSQL binaries and the Kafka jars
    stack.py start   --state-dir .dtks        # idempotent; starts whatever is down
    stack.py status  --state-dir .dtks        # exit 0 only if both answer
    stack.py restart postgres|kafka --state-dir .dtks   # stop one and start it on its port
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
"""

from __future__ import annotations

import argparse
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


def cmd_install(_: argparse.Namespace) -> None:
    bindir = install_postgres()
    lib = install_kafka()
    log(f"PostgreSQL binaries: {bindir}")
    log(f"Kafka jars: {lib} ({len(list(lib.glob('*.jar')))} jars)")


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
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created by the project with their partitions and retention, never by accident.
auto.create.topics.enable=false
"""


# Who reads what (keep in step with the services' add_consumer calls and contracts' topics.py).
SERVICE_READS = {
    "proposal": ("verification", "registry"),
    "verification": ("proposal", "registry"),
    "registry": ("proposal", "verification", "registry", "notification"),
    "notification": ("proposal", "verification", "registry"),
}
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
    creds = {name: secrets.token_urlsafe(24) for name in (ADMIN, *SERVICE_READS)}
    path.write_text(json.dumps(creds, indent=2) + "\n")
    os.chmod(path, 0o600)
    return creds


def service_login(service: str, env: dict[str, str]) -> dict[str, str]:
    """The Kafka login a service process gets on a broker started with --kafka-auth scram: its own
    name and password (the env file's admin login is for tools); nothing on a plain broker."""
    path = env.get("DTKS_KAFKA_CREDENTIALS")
    if not path or service not in SERVICE_READS:
        return {}
    password = json.loads(Path(path).read_text())[service]
    return {"DTKS_KAFKA_USERNAME": service, "DTKS_KAFKA_PASSWORD": password}


def service_acls(service: str) -> list[list[str]]:
    """AclCommand arguments that give ``service`` what it needs and nothing more (one list a call).

    Prefixed patterns: ``dtks.<service>.`` covers its events and, for the registry, the public copy;
    ``dtks.dlq.<service>`` and ``dtks.retry.<service>`` its consumers' dead letters and retries;
    groups ``<service>`` its consumer groups (all are named after the service). Create on its own
    topics lets a service make them where no administrator did (the local stack); reading the topics
    it consumes is all it gets of the others'."""
    principal = ["--allow-principal", f"User:{service}", "--resource-pattern-type", "prefixed"]
    own = [f"dtks.{service}.", f"dtks.dlq.{service}", f"dtks.retry.{service}"]
    read = [*own, *(f"dtks.{owner}.events" for owner in SERVICE_READS[service])]
    topics = lambda names: [arg for name in names for arg in ("--topic", name)]  # noqa: E731
    return [
        [*principal, "--operation", "Write", "--operation", "Create", *topics(own)],
        [*principal, "--operation", "Read", "--operation", "Describe", *topics(read)],
        [*principal, "--operation", "Read", "--operation", "Describe", "--group", service],
    ]


def apply_acls(kdir: Path, port: int, admin_password: str, log4j: Path) -> None:
    """Add every service's ACLs through Kafka's AclCommand as the admin (adding twice is harmless).
    The calls run side by side: each is a JVM start of a second or two."""
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
        for service in SERVICE_READS
        for args in service_acls(service)
    ]
    failed = [(call.args, err) for call in calls for _, err in [call.communicate()] if call.returncode != 0]
    if failed:
        sys.exit(f"adding ACLs failed: {failed[0][1].strip()[-2000:]}")
    log(f"ACLs added for {', '.join(SERVICE_READS)} ({len(calls)} AclCommand calls)")


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
    "DTKS_KAFKA_BOOTSTRAP",
    "DTKS_KAFKA_SECURITY_PROTOCOL",
    "DTKS_KAFKA_SASL_MECHANISM",
    "DTKS_KAFKA_USERNAME",
    "DTKS_KAFKA_PASSWORD",
    "DTKS_KAFKA_CREDENTIALS",
)


def start_kafka(state: Path, env: dict[str, str], auth: str | None = None) -> dict[str, str]:
    install_kafka()
    kdir = state / "kafka"
    pid_file = kdir / "kafka.pid"
    port = int(env.get("DTKS_KAFKA_PORT", "0"))
    if pid_file.exists() and pid_alive(int(pid_file.read_text())) and port and port_open(port):
        log(f"Kafka already running on 127.0.0.1:{port}")
        return {k: env[k] for k in KAFKA_ENV_KEYS if k in env}
    kdir.mkdir(parents=True, exist_ok=True)
    # The data folder keeps the logins it was formatted with: no switching modes on it.
    mode_file = kdir / "auth"
    if auth is None:  # not asked for: the mode this folder was formatted with (a restart keeps it)
        auth = mode_file.read_text().strip() if mode_file.exists() else "none"
    if mode_file.exists() and mode_file.read_text().strip() != auth:
        sys.exit(
            f"{kdir} was started with --kafka-auth {mode_file.read_text().strip()}; stop and remove it to change"
        )
    data = kdir / "data"
    # Back on the previous ports, so clients holding the old env keep working (see remembered_port).
    port = remembered_port(env, "DTKS_KAFKA_PORT", "Kafka", state)
    controller_port = remembered_port(env, "DTKS_KAFKA_CONTROLLER_PORT", "Kafka's controller", state)
    if not port or not controller_port:
        port, controller_port = free_port(), free_port()
        while controller_port == port:
            controller_port = free_port()
    log4j = kdir / "log4j2.properties"
    log4j.write_text(LOG4J.format(level="info"))
    (kdir / "log4j2-tools.properties").write_text(LOG4J.format(level="warn"))
    props = kdir / "server.properties"
    server_properties = SERVER_PROPERTIES.format(port=port, controller_port=controller_port, data=data)
    scram: list[str] = []
    creds: dict[str, str] = {}
    if auth == "scram":
        creds = kafka_credentials(kdir)
        server_properties = sasl_server_properties(server_properties, port, controller_port, creds[ADMIN])
        # SCRAM logins go into the metadata at format time (ignored on an already formatted folder).
        for name, password in creds.items():
            scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    props.write_text(server_properties)
    os.chmod(props, 0o600)
    cluster_file = kdir / "cluster.id"
    if not cluster_file.exists():
        out = subprocess.run(
            java_cmd("kafka.tools.StorageTool", "random-uuid", log4j=log4j, heap="256m"),
            check=True,
            capture_output=True,
            text=True,
        )
        cluster_file.write_text(out.stdout.strip().splitlines()[-1])
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
    heap = os.environ.get("DTKS_KAFKA_HEAP", "1g")
    log_path = kdir / "kafka.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            java_cmd("kafka.Kafka", str(props), log4j=log4j, heap=heap),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    mode_file.write_text(auth)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"Kafka exited with {proc.returncode}; see {log_path}")
        if port_open(port) and "Kafka Server started" in log_path.read_text(errors="replace"):
            log(f"Kafka {KAFKA_VERSION} started on 127.0.0.1:{port}")
            started = {
                "DTKS_KAFKA_PORT": str(port),
                "DTKS_KAFKA_CONTROLLER_PORT": str(controller_port),
                "DTKS_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            }
            if auth == "scram":
                apply_acls(kdir, port, creds[ADMIN], kdir / "log4j2-tools.properties")
                started |= {
                    "DTKS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                    "DTKS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                    "DTKS_KAFKA_USERNAME": ADMIN,
                    "DTKS_KAFKA_PASSWORD": creds[ADMIN],
                    "DTKS_KAFKA_CREDENTIALS": str(kdir / "credentials.json"),
                }
            return started
        time.sleep(0.25)
    proc.terminate()
    sys.exit(f"Kafka did not start within 90 s; see {log_path}")


def stop_kafka(state: Path) -> None:
    pid_file = state / "kafka" / "kafka.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if pid_alive(pid):
        log("stopping Kafka")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            log("Kafka did not stop within 30 s: killing it")
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def kafka_ok(state: Path, env: dict[str, str]) -> bool:
    pid_file = state / "kafka" / "kafka.pid"
    port = int(env.get("DTKS_KAFKA_PORT", "0"))
    return pid_file.exists() and pid_alive(int(pid_file.read_text())) and bool(port) and port_open(port)


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
    try:
        env.update(start_postgres(state, env))
        env.update(start_kafka(state, env, args.kafka_auth))
    except PortTaken as taken:
        sys.exit(f"[stack] {taken}")
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
    sys.exit(0 if pg and kafka else 1)


def cmd_stop(args: argparse.Namespace) -> None:
    state = Path(args.state_dir).resolve()
    if args.name in (None, "kafka"):
        stop_kafka(state)
    if args.name in (None, "postgres"):
        stop_postgres(state)
    log("stopped")


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
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
