"""Import benchmark: ``manage.py import_events`` keeps its memory bounded.

Writes two Segment-format JSONL files, one ``--scale`` times longer than the other,
imports each into a fresh scratch PostgreSQL database with ``manage.py import_events``
in its own process, and reports every run's events/s and peak RSS, and the ratio of the
two peaks (bounded memory: about 1, whatever the file length). Writes the "Import"
section of ``benchmarks/report.md`` and ``benchmarks/results/import.json``::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/import_memory.py [--events 50000] [--scale 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, ROOT, report_section_write  # after the root is importable

MAX_RSS_RATIO = 1.25

EVENTS = ("Project Created", "Report Exported", "Dashboard Shared", "API Call Made")


def write_jsonl(path: Path, events: int, seed: int) -> None:
    """Realistic lines: each user identifies once on a company domain, then tracks."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=30)
    run = uuid.uuid4().hex[:8]
    with path.open("w") as out:
        for n in range(events):
            company, user = rng.randrange(events // 40 + 1), rng.randrange(8)
            when = (start + timedelta(seconds=rng.randrange(30 * 86400))).isoformat()
            message = {
                "type": "track",
                "userId": f"c{company}-u{user}",
                "event": rng.choice(EVENTS),
                "properties": {"count": rng.randrange(1, 20)},
                "timestamp": when,
                "messageId": f"{run}-{n}",
            }
            if n % 10 == 0:
                message = {
                    "type": "identify",
                    "userId": f"c{company}-u{user}",
                    "traits": {"email": f"u{user}@company{company}.com"},
                    "timestamp": when,
                    "messageId": f"{run}-{n}",
                }
            out.write(json.dumps(message) + "\n")


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def run_import(path: Path, database_url: str) -> dict:
    """One import in its own process; peak RSS from the kernel's accounting of it."""
    env = os.environ | {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [python, "manage.py", "import_events", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        sys.exit(f"import_events failed:\n{output}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "output": output.strip(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="lines of the short file")
    parser.add_argument(
        "--scale", type=int, default=4, help="the long file is this many times longer"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("set DATABASE_URL (or --database-url) to a PostgreSQL server URL")

    import psycopg

    admin_url = _database(args.database_url, "postgres")
    runs = []
    with tempfile.TemporaryDirectory(prefix="pls-import-") as tmp:
        for size in (args.events, args.events * args.scale):
            path = Path(tmp) / f"events-{size}.jsonl"
            write_jsonl(path, size, seed=size)
            name = f"pls_import_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                print(f"importing {size:,} lines ({path.stat().st_size / 1e6:.1f} MB)…", flush=True)
                run = run_import(path, _database(args.database_url, name))
            finally:
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            run |= {"lines": size, "events_per_second": round(size / run["seconds"])}
            print(
                f"  {run['events_per_second']:,} events/s, peak RSS {run['peak_rss_mb']} MB",
                flush=True,
            )
            runs.append(run)

    ratio = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"]
    verdict = "PASS" if ratio <= MAX_RSS_RATIO else "MISS"
    print(
        f"peak RSS ratio ({args.scale}× the lines) = {ratio:.2f}: "
        f"{verdict} (bounded ≤ {MAX_RSS_RATIO})"
    )
    result = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "uname": " ".join(platform.uname())},
        "runs": runs,
        "rss_ratio": round(ratio, 3),
        "verdict": verdict,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "import.json").write_text(json.dumps(result, indent=2) + "\n")
    section = "\n".join(
        [
            "## Import",
            "",
            f"Run {result['finished_at']} by `benchmarks/import_memory.py` "
            "(figures in `benchmarks/results/import.json`): `manage.py import_events` of "
            "Segment JSONL into a fresh PostgreSQL database, each in its own process.",
            "",
            "| lines | events/s | peak RSS |",
            "|---|---|---|",
            *(
                f"| {r['lines']:,} | {r['events_per_second']:,} | {r['peak_rss_mb']} MB |"
                for r in runs
            ),
            "",
            f"Peak RSS ratio for {args.scale}× the lines: {ratio:.2f} "
            f"(bounded memory ≤ {MAX_RSS_RATIO}: **{verdict}**).",
            "",
        ]
    )
    report_section_write("## Import", section)
    if verdict == "MISS":
        sys.exit(1)


if __name__ == "__main__":
    main()
