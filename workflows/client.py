"""Temporal client factory shared by the API, the worker, the CLI and the tests.

Every client of the product uses :func:`data_converter`: the pydantic data converter
(DESIGN.md) plus :class:`EncryptionCodec`, so workflow inputs, results, signals, updates,
query answers, activity arguments and results, memos and failure messages reach the Temporal
server encrypted (AES-256-GCM, ``tendero.codec``). Search attributes are not payloads of the
codec and stay readable: they carry internal ids only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.service import RPCError, RPCStatusCode

from tendero.codec import ENCRYPTED_ENCODING, KEY_ID_METADATA, PayloadCipher
from tendero.settings import Settings
from workflows.common import ALL_SEARCH_ATTRIBUTES

logger = logging.getLogger(__name__)


class EncryptionCodec(PayloadCodec):
    """Encrypts each whole serialized payload; decrypts by the key id in its metadata.

    An encoded payload has metadata ``encoding: binary/encrypted`` and ``encryption-key-id:
    <8 hex chars>``, and ``data`` = ``nonce || AES-256-GCM(Payload.SerializeToString())``,
    so the original metadata (``json/plain``, the pydantic type...) is hidden as well.

    Args:
        cipher: the keys; see ``tendero.codec.PayloadCipher``.
    """

    def __init__(self, cipher: PayloadCipher) -> None:
        """Keep the cipher."""
        self.cipher = cipher

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        """The codec of an install (keys derived from ``TENDERO_SECRET_KEY`` and previous).

        Raises:
            ValueError: a configured secret key is not 32 bytes of url-safe base64.
        """
        return cls(PayloadCipher.from_settings(settings))

    @property
    def key_id(self) -> str:
        """Id of the key new payloads are encrypted with."""
        return self.cipher.key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload under the current key.

        Args:
            payloads: serialized values, any encoding.

        Returns:
            One ``binary/encrypted`` payload per input, in order.
        """
        key_id = self.cipher.key_id.encode()
        return [
            Payload(
                metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
                data=self.cipher.seal(payload.SerializeToString()),
            )
            for payload in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass the others through unchanged.

        Payloads without the ``binary/encrypted`` encoding were written before encryption was
        introduced (the recorded histories of the replay tests, runs started by an older
        release) and must still be read.

        Args:
            payloads: payloads as stored by Temporal.

        Returns:
            The original payloads, in order.

        Raises:
            tendero.codec.PayloadDecryptionError: an encrypted payload names no key id or an
                unknown one, or it was altered.
        """
        decoded: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("ascii", "replace")
            decoded.append(Payload.FromString(self.cipher.open(key_id, payload.data)))
        return decoded


def data_converter(settings: Settings) -> DataConverter:
    """The data converter of every Tendero client: pydantic values, encrypted payloads.

    Failure messages and stack traces are moved into an encrypted payload too
    (``DefaultFailureConverterWithEncodedAttributes``): an exception text may quote what the
    customer typed.

    Args:
        settings: the secret keys the payload keys are derived from.

    Returns:
        ``pydantic_data_converter`` with an :class:`EncryptionCodec`.

    Raises:
        ValueError: a configured secret key is not 32 bytes of url-safe base64.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_settings(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(address: str, namespace: str, *, data_converter: DataConverter) -> Client:
    """Connect a client.

    Args:
        address: ``host:port`` of the Temporal frontend.
        namespace: the namespace of every call.
        data_converter: normally ``data_converter(settings)``; required so that no client of
            the product can start without the codec by accident.

    Raises:
        RuntimeError: the server is not reachable.
    """
    return await Client.connect(address, namespace=namespace, data_converter=data_converter)


async def ensure_search_attributes(client: Client) -> None:
    """Register Tendero's custom search attributes; attributes that exist are left alone."""
    request = AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in ALL_SEARCH_ATTRIBUTES
        },
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        logger.debug("search attributes already registered")
