"""A loopback server speaking the OpenAI (/v1/chat/completions, /v1/embeddings) and Gemini
(/v1beta/models/{m}:generateContent, :embedContent, :batchEmbedContents) wire formats, so the real
`openai` and `google-genai` clients run in tests. Each request is logged to a file and kept in memory.

Behaviour is scripted per test: `stub.queue("500", "timeout", "ok")` makes the next chat calls fail with
a 500, then hang past the client's timeout, then answer; `stub.reply_text` is the answer."""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMBED_DIMENSIONS = 64


def bag_of_words_vector(text: str, dimensions: int = EMBED_DIMENSIONS) -> list[float]:
    """A deterministic embedding: hashed word counts, normalized (texts sharing words are close)."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class ModelStub:
    def __init__(self, log_path: str):
        self.log_path = log_path
        self.requests: list[dict] = []
        self.script: list[str] = []
        self.reply_text = "Our shop opens at 9 am."
        self.prompt_tokens = 120
        self.completion_tokens = 30
        self.hang_s = 3.0
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def queue(self, *outcomes: str) -> None:
        with self._lock:
            self.script.extend(outcomes)

    def _next(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else "ok"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["kind"] == "chat"]

    def record(self, kind: str, path: str, headers: dict, body: dict) -> None:
        entry = {"kind": kind, "path": path, "headers": headers, "body": body, "at": time.time()}
        with self._lock:
            self.requests.append(entry)
            with open(self.log_path, "a") as log:
                log.write(json.dumps({"kind": kind, "path": path}) + "\n")


def _handler(stub: ModelStub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
            with open(stub.log_path, "a") as log:
                log.write((format % args) + "\n")

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _scripted_failure(self) -> bool:
            outcome = stub._next()
            if outcome == "timeout":
                time.sleep(stub.hang_s)
                self._send(200, {"error": "too late"})
                return True
            if outcome.isdigit():
                self._send(
                    int(outcome),
                    {
                        "error": {
                            "code": int(outcome),
                            "message": "stub failure",
                            "status": "UNAVAILABLE",
                            "type": "server_error",
                        }
                    },
                )
                return True
            return False

        def do_POST(self):  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            if path.endswith("/chat/completions"):
                stub.record("chat", path, headers, body)
                if self._scripted_failure():
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-stub",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": stub.reply_text},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": stub.prompt_tokens,
                            "completion_tokens": stub.completion_tokens,
                            "total_tokens": stub.prompt_tokens + stub.completion_tokens,
                        },
                    },
                )
            elif path.endswith("/embeddings"):
                stub.record("embed", path, headers, body)
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                self._send(
                    200,
                    {
                        "object": "list",
                        "model": body.get("model", ""),
                        "data": [
                            {"object": "embedding", "index": i, "embedding": bag_of_words_vector(t)}
                            for i, t in enumerate(inputs)
                        ],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )
            elif m := re.match(r".*/models/([^:]+):(generateContent|embedContent|batchEmbedContents)$", path):
                action = m.group(2)
                if action == "generateContent":
                    stub.record("chat", path, headers, body)
                    if self._scripted_failure():
                        return
                    self._send(
                        200,
                        {
                            "candidates": [
                                {
                                    "content": {"role": "model", "parts": [{"text": stub.reply_text}]},
                                    "finishReason": "STOP",
                                    "index": 0,
                                }
                            ],
                            "usageMetadata": {
                                "promptTokenCount": stub.prompt_tokens,
                                "candidatesTokenCount": stub.completion_tokens,
                                "totalTokenCount": stub.prompt_tokens + stub.completion_tokens,
                            },
                            "modelVersion": m.group(1),
                        },
                    )
                elif action == "embedContent":
                    stub.record("embed", path, headers, body)
                    text = " ".join(p.get("text", "") for p in body["content"]["parts"])
                    self._send(200, {"embedding": {"values": bag_of_words_vector(text)}})
                else:
                    stub.record("embed", path, headers, body)
                    self._send(
                        200,
                        {
                            "embeddings": [
                                {
                                    "values": bag_of_words_vector(
                                        " ".join(p.get("text", "") for p in r["content"]["parts"])
                                    )
                                }
                                for r in body["requests"]
                            ]
                        },
                    )
            else:
                self._send(404, {"error": {"code": 404, "message": f"no route {path}"}})

    return Handler


def start_model_stub(log_path: str) -> ModelStub:
    stub = ModelStub(log_path)
    stub.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.server.daemon_threads = True
    threading.Thread(target=stub.server.serve_forever, daemon=True).start()
    return stub


class IntegrationStub:
    """An external endpoint (a CRM) that records signed forwards and answers with a scripted reply."""

    def __init__(self, log_path: str, *, status: int = 200, reply: dict | str | None = None):
        self.log_path = log_path
        self.status = status
        self.reply = reply if reply is not None else {"reply": "Your order 42 ships tomorrow."}
        self.requests: list[tuple[dict, bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                with open(stub.log_path, "a") as log:
                    log.write((format % args) + "\n")

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                if isinstance(stub.reply, dict):
                    data, content_type = json.dumps(stub.reply).encode(), "application/json"
                else:
                    data, content_type = stub.reply.encode(), "text/plain"
                self.send_response(stub.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/omnidesk"
