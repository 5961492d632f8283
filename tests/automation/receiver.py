"""A loopback HTTP receiver for outbound webhooks, started in the test, that verifies signatures with the
README's recipe, copied literally out of the README (so the README's code is what the tests prove)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def readme_verifier():
    """verify_omnidesk_signature, executed from the first python block of the README's receiving section."""
    section = README.read_text().split("## Receiving OmniDesk webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["verify_omnidesk_signature"]


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    is_signature_valid: bool
    answered: int

    @property
    def delivery_id(self) -> str:
        return self.headers["X-OmniDesk-Delivery"]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request. `fail_next` answers 500 that many times; `is_gone` answers 410."""

    secret: str = ""
    fail_next: int = 0
    is_gone: bool = False
    requests: list[ReceivedRequest] = field(default_factory=list)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    @property
    def accepted(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.answered == 200]

    def start(self) -> Receiver:
        verify = readme_verifier()
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name: value for name, value in self.headers.items()}
                is_valid = verify(receiver.secret, headers.get("X-OmniDesk-Signature", ""), body)
                with lock:
                    if receiver.is_gone:
                        status = 410
                    elif receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    else:
                        status = 200 if is_valid else 401
                    receiver.requests.append(ReceivedRequest(self.path, headers, body, is_valid, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/omnidesk"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
