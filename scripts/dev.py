"""`make run` and `make test`: bring up the embedded defaults, prepare the database, then either
supervise web + worker + beat or run the test suite.

Usage: python scripts/dev.py run | test [pytest args...] | services
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config import embedded  # noqa: E402

BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[omnidesk] {message}", flush=True)


def describe(url: str) -> str:
    """A URL without its password, for the banner."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.password:
        url = url.replace(f":{parsed.password}@", ":***@")
    return url


def redis_database(url: str, number: int) -> str:
    from urllib.parse import urlparse, urlunparse

    return urlunparse(urlparse(url)._replace(path=f"/{number}"))


def services() -> None:
    embedded.apply_defaults()
    log(f"database: {describe(os.environ['DATABASE_URL'])}")
    log(f"redis:    {describe(os.environ['REDIS_URL'])}")


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)


def prepare(port: str) -> None:
    services()
    # The sandbox calls this app back on the port it serves.
    os.environ.setdefault("WHATSAPP_SANDBOX_WEBHOOK_BASE", f"http://{{host}}:{port}")
    os.environ.setdefault("SHORT_LINK_BASE", f"http://{{host}}:{port}")
    log("migrating the public schema and every company schema…")
    manage("migrate_schemas", "--verbosity", "0")
    log("seeding the demo (idempotent)…")
    manage("seed_demo")
    manage("collectstatic", "--noinput", "--verbosity", "0")


def banner(port: str, sandbox_port: str) -> None:
    from tenants.demo import demo_logins

    base = os.environ.get("BASE_DOMAIN", "localhost")
    lines = ["", "OmniDesk is running. Press Ctrl-C to stop everything.", ""]
    lines.append(f"  Operator console:  http://{base}:{port}/admin/")
    lines.append(f"  Demo dashboard:    http://demo.{base}:{port}/")
    lines.append(f"  Second company:    http://acme.{base}:{port}/")
    lines.append(f"  API docs:          http://demo.{base}:{port}/api/v1/docs/")
    lines.append(f"  Channels, QR code: http://demo.{base}:{port}/channels/")
    lines.append(f"  Health:            http://demo.{base}:{port}/health")
    lines.append(
        f"  WhatsApp sandbox:  http://127.0.0.1:{sandbox_port}/  (play the customer: message the demo number)"
    )
    lines.append(
        f"  Other channels:    http://127.0.0.1:{sandbox_port}/_stubs  (a customer on SMS, Twilio WhatsApp, "
        "Messenger, Instagram)"
    )
    lines.append("")
    lines.append("  Logins (host, email, password):")
    lines.extend(f"    {host:<18} {email:<22} {password}" for host, email, password in demo_logins(base))
    lines.append("")
    print("\n".join(lines), flush=True)


class Supervisor:
    """Runs the processes together; Ctrl-C or one of them dying stops them all, and says which."""

    def __init__(self, commands: dict[str, list[str]]):
        self.commands = commands
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self) -> None:
        for name, command in self.commands.items():
            # Own session: Ctrl-C reaches only us, and we stop the children in order.
            self.procs[name] = subprocess.Popen(command, start_new_session=True)
            log(f"started {name} (pid {self.procs[name].pid})")

    def stop(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log("all processes stopped")

    def watch(self) -> int:
        def on_signal(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)  # also when started in the background, where it is ignored
        try:
            while True:
                for name, proc in self.procs.items():
                    code = proc.poll()
                    if code is not None:
                        log(f"{name} died (exit code {code}); stopping the others")
                        self.stop()
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            log("stopping…")
            self.stop()
            return 0


def qr_runner() -> dict[str, list[str]]:
    """The QR-code WhatsApp session runner, when the optional extra `qr` (neonize) is installed."""
    import importlib.util

    if importlib.util.find_spec("neonize") is None:
        log("QR-code WhatsApp sessions are off: install the extra with `pip install -e '.[qr]'`")
        return {}
    return {"wa-sessions": [sys.executable, "manage.py", "run_wa_sessions"]}


def run() -> int:
    port = os.environ.get("PORT", "8000")
    sandbox_port = os.environ.get("SANDBOX_PORT", "8025")
    os.environ.setdefault("WHATSAPP_SANDBOX_URL", f"http://127.0.0.1:{sandbox_port}")
    prepare(port)
    supervisor = Supervisor(
        {
            # daphne, in WEB_PROCESSES processes (default 1) sharing the port (scripts/web.py).
            "web": [
                sys.executable,
                str(ROOT / "scripts" / "web.py"),
                "--bind",
                os.environ.get("BIND", "0.0.0.0"),
                "--port",
                port,
            ],
            # Threads: the work is I/O (database, providers), and one process keeps memory low.
            "worker": [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "threads",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "8"),
                "--queues",
                "celery,ai",
            ],
            "beat": [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"],
            "sandbox": [
                sys.executable,
                "-m",
                "channels_wa.sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                sandbox_port,
                "--state-file",
                str(embedded.DATA_DIR / "sandbox.json"),
            ],
            **qr_runner(),
        }
    )
    try:
        supervisor.start()
        deadline = time.monotonic() + 30
        while not embedded.port_answers("127.0.0.1", int(port)) and time.monotonic() < deadline:
            time.sleep(0.3)
        while not embedded.port_answers("127.0.0.1", int(sandbox_port)) and time.monotonic() < deadline:
            time.sleep(0.3)
        manage("sandbox_sync")  # the sandbox learns the demo number, its secret and our webhook URL
        time.sleep(1.5)  # let the worker finish its start-up chatter so the banner is the last thing shown
        banner(port, sandbox_port)
    except BaseException:
        supervisor.stop()
        raise
    return supervisor.watch()


def test(args: list[str]) -> int:
    services()
    # One test database per run, so parallel runs on one machine never share it, and a Redis database
    # of its own (flushed by the suite) so counters and locks never leak from a dev run or an earlier test.
    os.environ.setdefault("DATABASE_TEST_NAME", f"test_omnidesk_{os.getpid()}")
    os.environ["REDIS_URL"] = os.environ.get("REDIS_TEST_URL") or redis_database(os.environ["REDIS_URL"], 15)
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="omnidesk-test-media-"))
    return subprocess.call([sys.executable, "-m", "pytest", *args])


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command == "run":
        return run()
    if command == "test":
        return test(sys.argv[2:])
    if command == "services":
        services()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
