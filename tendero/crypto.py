"""Secrets at rest: AES-256-GCM with a random 96-bit nonce (``cryptography``'s AESGCM).

Ciphertext layout, version 2: ``b"v2" || key id (4 bytes) || nonce (12 bytes) ||
ciphertext+tag``. The key id is the first 4 bytes of the key's SHA-256, so after a rotation
(``TENDERO_SECRET_KEY`` new, the old one in ``TENDERO_PREVIOUS_SECRET_KEYS``) every blob
still names the key that can open it, and ``tendero secrets rotate`` re-encrypts them all
under the new key. Version 1 blobs (``b"v1" || nonce || ciphertext+tag``, no key id) are
still read, trying each key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_V1 = b"v1"
_V2 = b"v2"
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """The ciphertext was not produced with any known key, or was altered."""


def key_id(key: bytes) -> bytes:
    """The 4-byte id written in front of blobs encrypted with ``key``."""
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of ``secret`` for ``purpose`` (HKDF-SHA256, RFC 5869)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tendero:" + purpose.encode()
    ).derive(secret)


class Keyring:
    """The current key and the previous ones still accepted for reading.

    Args:
        current: the 32-byte key new secrets are encrypted with.
        previous: older 32-byte keys, read-only (kept until ``tendero secrets rotate`` ran).

    Raises:
        ValueError: a key is not 32 bytes long.
    """

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        """Index the keys by id."""
        for key in (current, *previous):
            if len(key) != 32:
                raise ValueError("secret keys must be 32 bytes (AES-256)")
        self.current = current
        self.previous = tuple(previous)
        self._by_id = {key_id(key): key for key in (*previous, current)}
        self._all = (current, *previous)

    def is_current(self, blob: bytes) -> bool:
        """True when ``blob`` is already encrypted under the current key."""
        return blob.startswith(_V2) and blob[2 : 2 + _KEY_ID_BYTES] == key_id(self.current)

    def encrypt(self, plaintext: str, *, context: bytes = b"") -> bytes:
        """Encrypt under the current key; ``context`` is bound as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext.encode(), context)
        return _V2 + key_id(self.current) + nonce + sealed

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> str:
        """Open a blob written by :meth:`encrypt` (or a version 1 blob).

        Raises:
            DecryptionError: unknown key, wrong context, unknown version or tampered data.
        """
        if blob.startswith(_V2):
            key = self._by_id.get(blob[2 : 2 + _KEY_ID_BYTES])
            if key is None:
                raise DecryptionError("secret was encrypted with a key that is not configured")
            start = 2 + _KEY_ID_BYTES
            return _open(
                key, blob[start : start + _NONCE_BYTES], blob[start + _NONCE_BYTES :], context
            )
        if blob.startswith(_V1):
            nonce = blob[2 : 2 + _NONCE_BYTES]
            for key in self._all:
                try:
                    return _open(key, nonce, blob[2 + _NONCE_BYTES :], context)
                except DecryptionError:
                    continue
            raise DecryptionError("secret cannot be decrypted with any configured key")
        raise DecryptionError("unknown secret format")


def _open(key: bytes, nonce: bytes, sealed: bytes, context: bytes) -> str:
    try:
        return AESGCM(key).decrypt(nonce, sealed, context).decode()
    except InvalidTag:
        raise DecryptionError("secret cannot be decrypted with this key") from None


def _keyring(key: bytes | Keyring) -> Keyring:
    return key if isinstance(key, Keyring) else Keyring(key)


def encrypt_secret(plaintext: str, key: bytes | Keyring, *, context: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` with a 32-byte key or a keyring's current key."""
    return _keyring(key).encrypt(plaintext, context=context)


def decrypt_secret(blob: bytes, key: bytes | Keyring, *, context: bytes = b"") -> str:
    """Decrypt what :func:`encrypt_secret` produced.

    Raises:
        DecryptionError: wrong key, wrong context, unknown version or tampered data.
    """
    return _keyring(key).decrypt(blob, context=context)
