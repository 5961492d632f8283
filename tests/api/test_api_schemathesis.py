"""Schemathesis fuzzes every documented operation through a real daphne, bounded in time: no 5xx, and
every response matches the published schema. It runs in a company of its own, dropped afterwards."""

import os
import subprocess
import sys

import httpx
import pytest
from django_tenants.utils import schema_context

from api.scopes import ALL_SCOPES
from api.services import api_key_create
from tenants.models import Company
from tenants.services import company_create


@pytest.fixture
def fuzz_server(django_db_setup):
    """Its own daphne: fuzzed channels must reach no outside service (nothing answers on port 9)."""
    from config.embedded import port_answers
    from tests.conftest import LiveServer, _test_process_env, _wait_for, start_process
    from tests.helpers import free_port

    port = free_port()
    env = _test_process_env(
        META_GRAPH_BASE_URL="http://127.0.0.1:9", WHATSAPP_SANDBOX_URL="http://127.0.0.1:9"
    )
    proc, log_path = start_process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        env,
        "fuzz-daphne",
    )
    _wait_for(proc, lambda: port_answers("127.0.0.1", port), "daphne", log_path)
    yield LiveServer(port=port)
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def fuzz_company(committed_db):
    company = company_create(
        name="Fuzz",
        slug="fuzz",
        owner_email="o@fuzz.test",
        owner_password="fuzz-password-1",
        plan_code="enterprise",
    )
    yield company
    Company.objects.get(pk=company.pk).delete(force_drop=True)


def test_no_server_errors_and_responses_match_the_schema(fuzz_company, fuzz_server, tmp_path):
    with schema_context("fuzz"):
        key = api_key_create(name="fuzz", scopes=list(ALL_SCOPES)).plaintext
    base = f"http://127.0.0.1:{fuzz_server.port}"
    headers = {"Host": "fuzz.localhost", "Authorization": f"Bearer {key}"}
    schema = httpx.get(f"{base}/api/v1/schema/?format=json", headers=headers)
    assert schema.status_code == 200
    schema_file = tmp_path / "openapi.json"
    schema_file.write_bytes(schema.content)
    st = os.path.join(os.path.dirname(sys.executable), "st")
    result = subprocess.run(
        [
            st,
            "run",
            str(schema_file),
            "--url",
            base,
            "-H",
            "Host: fuzz.localhost",
            "-H",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "10",
            "--max-time",
            "100",
            "--workers",
            "1",
            "--no-color",
            "--exclude-path-regex",
            "/schema/|/docs/",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (tmp_path.parent / "st_output.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
