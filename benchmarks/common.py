"""What the benchmark scripts share: the report file and its sections, the machine's
facts, percentiles, and gunicorn with production settings on a free local port."""

from __future__ import annotations

import http.client
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "benchmarks" / "report.md"


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` (0.95: the p95) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- the report ---------------------------------------------------------------------------


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the ``heading`` section replaced by ``section`` (appended if new)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def report_section_write(heading: str, section: str) -> None:
    """Replace (or add) one benchmark's section of ``benchmarks/report.md``."""
    existing = REPORT.read_text() if REPORT.exists() else "# Benchmark report\n"
    REPORT.write_text(replace_section(existing, heading, section))


def machine_facts() -> dict:
    """CPUs, memory, kernel, Python, and the PostgreSQL server and the settings that move
    the figures (Django's connection must be configured)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN "
            "('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'wal_level', "
            "'work_mem', 'jit', 'max_parallel_workers_per_gather', 'effective_cache_size')"
        )
        settings = {name: f"{value}{' ' + unit if unit else ''}" for name, value, unit in cursor}
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory = meminfo.read_text().splitlines()[0].split(":", 1)[1].strip()
    uname = shutil.which("uname")
    return {
        "cpu_count": os.cpu_count(),
        "uname": subprocess.run(
            [uname, "-a"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if uname
        else " ".join(platform.uname()),
        "memory": memory,
        "python": platform.python_version(),
        "postgresql": version,
        "postgresql_settings": settings,
        "postgresql_host": "same machine (127.0.0.1)",
    }


def process_stop(process: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM (a warm shutdown for Celery), then SIGKILL after ``timeout`` seconds;
    nothing if it has already ended."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(database_url: str, static_root: str) -> dict[str, str]:
    """Production settings on plain HTTP: what gunicorn (and the in-process profile) run."""
    return {
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        # The ingest API renders no template, so an empty STATIC_ROOT is enough.
        "STATIC_ROOT": static_root,
        "DJANGO_SETTINGS_MODULE": "pls_portal.settings",
    }


class Server:
    """gunicorn serving ``pls_portal.wsgi`` on a free local port."""

    def __init__(self, *, env: dict[str, str], workers: int, threads: int, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("w")
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "pls_portal.wsgi",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--keep-alive",
            "30",
            "--timeout",
            "120",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=self.log
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"gunicorn did not answer /healthz within {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        process_stop(self.process, timeout=30)
        self.log.close()
