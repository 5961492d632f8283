"""Idempotent demo data for `make run`: a superadmin, a demo company with staff, a second company."""

from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from accounts.models import Department, User
from tenants.demo import COMPANIES, DEMO_SANDBOX_CHANNEL, DEMO_STUB_CHANNELS, SUPERADMIN
from tenants.models import Company
from tenants.services import company_create, tenant_template_ensure


class Command(BaseCommand):
    help = "Create the demo superadmin and companies if they do not exist yet."

    def handle(self, *args, **opts):
        tenant_template_ensure()
        email, password = SUPERADMIN
        if not User.objects.filter(email=email).exists():
            User.objects.create_superuser(email, password, name="Platform Admin")
        for spec in COMPANIES:
            owner_email, owner_password, owner_name = spec["owner"]
            company = Company.objects.filter(schema_name=spec["slug"]).first()
            if company is None:
                company = company_create(
                    name=spec["name"],
                    slug=spec["slug"],
                    plan_code=spec["plan"],
                    owner_email=owner_email,
                    owner_password=owner_password,
                    owner_name=owner_name,
                )
            with schema_context(company.schema_name):
                general = Department.objects.get_or_create(name="General")[0]
                for staff_email, staff_password, staff_name, role in spec["staff"]:
                    if not User.objects.filter(email=staff_email).exists():
                        user = User.objects.create_user(
                            staff_email, staff_password, name=staff_name, role=role
                        )
                        general.members.add(user)
            if spec["slug"] == "demo":
                self._sandbox_channel(company)
                self._quick_replies(company)
        self.stdout.write("Demo data ready.")

    def _quick_replies(self, company: Company) -> None:
        from inbox.models import QuickReply
        from tenants.demo import DEMO_QUICK_REPLIES

        with schema_context(company.schema_name):
            for shortcut, body in DEMO_QUICK_REPLIES:
                QuickReply.objects.get_or_create(shortcut=shortcut, defaults={"body": body})

    def _sandbox_channel(self, company: Company) -> None:
        import secrets

        from channels_wa.models import Channel
        from channels_wa.services import channel_create, stub_base_url

        with schema_context(company.schema_name):
            department_id = Department.objects.get(name="General").id
            if not Channel.objects.filter(external_id=DEMO_SANDBOX_CHANNEL["external_id"]).exists():
                channel_create(
                    provider="sandbox",
                    access_token=secrets.token_urlsafe(24),
                    app_secret=secrets.token_urlsafe(24),
                    default_department_id=department_id,
                    **DEMO_SANDBOX_CHANNEL,
                )
            for spec in DEMO_STUB_CHANNELS:
                if Channel.objects.filter(
                    provider=spec["provider"], external_id=spec["external_id"]
                ).exists():
                    continue
                channel_create(
                    access_token=secrets.token_urlsafe(24),
                    app_secret=secrets.token_urlsafe(24),
                    api_base_url=stub_base_url(spec["provider"]),
                    default_department_id=department_id,
                    **spec,
                )
