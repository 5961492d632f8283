from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.helpers import unique


@pytest.fixture
def qr_channel(alpha):
    """A QR-session channel of company alpha (inside the test transaction)."""
    from channels_wa.services import channel_create

    with schema_context("alpha"):
        yield channel_create(provider="qr_session", name="Shop phone", external_id=unique("qr-"))
