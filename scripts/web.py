"""The web tier: daphne (HTTP and WebSocket) in WEB_PROCESSES processes that share one listening socket.

Python runs one thread at a time in a process, so one daphne uses at most one core however many threads
it has; on a machine with more cores, more processes serve more requests. Each is a plain daphne given
the socket this launcher opened (`--fd`); the kernel hands every new connection to one of them. They
share nothing else: sessions, caches, rate limits and realtime groups live in PostgreSQL and Redis.

If one process dies, the launcher stops the others and exits with its code, so whatever supervises the
web tier (make run, docker-compose's restart policy) sees it and restarts it whole. SIGTERM or SIGINT
stops them all.

    python scripts/web.py [--bind 0.0.0.0] [--port 8000] [--processes N] [--application module:app]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

STOP_TIMEOUT_S = 15


def serve(*, bind: str, port: int, processes: int, application: str) -> int:
    if processes <= 1:  # one daphne, exactly as without the launcher
        os.execv(sys.executable, [sys.executable, "-m", "daphne", "-b", bind, "-p", str(port), application])
    listener = socket.create_server((bind, port), backlog=1024)  # SO_REUSEADDR, as daphne binds
    listener.set_inheritable(True)
    fd = listener.fileno()
    children = [
        subprocess.Popen([sys.executable, "-m", "daphne", "--fd", str(fd), application], pass_fds=(fd,))
        for _ in range(processes)
    ]
    print(f"[web] {processes} daphne processes on {bind}:{port}: {[c.pid for c in children]}", flush=True)

    def stop(*_args) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        while code == 0:
            for child in children:
                if child.poll() is not None:
                    print(f"[web] daphne {child.pid} exited ({child.returncode}); stopping", flush=True)
                    code = child.returncode or 1
                    break
            else:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    listener.close()
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("BIND", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", "1")))
    parser.add_argument("--application", default="config.asgi:application")
    args = parser.parse_args()
    return serve(bind=args.bind, port=args.port, processes=args.processes, application=args.application)


if __name__ == "__main__":
    sys.exit(main())
