"""`python -m channels_wa.sandbox`: run the WhatsApp sandbox until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
import time

from .server import SandboxServer


def _gc_freeze_forever(every_s: float = 2.0) -> None:
    """Everything the sandbox keeps (numbers, messages, threads) lives until it stops, and a full garbage
    collection over all of it stalls every request for tens of milliseconds (83 ms at 140,000 messages):
    long enough to bunch sends that left a client on their slots into one second, which the per-second
    rate check then refuses. Real Graph API servers do not stall like that, so what is kept is moved out
    of the collector's sight as it accumulates (refcounting still frees what is dropped)."""
    while True:
        time.sleep(every_s)
        gc.freeze()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels_wa.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument(
        "--state-file", default=None, help="JSON file keeping numbers and threads across restarts"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    server = SandboxServer((args.host, args.port), state_file=args.state_file)
    threading.Thread(target=_gc_freeze_forever, name="gc-freeze", daemon=True).start()
    # SIGTERM (from a process manager) stops like Ctrl-C; shutdown() must run outside the serving thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    logging.getLogger("channels_wa.sandbox").info(
        "WhatsApp sandbox on %s (customer phone page at %s/)", server.base_url, server.base_url
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
