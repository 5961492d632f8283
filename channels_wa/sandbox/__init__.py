"""A stand-alone WhatsApp Cloud API sandbox (stdlib + httpx, no Django): the real Meta provider code points
its base URL here; the sandbox answers like Meta, enforces Meta's rules and calls the app's webhook back,
signed.

Start it with `python -m channels_wa.sandbox --host 127.0.0.1 --port 8025 [--state-file PATH]`, or in-process
with `run_server(host, port, state_file)`.
"""

from .server import SandboxServer, run_server

__all__ = ["SandboxServer", "run_server"]
