"""QR-code WhatsApp Web sessions (whatsmeow through neonize), hosted by `manage.py run_wa_sessions`."""
