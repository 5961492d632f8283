from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from channels_wa.models import Channel
from channels_wa.services import STUB_PREFIX, sandbox_register, stub_base_url, stub_register
from tenants.models import Company


class Command(BaseCommand):
    help = (
        "Register every company's sandbox channels with the WhatsApp sandbox, and its channels on the "
        "loopback Twilio / Messenger stubs next to it (after it (re)starts)."
    )

    def handle(self, *args, **opts):
        for company in Company.objects.filter(status=Company.Status.ACTIVE):
            with schema_context(company.schema_name):
                for channel in Channel.objects.filter(provider=Channel.Provider.SANDBOX):
                    sandbox_register(channel=channel)
                    channel.refresh_from_db()
                    self.stdout.write(f"{company.slug}: {channel} is {channel.status}")
                for channel in Channel.objects.filter(provider__in=STUB_PREFIX, api_base_url__contains="/"):
                    if not channel.api_base_url.endswith(STUB_PREFIX[channel.provider]):
                        continue
                    # The sandbox may run on another port than when the channel was seeded.
                    channel.api_base_url = stub_base_url(channel.provider)
                    channel.save(update_fields=["api_base_url"])
                    stub_register(channel=channel)
                    channel.refresh_from_db()
                    self.stdout.write(f"{company.slug}: {channel} is {channel.status}")
