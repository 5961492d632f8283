"""Model fields whose values are stored encrypted (AES-256-GCM, see core/crypto.py)."""

from __future__ import annotations

from django.db import models

from core.crypto import key_ring


class EncryptedTextField(models.TextField):
    """Plain text in Python, ciphertext in the table. Never shown in full by the admin or API."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return key_ring().decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return key_ring().encrypt(value)


def encrypted_fields(model) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
