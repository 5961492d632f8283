"""Audiences: tags, segments on fields and custom attributes, CSV with variables, explicit lists;
opted-out contacts never included, duplicates removed, the preview equals what is created."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from campaigns.audience import audience_count, audience_validate, csv_parse, recipients_create
from campaigns.models import Recipient
from campaigns.render import template_params, text_render
from campaigns.services import campaign_create
from channels_wa.models import Channel
from core.errors import ValidationFailed
from inbox.models import Contact


def channel_in(schema: str) -> Channel:
    return Channel.objects.create(provider="sandbox", name="c", external_id=f"aud-{schema}", rate_per_s=80)


@pytest.fixture
def people(alpha):
    with schema_context("alpha"):
        gold, silver = {"tier": "gold", "orders": 5}, {"tier": "silver", "orders": 1}
        rows = [
            Contact(phone="+447700900001", name="Ana Silva", tags=["vip", "lisbon"], custom_attributes=gold),
            Contact(phone="+447700900002", name="Budi", tags=["vip"], custom_attributes=silver),
            Contact(phone="+447700900003", name="Carla", tags=["lisbon"], custom_attributes={"tier": "gold"}),
            Contact(phone="+447700900004", name="Dan", tags=["vip"], is_opted_out=True),
            Contact(phone="", whatsapp_id="447700900005", profile_name="Eve", tags=["vip"]),
        ]  # fmt: skip
        Contact.objects.bulk_create(rows)
        yield {c.name or c.profile_name: c for c in Contact.objects.all()}


def created(audience: dict, csv_rows=None) -> list[Recipient]:
    campaign = campaign_create(
        name="a",
        channel=channel_in("alpha"),
        audience=audience,
        template_name="t",
        audience_csv=csv_rows or [],
    )
    recipients_create(campaign=campaign)
    return list(Recipient.objects.filter(campaign=campaign).select_related("contact"))


def test_tags_exclude_opted_out_and_use_the_whatsapp_id_when_there_is_no_phone(people):
    with schema_context("alpha"):
        assert audience_count(audience={"tags": ["vip"]}) == 3
        rows = created({"tags": ["vip"]})
        assert sorted(r.phone for r in rows) == ["+447700900001", "+447700900002", "+447700900005"]


def test_segment_on_custom_attributes_and_fields(people):
    with schema_context("alpha"):
        gold = {
            "segment": {
                "match": "all",
                "conditions": [{"field": "attributes.tier", "op": "eq", "value": "gold"}],
            }
        }
        assert audience_count(audience=gold) == 2
        busy = {"segment": {"conditions": [{"field": "attributes.orders", "op": "gte", "value": 2}]}}
        assert [r.contact.name for r in created(busy)] == ["Ana Silva"]
        either = {
            "segment": {
                "match": "any",
                "conditions": [
                    {"field": "name", "op": "startswith", "value": "bud"},
                    {"field": "tags", "op": "contains", "value": "lisbon"},
                ],
            }
        }
        assert audience_count(audience=either) == 3
        with pytest.raises(ValidationFailed):
            audience_validate({"segment": {"conditions": [{"field": "password", "op": "eq", "value": 1}]}})
        with pytest.raises(ValidationFailed):
            audience_validate({"segment": {"conditions": [{"field": "attributes.x;drop", "op": "eq"}]}})


def test_csv_rows_bring_variables_create_missing_contacts_and_skip_opted_out_and_duplicates(people):
    rows, errors = csv_parse(
        content="Phone,name,coupon\n+447700900001,Ana,A1\n447700900009,Newbie,N9\n"
        "+447700900004,Dan,D4\nnot-a-phone,X,X\n+447700900001,Ana again,A2\n"
    )
    assert [e["line"] for e in errors] == [5] and len(rows) == 3
    with schema_context("alpha"):
        assert audience_count(audience={"tags": ["vip"]}, csv_rows=rows) == 4  # Ana once, Newbie, Budi, Eve
        recipients = {r.phone: r for r in created({"tags": ["vip"]}, rows)}
        assert set(recipients) == {"+447700900001", "+447700900002", "+447700900005", "+447700900009"}
        assert recipients["+447700900001"].variables["coupon"] == "A1"
        assert Contact.objects.get(phone="+447700900009").name == "Newbie"
    with pytest.raises(ValidationFailed):
        csv_parse(content="name,email\nA,a@x\n")


def test_explicit_lists_and_an_empty_audience(people):
    with schema_context("alpha"):
        ids = [people["Carla"].id, people["Dan"].id]
        assert audience_count(audience={"contact_ids": ids, "phones": ["+447700900002"]}) == 2
        assert audience_count(audience={}) == 0
        # A listed number that is not a contact yet becomes one; an opted-out one stays out.
        listed = {"phones": ["+447700900099", "+447700900004"]}
        assert audience_count(audience=listed) == 1
        assert [r.phone for r in created(listed)] == ["+447700900099"]
        assert Contact.objects.filter(phone="+447700900099").exists()


def test_a_campaign_of_one_company_never_selects_another_companys_contacts(people, beta):
    with schema_context("beta"):
        Contact.objects.create(phone="+447700900077", name="Beta person", tags=["vip"])
        beta_ids = list(Contact.objects.values_list("id", flat=True))
    with schema_context("alpha"):
        phones = {r.phone for r in created({"tags": ["vip"], "contact_ids": beta_ids})}
        assert "+447700900077" not in phones


def test_personalisation_with_fallbacks(people):
    ana, eve = people["Ana Silva"], people["Eve"]
    text = "Hi {{first_name|there}}, tier {{attributes.tier|basic}}, code {{coupon|NONE}}"
    assert text_render(text, contact=ana, variables={"coupon": "A1"}) == "Hi Ana, tier gold, code A1"
    assert text_render(text, contact=eve, variables={}) == "Hi Eve, tier basic, code NONE"
    mapping = [
        {"source": "field", "key": "last_name", "fallback": "friend"},
        {"source": "csv", "key": "coupon", "fallback": "-"},
    ]
    assert template_params(mapping, contact=ana, variables={"coupon": "Z"}) == ["Silva", "Z"]
    assert template_params(mapping, contact=eve, variables={}) == ["friend", "-"]
