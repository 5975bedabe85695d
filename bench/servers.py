"""The servers under test, each started as its own process.

silkcharge runs as `python -m silkcharge.cli serve` on a fresh SQLite file or a fresh
PostgreSQL database (created here with psycopg and dropped afterwards); the baseline runs as
`python bench/baseline_server.py`, and the ocpp-rpc baseline as `node bench/node/rpc_server.js`
(its npm packages installed into bench/node/node_modules on first use). Everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from silkcharge.loadtest.probe import Machine, ProcessGroup, parent_of

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / "node"
API_KEY = "bench-key"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


class ServerFailed(Exception):
    """A server under test did not start, or died while measured."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the targets ---------------------------------------------------------------------------------


@dataclass
class Target:
    """A server to measure: how to start it, where it listens, and its process."""

    name: str
    ocpp_url: str = ""
    api_url: str = ""
    process: subprocess.Popen | None = None
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="silkcharge-bench-"))
    )
    database_pid: int | None = None  # the PostgreSQL postmaster, whose CPU is counted apart
    database_url: str = ""  # silkcharge's database (SQLAlchemy URL), for `frames_logged_since`
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def measured(self) -> tuple[ProcessGroup | Machine, ...]:
        """What a load test samples: the server with its children, PostgreSQL, the machine."""
        groups: list[ProcessGroup | Machine] = [ProcessGroup("server", (self.pid,))]
        if self.database_pid:
            groups.append(ProcessGroup("database", (self.database_pid,)))
        return (*groups, Machine())

    def launch(self, command: list[str], env: dict[str, str]) -> None:
        with open(self.workdir / "server.log", "wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ServerFailed(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "server.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def logged_errors(self) -> list[str]:
        path = self.workdir / "server.log"
        if not path.exists():
            return []
        text = path.read_text(errors="replace").splitlines()
        return [line for line in text if " ERROR " in line or line.startswith("Traceback")]

    def frames_logged_since(self, since: datetime) -> int | None:
        """How many OCPP frames silkcharge's message log holds stamped at `since` or later,
        read from its database as it stands (None for a server without one). On SQLite a
        read-only connection beside the server's (WAL: it waits for no writer)."""
        url = self.database_url
        if not url:
            return None
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1]
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
                # stored as the column's type writes it: "2026-12-05 09:01:02.000000"
                stamp = since.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")
                return db.execute("SELECT count(*) FROM ocpp_messages WHERE at >= ?", (stamp,)).fetchone()[0]
        import psycopg

        with psycopg.connect(url.replace("+asyncpg", ""), connect_timeout=5) as db:
            return db.execute("SELECT count(*) FROM ocpp_messages WHERE at >= %s", (since,)).fetchone()[0]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.notes.append(f"did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM; killed")
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_for(target: Target, ready) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        target.check_alive()
        if ready():
            return
        time.sleep(0.1)
    raise ServerFailed(
        f"{target.name} not ready within {START_TIMEOUT_S:g} s:\n{target.log_tail()}"
    )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_silkcharge(
    name: str,
    database_url: str,
    target: Target | None = None,
    settings: dict[str, str] | None = None,
) -> Target:
    """`silkcharge serve` on `database_url`; `settings` adds or overrides SILKCHARGE_* variables."""
    target = target or Target(name)
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "SILKCHARGE_DATABASE_URL": database_url,
        "SILKCHARGE_API_KEY": API_KEY,
        "SILKCHARGE_API_PORT": str(api_port),
        "SILKCHARGE_OCPP_PORT": str(ocpp_port),
        "SILKCHARGE_AUTO_PROVISION": "true",
        "SILKCHARGE_LOG_LEVEL": "WARNING",
        **(settings or {}),
    }
    target.database_url = database_url
    target.launch([sys.executable, "-m", "silkcharge.cli", "serve"], env)
    _wait_for(target, lambda: _http_ok(f"http://127.0.0.1:{api_port}/api/v1/health"))
    target.ocpp_url = f"ws://127.0.0.1:{ocpp_port}/ocpp"
    target.api_url = f"http://127.0.0.1:{api_port}"
    return target


