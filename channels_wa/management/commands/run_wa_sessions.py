"""Host the QR-code WhatsApp sessions of every company (`make run` starts it when the `qr` extra is
installed). Run several on different machines: leases in the database share the sessions out."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the QR-code WhatsApp sessions (whatsmeow through neonize)."

    def add_arguments(self, parser):
        parser.add_argument("--runner-id", default=None, help="Name of this runner (default: host-pid)")

    def handle(self, *args, runner_id=None, **options):
        from channels_wa.providers.qr_session.runner import Runner

        runner = Runner(runner_id=runner_id)

        def stop(signum, frame):
            runner.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"QR session runner {runner.runner_id} started", ending="\n")
        self.stdout.flush()
        runner.run()
