from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from api.scopes import ALL_SCOPES
from api.services import api_key_create
from core.errors import OmniDeskError
from tenants.models import Company


class Command(BaseCommand):
    help = "Create an API key for a company. The key is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="company slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", nargs="*", default=list(ALL_SCOPES))
        parser.add_argument("--allow", nargs="*", default=[], help="CIDRs allowed to use the key")
        parser.add_argument("--signed", action="store_true", help="require signed requests")

    def handle(self, *args, **opts):
        company = Company.objects.filter(schema_name=opts["tenant"]).exclude(status="template").first()
        if company is None:
            raise CommandError(f"No company {opts['tenant']!r}.")
        with schema_context(company.schema_name):
            try:
                issued = api_key_create(
                    name=opts["name"],
                    scopes=opts["scopes"],
                    allowed_cidrs=opts["allow"],
                    requires_signature=opts["signed"],
                )
            except OmniDeskError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(f"Scopes: {' '.join(issued.key.scopes)}")
        if issued.signing_secret:
            self.stdout.write(f"Request signing secret (shown once): {issued.signing_secret}")
        self.stdout.write(issued.plaintext)
