"""Run web + Celery worker + beat together in the foreground; Ctrl-C stops all three."""

import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from pls_portal.demo import demo_login_lines


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and Celery beat together (the demo)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options) -> None:
        python = sys.executable
        schedule = settings.CELERY_BEAT_SCHEDULE_FILENAME
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "pls_portal", "worker",
                "--loglevel=INFO", "--concurrency=2", "--hostname=demo@%h",
            ],
            "beat": [
                python, "-m", "celery", "-A", "pls_portal", "beat",
                "--loglevel=INFO", f"--schedule={schedule}",
            ],
        }  # fmt: skip
        # Fixed argument lists built above from sys.executable: no shell, no user input.
        procs = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603
            for name, cmd in commands.items()
        }
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nPLS Portal is starting at {url}"))
        self.stdout.write("Log in as:")
        for line in demo_login_lines():
            self.stdout.write(line)
        self.stdout.write("Press Ctrl-C to stop the web server, the worker and beat.\n")

        stop_requested = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop_requested.set())
        exit_code = self._wait(procs, stop_requested)
        self._stop(procs)
        if exit_code:
            sys.exit(exit_code)

    def _wait(self, procs: dict[str, subprocess.Popen], stop_requested: threading.Event) -> int:
        """Until Ctrl-C (0) or until one process dies on its own (its exit code): the
        demo is useless without any of the three."""
        while not stop_requested.wait(0.5):
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping.")
                    return proc.returncode or 1
        return 0

    def _stop(self, procs: dict[str, subprocess.Popen]) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        self.stdout.write("Stopped web, worker and beat.")
