"""The demo companies and logins `make run` seeds and prints (plain data: importable without Django)."""

# The demo company's WhatsApp number lives in the sandbox (no Meta account needed).
DEMO_SANDBOX_CHANNEL = {
    "name": "Demo WhatsApp (sandbox)",
    "external_id": "109000000000001",
    "phone_number": "+15550100001",
    "account_id": "209000000000001",
}
# One channel of each other kind, on the loopback Twilio and Messenger/Instagram stubs next to the sandbox.
DEMO_STUB_CHANNELS = [
    {
        "provider": "twilio_whatsapp",
        "name": "Demo WhatsApp (Twilio)",
        "external_id": "+15550100002",
        "phone_number": "+15550100002",
        "account_id": "AC00000000000000000000000000demo1",
    },
    {
        "provider": "twilio_sms",
        "name": "Demo SMS (Twilio)",
        "external_id": "+15550100003",
        "phone_number": "+15550100003",
        "account_id": "AC00000000000000000000000000demo1",
    },
    {"provider": "meta_messenger", "name": "Demo Store on Messenger", "external_id": "109000000000010"},
    {"provider": "meta_instagram", "name": "Demo Store on Instagram", "external_id": "17841400000000010"},
]
# Canned answers the demo's composer offers after "/".
DEMO_QUICK_REPLIES = [
    ("thanks", "Thank you for your message! We will get back to you shortly."),
    ("shipping", "Orders ship within 2 business days; you get a tracking link by WhatsApp."),
    ("hours", "We are open Monday to Friday, 9:00 to 18:00."),
]
SUPERADMIN = ("admin@omnidesk.test", "omnidesk-admin")
COMPANIES = [
    {
        "slug": "demo",
        "name": "Demo Store",
        "plan": "pro",
        "owner": ("owner@demo.test", "demo-owner-pass", "Olivia Owner"),
        "staff": [
            ("agent@demo.test", "demo-agent-pass", "Andy Agent", "agent"),
            ("manager@demo.test", "demo-manager-pass", "Mia Manager", "manager"),
        ],
    },
    {
        "slug": "acme",
        "name": "Acme Corp",
        "plan": "free",
        "owner": ("owner@acme.test", "acme-owner-pass", "Aaron Acme"),
        "staff": [],
    },
]


def demo_logins(base_domain: str) -> list[tuple[str, str, str]]:
    """(host, email, password) rows for the banner `make run` prints."""
    rows = [(base_domain, *SUPERADMIN)]
    for spec in COMPANIES:
        host = f"{spec['slug']}.{base_domain}"
        rows.append((host, *spec["owner"][:2]))
        rows.extend((host, email, password) for email, password, *_ in spec["staff"])
    return rows
