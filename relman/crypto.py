"""Secrets at rest — sensitive variable values and webhook signing secrets, which the
server must read back: Fernet (AES-128-CBC with an HMAC-SHA256, so a tampered or
foreign ciphertext is refused rather than decrypted into garbage).

The key is ``RELMAN_ENCRYPTION_KEY``. While a key is being rotated, the previous ones are in
``RELMAN_ENCRYPTION_OLD_KEYS``: values encrypted with any of them still decrypt, new values
use the current key, and ``manage.py rotate_encryption_key`` re-encrypts every value with it.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UnreadableValue(Exception):
    """A stored value none of the configured keys can decrypt."""


def _cipher() -> MultiFernet:
    keys = [settings.RELMAN_ENCRYPTION_KEY, *settings.RELMAN_ENCRYPTION_OLD_KEYS]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "RELMAN_ENCRYPTION_KEY (and each of RELMAN_ENCRYPTION_OLD_KEYS) must be 32 bytes of "
            "URL-safe base64, as Fernet.generate_key() prints it."
        ) from None


def encrypt(plain: str) -> str:
    return _cipher().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnreadableValue(
            "A stored secret cannot be decrypted with RELMAN_ENCRYPTION_KEY or "
            "RELMAN_ENCRYPTION_OLD_KEYS: was the key changed without rotating?"
        ) from None


def rotate(token: str) -> str:
    """The same value encrypted with the current key."""
    try:
        return _cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise UnreadableValue("A stored secret cannot be decrypted with any configured key.") from None
