"""Encryption of what Tendero hands to Temporal: AES-256-GCM over whole serialized payloads.

Temporal stores every workflow input, result, signal, update, query answer, activity argument
and memo in its database and shows them in its UI; those carry phone numbers, addresses and
messages. ``workflows.client.EncryptionCodec`` runs each serialized payload through the
:class:`PayloadCipher` here before it leaves the process, so the server only ever sees
ciphertext. This module holds the cryptography and the wire constants only (no Temporal
import: ``tendero`` is the core package); the ``PayloadCodec`` lives in ``workflows.client``.

Key: ``Settings.derived_key("temporal-payloads")`` (HKDF-SHA256 of ``TENDERO_SECRET_KEY``),
so a leaked payload key never opens the secrets at rest and vice versa. Each encrypted payload
names its key in metadata (``encryption-key-id``: hex of the first 4 bytes of the derived
key's SHA-256). After a rotation the previous secret keys (``TENDERO_PREVIOUS_SECRET_KEYS``)
still decrypt the histories written under them; only the current key encrypts.

Sealed layout: ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; the key id is bound as
associated data, so a payload whose metadata was edited to name another key fails to open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tendero.crypto import derive_key, key_id
from tendero.settings import Settings

PURPOSE = "temporal-payloads"
"""HKDF purpose of the payload key (``Settings.derived_key(PURPOSE)``)."""

ENCRYPTED_ENCODING = b"binary/encrypted"
"""``encoding`` metadata of an encrypted payload (Temporal's convention for codecs)."""

KEY_ID_METADATA = "encryption-key-id"
"""Metadata key naming the key that sealed a payload (ASCII hex, see :func:`payload_key_id`)."""

_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_PREFIX = b"tendero:temporal-payload:"


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be opened: unknown key id, missing key id, or altered data."""


def payload_key_id(key: bytes) -> str:
    """The id written next to payloads sealed with ``key``.

    Args:
        key: a 32-byte payload key.

    Returns:
        8 lowercase hex characters (the first 4 bytes of the key's SHA-256); it names the key
        without revealing it.
    """
    return key_id(key).hex()


class PayloadCipher:
    """AES-256-GCM for serialized payloads: the current key seals, every known key opens.

    Args:
        current: the 32-byte key new payloads are sealed with.
        previous: older 32-byte keys, only used to open payloads written before a rotation.

    Raises:
        ValueError: a key is not 32 bytes long.
    """

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        """Index the keys by their id."""
        for key in (current, *previous):
            if len(key) != 32:
                raise ValueError("payload keys must be 32 bytes (AES-256)")
        self.key_id = payload_key_id(current)
        self._current = AESGCM(current)
        # Current last, so it wins should a previous key be configured twice by mistake.
        self._by_id = {payload_key_id(key): AESGCM(key) for key in (*previous, current)}

    @classmethod
    def from_settings(cls, settings: Settings) -> PayloadCipher:
        """The cipher of an install: keys derived from the current and previous secret keys.

        Args:
            settings: ``TENDERO_SECRET_KEY`` and ``TENDERO_PREVIOUS_SECRET_KEYS`` are read.

        Returns:
            A cipher sealing under ``derived_key("temporal-payloads")`` of the current key.

        Raises:
            ValueError: a configured key is not 32 bytes of url-safe base64.
        """
        keyring = settings.keyring
        return cls(
            settings.derived_key(PURPOSE),
            [derive_key(secret, PURPOSE) for secret in keyring.previous],
        )

    @property
    def key_ids(self) -> Iterable[str]:
        """Ids of every key that can open a payload (current and previous)."""
        return self._by_id.keys()

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` under the current key.

        Args:
            plaintext: a serialized ``Payload`` (any bytes).

        Returns:
            ``nonce || ciphertext || tag``, 28 bytes longer than ``plaintext``.
        """
        # A random 96-bit nonce per payload: with one key sealing well under 2**32 payloads
        # the collision risk stays negligible (NIST SP 800-38D, section 8.3).
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._current.encrypt(nonce, plaintext, _AAD_PREFIX + self.key_id.encode())

    def open(self, key_id: str, sealed: bytes) -> bytes:
        """Decrypt what :meth:`seal` produced under the key named ``key_id``.

        Args:
            key_id: the ``encryption-key-id`` metadata of the payload.
            sealed: ``nonce || ciphertext || tag``.

        Returns:
            The plaintext bytes.

        Raises:
            PayloadDecryptionError: no configured key has this id (a key rotated out of
                ``TENDERO_PREVIOUS_SECRET_KEYS`` too early, or another install's payload), or
                the data or its key id was altered.
        """
        cipher = self._by_id.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload was encrypted with key id {key_id!r}, which is not configured "
                "(add the secret key it was written with to TENDERO_PREVIOUS_SECRET_KEYS)"
            )
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise PayloadDecryptionError("encrypted payload is truncated")
        try:
            return cipher.decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _AAD_PREFIX + key_id.encode()
            )
        except InvalidTag:
            raise PayloadDecryptionError(
                f"encrypted payload (key id {key_id!r}) failed authentication: it was altered"
            ) from None
