import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from config.embedded import new_encryption_key
from core.crypto import DecryptionError, KeyRing, key_id
from tenants.models import Company


def raw_secret(company_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM tenants_company WHERE id = %s", [company_id])
        return cursor.fetchone()[0]


def test_encrypted_field_is_ciphertext_in_the_table(alpha):
    company = alpha.company
    company.signing_secret = "very-secret-value"
    company.save(update_fields=["signing_secret"])

    stored = raw_secret(company.id)
    assert stored.startswith("enc1:") and "very-secret-value" not in stored
    assert Company.objects.get(id=company.id).signing_secret == "very-secret-value"


def test_values_survive_key_rotation(alpha, settings):
    old_keys = list(settings.OMNIDESK_ENCRYPTION_KEYS)
    company = alpha.company
    company.signing_secret = "rotate-me"
    company.save(update_fields=["signing_secret"])
    new_key = new_encryption_key()

    with override_settings(OMNIDESK_ENCRYPTION_KEYS=[new_key, *old_keys]):
        assert Company.objects.get(id=company.id).signing_secret == "rotate-me"  # old key still decrypts
        call_command("rotate_encryption_keys")

    from base64 import urlsafe_b64decode

    new_id = key_id(urlsafe_b64decode(new_key))
    assert raw_secret(company.id).startswith(f"enc1:{new_id}:")
    with override_settings(OMNIDESK_ENCRYPTION_KEYS=[new_key]):  # old key dropped
        assert Company.objects.get(id=company.id).signing_secret == "rotate-me"


def test_tampered_or_unknown_key_values_fail_loudly():
    ring = KeyRing([new_encryption_key()])
    token = ring.encrypt("hello")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered)
    with pytest.raises(DecryptionError):
        KeyRing([new_encryption_key()]).decrypt(token)


def test_a_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        KeyRing(["c2hvcnQ="])