def start_silkcharge_sqlite(
    name: str = "silkcharge SQLite", settings: dict[str, str] | None = None
) -> Target:
    """`silkcharge serve` on a SQLite file of its own; `settings` as for `start_silkcharge`."""
    target = Target(name)
    return start_silkcharge(
        target.name, f"sqlite+aiosqlite:///{target.workdir}/silkcharge.sqlite3", target, settings
    )


def start_baseline() -> Target:
    target = Target("baseline in-memory")
    port = free_port()
    target.launch(
        [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)], dict(os.environ)
    )
    _wait_for(target, lambda: _port_open(port))
    target.ocpp_url = f"ws://127.0.0.1:{port}/ocpp"
    return target


def ensure_node_packages() -> None:
    """Install bench/node's npm packages (from its lock file) unless they are already there.

    The benchmark installs them itself, so a fresh clone needs nothing but Node and npm."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise ServerFailed(f"{tool} is not installed; the Node targets and generator need it")
    modules = NODE_DIR / "node_modules"
    if all((modules / name).is_dir() for name in ("ocpp-rpc", "ws")):
        return
    verb = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
    command = ["npm", verb, "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"]
    print(f"installing bench/node's packages: {' '.join(command)}", file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ServerFailed(
            f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def node_package_version(name: str) -> str:
    """The version of an npm package installed in bench/node, or "?"."""
    try:
        manifest = (NODE_DIR / "node_modules" / name / "package.json").read_text()
    except OSError:
        return "?"
    return json.loads(manifest).get("version", "?")


def start_ocpp_rpc() -> Target:
    """The in-memory ocpp-rpc CSMS (bench/node/rpc_server.js): ocpp1.6 and ocpp2.0.1."""
    ensure_node_packages()
    target = Target("ocpp-rpc in-memory")
    port = free_port()
    target.launch(["node", str(NODE_DIR / "rpc_server.js"), "--port", str(port)], dict(os.environ))
    _wait_for(target, lambda: _port_open(port))
    target.ocpp_url = f"ws://127.0.0.1:{port}/ocpp"
    return target


PICOWS = "picows==2.3.1"  # pinned, as bench/node's packages are by their lock file
PICOWS_DIR = BENCH / ".python"  # where the benchmark installs it, outside the project's venv


def ensure_picows() -> dict[str, str]:
    """The environment of a process that imports picows: the project's venv when it has it,
    else bench/.python, where this installs it (from PyPI) the first time."""
    env = dict(os.environ)
    probe = [sys.executable, "-c", "import picows"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PICOWS_DIR), env.get("PYTHONPATH"))))
    if subprocess.run(probe, capture_output=True, env=env).returncode != 0:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PICOWS_DIR), PICOWS]
        print(f"installing {PICOWS} for the layer targets: {' '.join(command)}", file=sys.stderr)
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise ServerFailed(f"could not install {PICOWS}:\n{done.stderr[-2000:]}")
    return env


def start_ws_layer(layer: str) -> Target:
    """bench/ws_layer_server.py on `layer` ("websockets" or "picows"): the WebSocket layer alone."""
    env = ensure_picows() if layer == "picows" else dict(os.environ)
    target = Target(f"{layer} layer alone")
    port = free_port()
    target.launch([sys.executable, str(BENCH / "ws_layer_server.py"), "--layer", layer, "--port", str(port)], env)
    _wait_for(target, lambda: _port_open(port))
    target.ocpp_url = f"ws://127.0.0.1:{port}/ocpp"
    return target


def start_floor(
    database: PostgresDatabase | None = None, readings: str = "rows", connections: int = 1
) -> Target:
    """bench/durable_floor_server.py on a SQLite file of its own, or on `database`: the least a
    durable Python server does per message (`readings` and `connections` as its options say)."""
    target = Target("durable floor " + ("PostgreSQL" if database else "SQLite"))
    port = free_port()
    if database is None:
        target.database_url = f"sqlite:///{target.workdir}/floor.sqlite3"
    else:
        target.database_url = database.url().replace("+asyncpg", "")
        target.database_pid = database.postmaster_pid
    target.launch(
        [sys.executable, str(BENCH / "durable_floor_server.py"), "--port", str(port),
         "--database", target.database_url, "--readings", readings,
         *(["--connections", str(connections)] if database is not None else [])],
        ensure_picows(),
    )
    _wait_for(target, lambda: _port_open(port))
    target.ocpp_url = f"ws://127.0.0.1:{port}/ocpp"
    return target


def picows_version() -> str | None:
    env = ensure_picows()
    done = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import version; print(version('picows'))"],
        capture_output=True, text=True, env=env,
    )
    return done.stdout.strip() or None


class PostgresDatabase:
    """A database made for one run on a local PostgreSQL (trust auth), dropped afterwards."""

    def __init__(self, admin_dsn: str, suffix: str = "") -> None:
        import psycopg

        self._psycopg = psycopg
        self._admin_dsn = admin_dsn
        # `suffix` tells apart the databases one process makes (a side each, at once).
        self.name = f"silkcharge_bench_{os.getpid()}{suffix}"
        try:
            self._create(admin_dsn)
        except psycopg.Error as error:
            raise ServerFailed(f"no PostgreSQL to benchmark on at {admin_dsn}: {error}") from None

    def _create(self, admin_dsn: str) -> None:
        with self._psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.name}"')
            self.version = admin.execute("SHOW server_version").fetchone()[0]
            backend = admin.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.postmaster_pid = self._parent(backend)
            self.fsync = admin.execute("SHOW fsync").fetchone()[0]
            self.synchronous_commit = admin.execute("SHOW synchronous_commit").fetchone()[0]

    @staticmethod
    def _parent(pid: int) -> int | None:
        return parent_of(pid)  # None: PostgreSQL on another host or out of sight, not counted

    def url(self) -> str:
        conninfo = self._psycopg.conninfo.conninfo_to_dict(self._admin_dsn)
        user, host = conninfo.get("user", "postgres"), conninfo.get("host", "127.0.0.1")
        return f"postgresql+asyncpg://{user}@{host}:{conninfo.get('port', 5432)}/{self.name}"

    def sessions_opened(self) -> int | None:
        """Connections made to the run's database so far (PostgreSQL 14+ counts them)."""
        with self._psycopg.connect(self._admin_dsn, autocommit=True, connect_timeout=5) as admin:
            row = admin.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.name,)
            ).fetchone()
        return row[0] if row else None

    def drop(self) -> None:
        with self._psycopg.connect(self._admin_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def gateway_processes(count: int, redis_url: str) -> dict[str, str]:
    """Settings for `count` gateway processes on one OCPP port (SO_REUSEPORT), routing commands
    and events through `redis_url`, whose database is emptied first: routes and liveness keys
    left by an earlier run would name nodes that are gone. Raises ServerFailed without Redis."""
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).flushdb()
    except redis.RedisError as error:
        raise ServerFailed(f"no Redis at {redis_url}: {error}") from error
    # Every process (the gateways and the API parent) has its own pool: keep them all within
    # PostgreSQL's default max_connections of 100, with room for the benchmark's own session.
    pool = min(30, 95 // (count + 1))
    return {
        "SILKCHARGE_GATEWAY_PROCESSES": str(count),
        "SILKCHARGE_REDIS_URL": redis_url,
        "SILKCHARGE_DATABASE_POOL_SIZE": str(pool),
    }


def listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port` (several gateway processes: one each)."""
    wanted = f"0100007F:{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        count += fields[1] == wanted and fields[3] == "0A"  # 0A: LISTEN
    return count


def start_silkcharge_postgres(
    database: PostgresDatabase,
    name: str = "silkcharge PostgreSQL",
    settings: dict[str, str] | None = None,
) -> Target:
    target = start_silkcharge(name, database.url(), settings=settings)
    target.database_pid = database.postmaster_pid
    processes = int((settings or {}).get("SILKCHARGE_GATEWAY_PROCESSES", "1"))
    if processes > 1:  # the API answers before the extra gateways listen: wait for them too
        port = int(target.ocpp_url.rsplit(":", 1)[1].split("/")[0])
        _wait_for(target, lambda: listeners(port) >= processes)
    return target
