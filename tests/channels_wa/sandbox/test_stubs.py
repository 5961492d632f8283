"""The loopback Twilio and Messenger/Instagram stand-ins answer the real SDK and Graph client as the real
services do: ids, segment counts, authentication, opt-outs (21610) and the messaging windows."""

import httpx
import pytest

from channels_wa.providers.base import ChannelConfig, OutboundMessage
from channels_wa.providers.meta_messenger.provider import InstagramProvider, MessengerProvider
from channels_wa.providers.twilio.provider import TwilioSmsProvider, TwilioWhatsAppProvider
from channels_wa.services import STUB_PREFIX

ACCOUNT = "AC" + "5" * 32
NUMBER = "+15550006001"
PAGE = "140000000000001"
IG = "17841400000006001"


def provider(cls, sandbox, *, external_id, token, **extra):
    base_url = sandbox.base_url + STUB_PREFIX[cls.name]
    return cls(
        ChannelConfig(
            provider=cls.name, external_id=external_id, access_token=token, base_url=base_url, **extra
        )
    )


@pytest.fixture
def twilio_number(sandbox):
    httpx.put(
        f"{sandbox.base_url}/_stubs/twilio/numbers/{NUMBER}",
        json={"account_sid": ACCOUNT, "auth_token": "right-token", "webhook_url": ""},
    ).raise_for_status()


def test_twilio_sdk_send_segments_auth_and_opt_out(sandbox, twilio_number):
    sms = provider(TwilioSmsProvider, sandbox, external_id=NUMBER, token="right-token", account_id=ACCOUNT)
    result = sms.send(OutboundMessage(to="+15557006001", kind="text", text="é" * 200))
    assert result.is_ok and result.provider_message_id.startswith("SM") and result.raw["num_segments"] == 2
    sent = httpx.get(f"{sandbox.base_url}/_stubs/sent").json()["data"][-1]
    assert sent["from"] == NUMBER and sent["to"] == "+15557006001"

    wrong = provider(TwilioSmsProvider, sandbox, external_id=NUMBER, token="wrong", account_id=ACCOUNT)
    refused = wrong.send(OutboundMessage(to="+15557006001", kind="text", text="hi"))
    assert refused.error.code == "20003" and not refused.error.is_transient

    httpx.post(f"{sandbox.base_url}/_stubs/twilio/opt-outs/+15557006002").raise_for_status()
    opted_out = sms.send(OutboundMessage(to="+15557006002", kind="text", text="hi"))
    assert opted_out.error.code == "21610" and opted_out.error.is_opt_out

    whatsapp = provider(
        TwilioWhatsAppProvider, sandbox, external_id=NUMBER, token="right-token", account_id=ACCOUNT
    )
    from channels_wa.providers.base import TemplateRef

    template = whatsapp.send(
        OutboundMessage(
            to="+15557006001",
            kind="template",
            template=TemplateRef(name="HX" + "a" * 32, language="en", body_params=["Ana"]),
        )
    )
    assert template.is_ok
    sent = httpx.get(f"{sandbox.base_url}/_stubs/sent").json()["data"][-1]
    assert sent["to"] == "whatsapp:+15557006001" and sent["params"]["ContentVariables"] == '{"1": "Ana"}'


@pytest.mark.parametrize("cls,external_id", [(MessengerProvider, PAGE), (InstagramProvider, IG)])
def test_graph_send_windows_and_profiles(sandbox, cls, external_id):
    obj = "instagram" if cls is InstagramProvider else "page"
    httpx.put(
        f"{sandbox.base_url}/_stubs/meta/pages/{external_id}",
        json={"object": obj, "access_token": "page-token", "app_secret": "s", "webhook_url": ""},
    ).raise_for_status()
    page = provider(cls, sandbox, external_id=external_id, token="page-token")
    never_wrote = page.send(OutboundMessage(to="9000000000000001", kind="text", text="hi"))
    assert never_wrote.error.code == "10" and "window" in never_wrote.error.title

    httpx.post(
        f"{sandbox.base_url}/_stubs/meta/customers/9000000000000001/messages",
        json={"to": external_id, "text": "hello", "name": "Sam Stone", "age_s": 3 * 86400},
    ).raise_for_status()
    stale = page.send(OutboundMessage(to="9000000000000001", kind="text", text="three days later"))
    assert stale.error.code == "10"
    tagged = page.send(OutboundMessage(to="9000000000000001", kind="text", text="agent", tag="HUMAN_AGENT"))
    assert tagged.is_ok and tagged.provider_message_id.startswith("m_")

    profile = page.fetch_profile("9000000000000001")
    assert profile.name == "Sam Stone" and profile.picture_url
    bad_token = provider(cls, sandbox, external_id=external_id, token="nope")
    assert bad_token.send(OutboundMessage(to="9000000000000001", kind="text", text="x")).error.code == "190"


def test_customer_page_is_served(sandbox):
    page = httpx.get(f"{sandbox.base_url}/_stubs")
    assert page.status_code == 200 and "Write as a customer" in page.text
    assert "/_stubs" in httpx.get(f"{sandbox.base_url}/").text


def test_content_api_templates_sync(sandbox, twilio_number):
    whatsapp = provider(
        TwilioWhatsAppProvider, sandbox, external_id=NUMBER, token="right-token", account_id=ACCOUNT
    )
    templates = {t.provider_template_id: t for t in whatsapp.sync_templates()}
    order = templates["HX" + "0" * 31 + "1"]
    assert order.name.startswith("HX") and order.status == "APPROVED" and order.variable_count == 2
    assert order.components[0]["friendly_name"] == "order_update"
