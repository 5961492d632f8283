"""Fixtures for automation and AI tests: a channel with customers writing in, and the model stub."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.ai_personas.stubs import IntegrationStub, start_model_stub


def inbound(channel, text: str, *, customer: str = "15551234567", at: datetime | None = None):
    """A customer message stored through the real inbox service (what the webhook worker calls)."""
    from channels_wa.providers.base import InboundMessage
    from inbox.services import inbound_message_receive

    return inbound_message_receive(
        channel=channel,
        event=InboundMessage(
            external_id=channel.external_id,
            provider_message_id=f"wamid.{uuid.uuid4().hex}",
            from_id=customer,
            from_phone=f"+{customer}",
            profile_name="Carla Customer",
            timestamp=at or timezone.now(),
            kind="text",
            text=text,
        ),
    )


@pytest.fixture
def model_stub():
    stub = start_model_stub(f"/tmp/omnidesk-test-modelstub-{os.getpid()}.log")
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture
def integration_stub():
    stubs: list[IntegrationStub] = []

    def make(**kwargs) -> IntegrationStub:
        stub = IntegrationStub(f"/tmp/omnidesk-test-integration-{os.getpid()}.log", **kwargs)
        stubs.append(stub)
        return stub

    yield make
    for stub in stubs:
        stub.server.shutdown()
        stub.server.server_close()


@pytest.fixture
def alpha_channel(alpha):
    from tests.channels_wa.webhooks import make_channel

    return make_channel("alpha")


@pytest.fixture
def beta_channel(beta):
    from tests.channels_wa.webhooks import make_channel

    return make_channel("beta", external_id="100000000000888")


@pytest.fixture
def in_alpha(alpha):
    with schema_context("alpha"):
        yield alpha
