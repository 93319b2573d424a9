"""Encryption at rest and keyed hashes, with keys derived from settings.

Linked-account credentials, INS secret keys and TOTP seeds are encrypted (Fernet). API keys and
one-time link tokens are stored as keyed SHA-256 hashes: they carry 256 bits of entropy, so a
fast hash is enough (SECURITY.md §0.2) and the key keeps a stolen table useless on its own.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _derive(purpose: str, length: int = 32) -> bytes:
    master = current_app.config.get("ENCRYPTION_KEY") or current_app.config["SECRET_KEY"]
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"portal-v1", info=purpose.encode()
    ).derive(master.encode())


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive("encryption-at-rest")))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # wrong key or tampered column
        raise ValueError("cannot decrypt a stored secret (was the encryption key changed?)") from exc


def keyed_hash(value: str, purpose: str = "token") -> str:
    """HMAC-SHA-256 of ``value`` under a key derived for ``purpose``; hex."""
    return hmac.new(_derive(f"keyed-hash:{purpose}"), value.encode(), hashlib.sha256).hexdigest()


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def pepper(value: str) -> str:
    """Mix a server-side secret into a low-entropy secret (the PIN) before it is hashed."""
    key = current_app.config.get("PIN_PEPPER") or _derive("pin-pepper").hex()
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
