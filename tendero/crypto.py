"""Secrets at rest: AES-256-GCM with a random 96-bit nonce (``cryptography``'s AESGCM).

Ciphertext layout: ``b"v1" || nonce (12 bytes) || ciphertext+tag``. The version prefix
leaves room for key rotation (a later version byte names the key).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """The ciphertext was not produced with this key, or was altered."""


def encrypt_secret(plaintext: str, key: bytes, *, context: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` with the 32-byte ``key``; ``context`` is bound as associated data."""
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context)


def decrypt_secret(blob: bytes, key: bytes, *, context: bytes = b"") -> str:
    """Decrypt what :func:`encrypt_secret` produced.

    Raises:
        DecryptionError: wrong key, wrong context, unknown version or tampered data.
    """
    if not blob.startswith(_VERSION):
        raise DecryptionError("unknown secret format")
    nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(_VERSION) + _NONCE_BYTES :], context).decode()
    except InvalidTag as err:
        raise DecryptionError("secret cannot be decrypted with this key") from err
