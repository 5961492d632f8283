import pytest
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from channels_wa.services import channel_create, channel_delete
from core.errors import BusinessRuleViolation, Conflict
from tenants.models import ChannelRoute, Plan
from tests.channels_wa.webhooks import make_channel


def test_creating_a_channel_routes_its_number_and_encrypts_credentials(alpha):
    channel = make_channel("alpha")

    route = ChannelRoute.objects.get(external_id=channel.external_id)
    assert (route.company.schema_name, route.channel_id, route.provider) == ("alpha", channel.id, "whatsapp")
    from django.db import connection

    with schema_context("alpha"), connection.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret FROM channels_wa_channel WHERE id = %s", [channel.id])
        token, secret = cursor.fetchone()
    assert token.startswith("enc1:") and "test-token" not in token and secret.startswith("enc1:")
    with schema_context("alpha"):
        assert Channel.objects.get(pk=channel.pk).access_token == "test-token"
        assert channel.phone_number == "+15550000001" and channel.rate_per_s == 80


def test_deleting_a_channel_removes_its_route(alpha):
    channel = make_channel("alpha")
    with schema_context("alpha"):
        channel_delete(channel=channel)
    assert not ChannelRoute.objects.filter(external_id=channel.external_id).exists()


def test_plan_channel_limit_is_enforced_with_a_clear_error(alpha):
    Plan.objects.filter(code="pro").update(max_channels=1)
    make_channel("alpha")
    with pytest.raises(BusinessRuleViolation) as error:
        make_channel("alpha", external_id="100000000000009")
    assert error.value.code == "plan_limit_reached"
    assert "allows 1 channel" in error.value.message


def test_a_number_connected_by_one_company_cannot_be_taken_by_another(alpha, beta):
    make_channel("alpha")
    with pytest.raises(Conflict):
        make_channel("beta")


def test_bad_phone_number_is_refused(alpha):
    from core.errors import ValidationFailed

    with schema_context("alpha"), pytest.raises(ValidationFailed) as error:
        channel_create(provider="meta_whatsapp", name="x", external_id="1", phone_number="12")
    assert error.value.code == "invalid_phone"


def test_company_admin_connects_a_channel_and_sees_the_plan_limit(alpha):
    from tests.helpers import host_client, login

    Plan.objects.filter(code="pro").update(max_channels=1)
    client = host_client(alpha.host)
    login(client, alpha.host, alpha.owner_email)
    form = {
        "provider": "meta_whatsapp",
        "name": "Support line",
        "phone_number": "+1 555 000 0042",
        "external_id": "100000000000042",
        "account_id": "200000000000042",
        "access_token": "t0k3n-xyz",
        "app_secret": "s3cr3t-xyz",
        "verify_token": "",
        "api_base_url": "",
        "api_version": "",
        "rate_per_s": 80,
        "default_department": "",
    }
    response = client.post("/admin/channels_wa/channel/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context("alpha"):
        channel = Channel.objects.get(external_id="100000000000042")
        assert (
            channel.phone_number == "+15550000042"
            and channel.app_secret == "s3cr3t-xyz"
            and channel.verify_token
        )
    assert ChannelRoute.objects.filter(external_id="100000000000042", company=alpha.company).exists()
    page = client.get(f"/admin/channels_wa/channel/{channel.pk}/change/").content.decode()
    assert "s3cr3t-xyz" not in page and "t0k3n-xyz" not in page

    again = client.post("/admin/channels_wa/channel/add/", {**form, "external_id": "100000000000043"})
    assert again.status_code == 200 and "allows 1 channel(s)" in again.content.decode()
