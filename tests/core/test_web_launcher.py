"""scripts/web.py: the web tier as several daphne processes on one port, started and stopped as one."""

from __future__ import annotations

import signal
import sys
import time

import httpx
import psutil
import pytest

from tests.conftest import _test_process_env, _wait_for, start_process
from tests.helpers import free_port


@pytest.fixture
def web_tier(committed_db):
    from config.embedded import port_answers

    port = free_port()
    proc, log_path = start_process(
        [sys.executable, "scripts/web.py", "--bind", "127.0.0.1", "--port", str(port), "--processes", "2"],
        _test_process_env(),
        "web-tier",
    )
    _wait_for(proc, lambda: port_answers("127.0.0.1", port), "the web tier", log_path)
    yield proc, port
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def _daphnes(proc) -> list[psutil.Process]:
    return [child for child in psutil.Process(proc.pid).children() if "daphne" in " ".join(child.cmdline())]


def _wait_gone(processes: list[psutil.Process], timeout_s: float = 20) -> None:
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    assert not alive, f"still running: {alive}"


def test_two_processes_serve_one_port_and_stop_together(web_tier):
    proc, port = web_tier
    daphnes = _daphnes(proc)
    assert len(daphnes) == 2
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": "alpha.localhost"}) as client:
        for _ in range(3):
            response = client.get("/health")
            assert response.status_code == 200 and response.json()["checks"]["database"] == "ok"
        # Every connection is served, whichever process accepts it.
        assert all(httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200 for _ in range(6))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    _wait_gone(daphnes)


def test_one_process_dying_stops_the_tier_so_its_supervisor_restarts_it(web_tier):
    proc, _port = web_tier
    first, second = _daphnes(proc)
    first.kill()
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.returncode not in (None, 0)
    _wait_gone([second])
