"""What every benchmark shares: a scratch database on the same server, servers started with their output
in `.data/bench-*.log`, an HTTP load generator and the way figures are printed."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from config import embedded  # noqa: E402

CEILING_PORT = 8302


def db_url(base_url: str, database: str) -> str:
    return urlunparse(urlparse(base_url)._replace(path=f"/{database}"))


def redis_db_url(base_url: str, number: int) -> str:
    return urlunparse(urlparse(base_url)._replace(path=f"/{number}"))


def recreate_database(base_url: str, name: str, *, with_ceiling_table: bool = False) -> str:
    import psycopg

    with psycopg.connect(db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = db_url(base_url, name)
    if with_ceiling_table:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body text NOT NULL)")
    return url


def drop_database(base_url: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def scratch_env(
    *, database: str, redis_db: int, with_ceiling_table: bool = False, reuse: bool = False, **extra: str
) -> tuple[str, dict]:
    """Start the embedded services if needed, make a fresh scratch database (or, `reuse`, keep the one a
    previous `--keep` run left), and return (the server's base database URL, the environment every bench
    process runs with); this process uses it too."""
    embedded.apply_defaults()
    base_url = os.environ["DATABASE_URL"]
    env = {
        **os.environ,
        "DATABASE_URL": db_url(base_url, database)
        if reuse
        else recreate_database(base_url, database, with_ceiling_table=with_ceiling_table),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
        "REDIS_URL": redis_db_url(os.environ["REDIS_URL"], redis_db),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ALLOWED_HOSTS": "*",
        **extra,
    }
    os.environ.update(env)
    return base_url, env


def migrate(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--verbosity", "0"], env=env, check=True)
    return time.perf_counter() - started


def start(command: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
    log = open(embedded.DATA_DIR / log_name, "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_daphne(port: int, env: dict[str, str], log_name: str, processes: int = 1) -> subprocess.Popen:
    """The web tier as production runs it (scripts/web.py): `processes` daphne processes on the port."""
    server = start(
        [
            sys.executable,
            "scripts/web.py",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            str(processes),
        ],
        env,
        log_name,
    )
    wait_port(port)
    return server


def stop(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while not embedded.port_answers("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing answers on port {port}; see .data/bench-*.log")
        time.sleep(0.2)


def rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return (
        process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
    ) / 2**20


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children (a web tier's daphnes) have used so far."""
    import psutil

    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


async def load(
    url: str,
    host: str,
    bodies: list[bytes],
    concurrency: int,
    headers_for: Callable[[bytes], dict[str, str]],
    method: str = "POST",
) -> tuple[list[float], int, float]:
    """Send every body (or GET once per body when method is GET) at the given concurrency."""
    import httpx

    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers={"Host": host}) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                try:
                    if method == "GET":
                        response = await client.get(url, headers=headers_for(body))
                    else:
                        response = await client.post(url, content=body, headers=headers_for(body))
                    if response.status_code >= 300:
                        errors += 1
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def report(name: str, latencies: list[float], errors: int, elapsed: float) -> float:
    ordered = sorted(latencies)
    rps = len(latencies) / elapsed
    print(
        f"{name}: {len(latencies)} requests in {elapsed:.1f} s = {rps:.0f} req/s; "
        f"ack p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms; "
        f"errors {errors}",
        flush=True,
    )
    return rps


def ceiling_rps(
    env: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    headers_for: Callable[[bytes], dict[str, str]] | None = None,
) -> float:
    """The same load (same bodies and headers) against a bare view that inserts one row: the ceiling."""
    ceiling = start_daphne(
        CEILING_PORT, {**env, "DJANGO_SETTINGS_MODULE": "bench.ceiling_settings"}, "bench-ceiling.log"
    )
    try:
        return report(
            "bare insert view (ceiling)",
            *asyncio.run(
                load(
                    f"http://127.0.0.1:{CEILING_PORT}/ingest/",
                    "127.0.0.1",
                    bodies,
                    concurrency,
                    headers_for=headers_for or (lambda body: {"Content-Type": "application/json"}),
                )
            ),
        )
    finally:
        stop(ceiling)
