import httpx
import pytest
from django.test import Client
from django_tenants.utils import schema_context

from api.scopes import ALL_SCOPES
from api.services import api_key_create
from tests.channels_wa.webhooks import make_channel


class Api:
    """A developer's HTTP client for one company host and one key."""

    def __init__(self, host: str, key: str | None):
        self.host, self.key = host, key
        self.client = Client()

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"HTTP_HOST": self.host}
        if self.key:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        for name, value in (extra or {}).items():
            headers["HTTP_" + name.upper().replace("-", "_")] = value
        return headers

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, **self.headers(headers))

    def post(self, path: str, body, headers: dict | None = None, raw: bool = False):
        import json

        data = body if raw else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **self.headers(headers))

    def patch(self, path: str, body: dict):
        import json

        return self.client.patch(
            path, data=json.dumps(body), content_type="application/json", **self.headers()
        )


def issue_key(schema: str, **kwargs):
    kwargs.setdefault("scopes", list(ALL_SCOPES))
    with schema_context(schema):
        return api_key_create(name="test key", **kwargs)


@pytest.fixture
def alpha_key(alpha):
    return issue_key("alpha")


@pytest.fixture
def api(alpha_key):
    return Api("alpha.localhost", alpha_key.plaintext)


@pytest.fixture
def sandbox_channel(alpha, sandbox, settings, django_capture_on_commit_callbacks):
    settings.WHATSAPP_SANDBOX_WEBHOOK_BASE = "http://{host}:9"
    with django_capture_on_commit_callbacks(execute=True):
        channel = make_channel("alpha", provider="sandbox", api_base_url=sandbox.base_url)
    return channel


def customer_writes(sandbox, channel, digits: str, text: str = "hello") -> None:
    """The customer messages the business number in the sandbox (so its 24-hour window is open there)."""
    httpx.post(
        f"{sandbox.base_url}/_sandbox/customers/{digits}/messages",
        json={"to": channel.external_id, "type": "text", "text": text},
    ).raise_for_status()
