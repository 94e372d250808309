"""What the drills share: databases on the main PostgreSQL, a throwaway PostgreSQL cluster,
``manage.py`` and Celery worker subprocesses, gunicorn, and row comparisons with readable
differences. Everything here talks to real processes; nothing is mocked."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.conf import settings
from psycopg import sql

from pls_portal.celery import QUEUES
from tests.processes import process_stop

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable


class DrillError(AssertionError):
    """A drill could not even be set up or driven as planned (not a finding about the
    app): the message says which step and shows the process output."""


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.2
) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens there, else any free local port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise DrillError("no free local port")


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return f"({path} does not exist)"


def clear_of_midnight(minutes: int) -> None:
    """Scores depend on the UTC date (windows end today). A drill that compares two runs
    must not straddle midnight: within ``minutes`` of it, wait until it has passed."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < timedelta(minutes=minutes):
        time.sleep((midnight - now).total_seconds() + 5)


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the drills may create and drop databases on."""

    host: str
    port: int
    user: str
    password: str = ""

    def url(self, database: str) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgres://{auth}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=database,
            autocommit=True,
            **kwargs,
        )

    def create(self, name: str, *, template: str | None = None) -> str:
        """A new, empty (or copied) database; an old one of that name is dropped first.
        Returns its URL."""
        self.drop(name)
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if self.version_num() >= 150000:  # a file copy: seconds, not minutes of WAL
                statement += sql.SQL(" STRATEGY FILE_COPY")
        with self.connect() as conn:
            conn.execute(statement)
        return self.url(name)

    def drop(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def version_num(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("SHOW server_version_num").fetchone()[0])


def fetch(url: str, query: str, params: Iterable | None = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def scalar(url: str, query: str, params: Iterable | None = None):
    return fetch(url, query, params)[0][0]


def execute(url: str, query: str, params: Iterable | None = None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).rowcount


def server_of(settings_dict: dict) -> Server:
    return Server(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=int(settings_dict["PORT"] or 5432),
        user=settings_dict["USER"] or "postgres",
        password=settings_dict["PASSWORD"] or "",
    )


def postgres_bin(version_num: int) -> Path:
    """The directory of PostgreSQL's programs of the main server's major version (so that
    pg_dump and the throwaway server match it), else the newest installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        on_path = shutil.which("initdb")
        if on_path is None:
            raise DrillError("initdb not found (apt-get install postgresql)")
        return Path(on_path).parent
    major = str(version_num // 10000)
    for path in found:
        if Path(path).parent.parent.name == major:
            return Path(path).parent
    return Path(found[-1]).parent


class ThrowawayCluster:
    """A PostgreSQL cluster of its own (initdb into a temporary directory, trust auth,
    a free port from 5439), which a drill may stop and start without disturbing the
    machine's PostgreSQL. ``remove`` stops it and deletes its files."""

    def __init__(self, *, bin_dir: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port(5439)
        self.root = Path(tempfile.mkdtemp(prefix="pls-reliability-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        # initdb and postgres refuse to run as root: the postgres account runs them.
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, user="postgres")
        self.server = Server(host="127.0.0.1", port=self.port, user="postgres")

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [*self.as_user, str(self.bin_dir / args[0]), *args[1:]]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            raise DrillError(
                f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n"
                f"{done.stderr}\n{tail(self.log)}"
            )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=40"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: what a crash or a pulled plug looks like to the clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def copy_schema(*, source: Server, database: str, target: Server, into: str, bin_dir: Path):
    """Copy a migrated database to another server: pg_dump piped into psql."""
    dump = subprocess.Popen(
        [str(bin_dir / "pg_dump"), "--no-owner", "--no-privileges", source.url(database)],
        stdout=subprocess.PIPE,
    )
    load = subprocess.run(
        [str(bin_dir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", target.url(into)],
        stdin=dump.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    dump.stdout.close()
    dump.wait(timeout=60)
    if dump.returncode or load.returncode:
        raise DrillError(f"copying {database} failed: {load.stderr[-2000:]}")


# --- Processes ------------------------------------------------------------------------------


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an app process (manage.py, worker, gunicorn) on ``database_url``
    and the drills' broker."""
    return os.environ | {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(database_url: str, *args: str, timeout: float = 600) -> str:
    """Run ``manage.py`` on ``database_url``; its stdout, or a DrillError with its output."""
    command = [PYTHON, "manage.py", *args]
    done = subprocess.run(
        command,
        cwd=BASE_DIR,
        env=app_env(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise DrillError(
            f"manage.py {' '.join(args)[:200]} exited with {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def shell(database_url: str, code: str, *, timeout: float = 600) -> str:
    """Python run by ``manage.py shell -c`` on ``database_url`` (the app's own services)."""
    return manage(database_url, "shell", "-c", code, timeout=timeout)


class Worker:
    """A real Celery worker process (solo pool, every queue, no beat) on a database."""

    def __init__(self, *, database_url: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        command = [
            PYTHON, "-m", "celery", "-A", "pls_portal", "worker",
            "--pool=solo", "--loglevel=INFO", "-Q", ",".join(QUEUES),
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--hostname=reliability-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        with log.open("a") as out:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=app_env(database_url, **(env or {})),
                stdout=out,
                stderr=out,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise DrillError(f"the worker exited with {code}:\n{tail(self.log)}")
            return " ready." in tail(self.log, 20000)

        wait_until(ready, timeout=timeout, what=f"the worker to be ready (log {self.log})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no cleanup, no acknowledgement, no lock released."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        process_stop(self.process)


class Gunicorn:
    """gunicorn serving the app with production settings on plain HTTP, logging every
    request (with its status and user agent) to ``access_log``."""

    def __init__(self, *, database_url: str, root: Path) -> None:
        self.port = free_port()
        self.log = root / "gunicorn.log"
        self.access_log = root / "gunicorn-access.log"
        static_root = root / "static"
        static_root.mkdir(exist_ok=True)
        env = app_env(
            database_url,
            DEBUG="0",
            SECRET_KEY="reliability-" + os.urandom(24).hex(),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
            STATIC_ROOT=str(static_root),
        )
        command = [
            str(Path(PYTHON).parent / "gunicorn"), "pls_portal.wsgi",
            "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{self.port}",
            "--timeout", "60", "--access-logfile", str(self.access_log),
            "--access-logformat", '%(m)s %(U)s %(s)s "%(a)s"',
        ]  # fmt: skip
        with self.log.open("w") as out:
            self.process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=out)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        process_stop(self.process)


# --- Comparisons ----------------------------------------------------------------------------


def differences(
    what: str, drill: Iterable[tuple], reference: Iterable[tuple], *, key_width: int = 1
) -> str:
    """Rows keyed by their first ``key_width`` values: '' when both sides hold the same
    rows, else how many are missing, extra or different, with a few examples."""
    drill, reference = list(drill), list(reference)
    ours = {row[:key_width]: row[key_width:] for row in drill}
    theirs = {row[:key_width]: row[key_width:] for row in reference}
    missing = sorted(k for k in theirs if k not in ours)
    extra = sorted(k for k in ours if k not in theirs)
    changed = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    doubled = sorted(k for k, n in Counter(row[:key_width] for row in drill).items() if n > 1)
    if not (missing or extra or changed or doubled):
        return ""
    lines = [
        f"{what}: {len(missing)} missing, {len(extra)} extra, {len(changed)} different, "
        f"{len(doubled)} duplicated (of {len(theirs)} in the uninterrupted run)"
    ]
    for key in changed[:3]:
        lines.append(f"  {key}: after the kill {_short(ours[key])}")
        lines.append(f"  {' ' * len(str(key))}  uninterrupted {_short(theirs[key])}")
    lines += [f"  missing {k}: {_short(theirs[k])}" for k in missing[:3]]
    lines += [f"  extra {k}: {_short(ours[k])}" for k in extra[:3]]
    lines += [f"  duplicated {k}" for k in doubled[:3]]
    return "\n".join(lines)


def _short(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
