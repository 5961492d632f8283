from django.db import migrations

PLANS = [
    {
        "code": "free",
        "name": "Free",
        "max_channels": 1,
        "max_seats": 3,
        "messages_per_day": 1000,
        "api_requests_per_minute": 60,
    },
    {
        "code": "pro",
        "name": "Pro",
        "max_channels": 5,
        "max_seats": 25,
        "messages_per_day": 50000,
        "api_requests_per_minute": 600,
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "max_channels": 50,
        "max_seats": 500,
        "messages_per_day": 1000000,
        "api_requests_per_minute": 6000,
    },
]


def seed_plans(apps, schema_editor):
    Plan = apps.get_model("tenants", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(seed_plans, migrations.RunPython.noop)]
