from django.core.management.base import BaseCommand, CommandError

from core.errors import OmniDeskError
from tenants.services import company_create, company_domain


class Command(BaseCommand):
    help = "Provision a company: schema, domain <slug>.<BASE_DOMAIN>, owner user and defaults."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--owner-name", default="")
        parser.add_argument("--plan", default="free")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **opts):
        try:
            company = company_create(
                name=opts["name"],
                slug=opts["slug"],
                owner_email=opts["owner_email"],
                owner_password=opts["owner_password"],
                owner_name=opts["owner_name"],
                plan_code=opts["plan"],
                timezone_name=opts["timezone"],
            )
        except OmniDeskError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created {company.name} at {company_domain(company.slug)}")
