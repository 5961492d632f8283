"""AES-256-GCM encryption of secrets at rest with a key ring.

OMNIDESK_ENCRYPTION_KEYS is a list of base64 32-byte keys: the first encrypts, every key decrypts.
A token records which key made it, so rotating means adding a new key first and re-encrypting
(`manage.py rotate_encryption_keys`) before the old key is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

TOKEN_PREFIX = "enc1"


class DecryptionError(Exception):
    pass


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    if len(raw) != 32:
        raise ValueError("each OMNIDESK_ENCRYPTION_KEYS entry must be 32 bytes, base64-encoded")
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class KeyRing:
    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("OMNIDESK_ENCRYPTION_KEYS is empty")
        decoded = [_decode_key(k) for k in keys]
        self.primary = decoded[0]
        self.primary_id = key_id(self.primary)
        self.by_id = {key_id(k): k for k in decoded}

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.primary).encrypt(nonce, plaintext.encode(), self.primary_id.encode())
        payload = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{TOKEN_PREFIX}:{self.primary_id}:{payload}"

    def decrypt(self, token: str) -> str:
        try:
            prefix, kid, payload = token.split(":", 2)
        except ValueError as exc:
            raise DecryptionError("not an encrypted token") from exc
        if prefix != TOKEN_PREFIX or kid not in self.by_id:
            raise DecryptionError(f"no key in OMNIDESK_ENCRYPTION_KEYS for key id {kid}")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return AESGCM(self.by_id[kid]).decrypt(raw[:12], raw[12:], kid.encode()).decode()
        except Exception as exc:  # InvalidTag: tampered value or wrong key
            raise DecryptionError("encrypted value failed authentication") from exc

    def is_current(self, token: str) -> bool:
        return token.startswith(f"{TOKEN_PREFIX}:{self.primary_id}:")


@lru_cache(maxsize=8)
def _ring_for(keys: tuple[str, ...]) -> KeyRing:
    return KeyRing(list(keys))


def key_ring() -> KeyRing:
    return _ring_for(tuple(settings.OMNIDESK_ENCRYPTION_KEYS))
