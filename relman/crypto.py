"""Secrets the server must read back (a webhook's signing secret), encrypted at rest.

Fernet (AES-128-CBC with an HMAC-SHA256 tag) under a key derived from SECRET_KEY: a
database dump, a backup or the admin's raw rows hold only ciphertext, and a changed
SECRET_KEY makes the stored secrets unreadable rather than silently wrong.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

_PURPOSE = b"relman.crypto.v1"


def _fernet() -> Fernet:
    key = hashlib.sha256(_PURPOSE + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


class UndecryptableSecret(Exception):
    """The stored secret was encrypted under another SECRET_KEY."""


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret("The secret cannot be read: was RELMAN_SECRET_KEY changed?") from None
