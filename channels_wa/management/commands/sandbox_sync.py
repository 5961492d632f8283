from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from channels_wa.services import sandbox_register
from tenants.models import Company


class Command(BaseCommand):
    help = "Register every company's sandbox channels with the WhatsApp sandbox (after it (re)starts)."

    def handle(self, *args, **opts):
        for company in Company.objects.filter(status=Company.Status.ACTIVE):
            with schema_context(company.schema_name):
                for channel in Channel.objects.filter(provider=Channel.Provider.SANDBOX):
                    sandbox_register(channel=channel)
                    channel.refresh_from_db()
                    self.stdout.write(f"{company.slug}: {channel} is {channel.status}")
