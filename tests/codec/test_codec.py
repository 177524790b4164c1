"""EncryptionCodec: round trip, key id, rotation, unknown key, tampering, old payloads."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from tendero.codec import PayloadCipher, PayloadDecryptionError
from tendero.crypto import derive_key
from tendero.domain.conversation import ConversationInput, ConversationRef
from tendero.settings import Settings
from tests.harness import SECRET_KEY, make_settings
from workflows.client import EncryptionCodec, data_converter

OLD_KEY = b"o" * 32
NEW_KEY = b"n" * 32
PHONE = "+14155550123"
ADDRESS = "9 Elm Road"


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def settings_with(current: bytes, *previous: bytes) -> Settings:
    extra = {"tendero_previous_secret_keys": ",".join(b64(k) for k in previous) or None}
    return make_settings("postgresql://unused/unused", tendero_secret_key=b64(current), **extra)


def expected_key_id(secret: bytes) -> str:
    return hashlib.sha256(derive_key(secret, "temporal-payloads")).digest()[:4].hex()


def plain(value: object) -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0]


async def test_round_trip_hides_the_whole_payload() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    original = plain({"phone": PHONE, "address": ADDRESS})
    (encoded,) = await codec.encode([original])
    assert dict(encoded.metadata) == {
        "encoding": b"binary/encrypted",
        "encryption-key-id": expected_key_id(SECRET_KEY).encode(),
    }
    serialized = original.SerializeToString()
    # nonce (12) + ciphertext (same length) + tag (16); no trace of the value or its encoding.
    assert len(encoded.data) == 12 + len(serialized) + 16
    for secret in (PHONE.encode(), b"4155550123", ADDRESS.encode(), b"json/plain"):
        assert secret not in encoded.SerializeToString()
    (decoded,) = await codec.decode([encoded])
    assert decoded == original
    assert dict(decoded.metadata) == {"encoding": b"json/plain"}


async def test_every_encoding_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    original = plain(PHONE)
    first, second = await codec.encode([original, original])
    assert first.data[:12] != second.data[:12] and first.data != second.data
    assert await codec.decode([first, second]) == [original, original]


def test_key_id_names_the_derived_key_not_the_secret() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    assert codec.key_id == expected_key_id(SECRET_KEY)
    assert len(codec.key_id) == 8
    assert codec.key_id != hashlib.sha256(SECRET_KEY).digest()[:4].hex()
    assert EncryptionCodec.from_settings(settings_with(NEW_KEY)).key_id == expected_key_id(NEW_KEY)
    assert expected_key_id(NEW_KEY) != expected_key_id(SECRET_KEY)


async def test_rotation_previous_key_still_decrypts() -> None:
    before = EncryptionCodec.from_settings(settings_with(OLD_KEY))
    original = plain({"address": ADDRESS})
    (written_before,) = await before.encode([original])
    assert written_before.metadata["encryption-key-id"] == expected_key_id(OLD_KEY).encode()

    after = EncryptionCodec.from_settings(settings_with(NEW_KEY, OLD_KEY))
    assert after.key_id == expected_key_id(NEW_KEY)
    assert sorted(after.cipher.key_ids) == sorted([expected_key_id(OLD_KEY), after.key_id])
    assert await after.decode([written_before]) == [original]
    # New payloads are written under the new key only...
    (written_after,) = await after.encode([original])
    assert written_after.metadata["encryption-key-id"] == expected_key_id(NEW_KEY).encode()
    assert await after.decode([written_after]) == [original]
    # ...so an install that dropped the new key cannot read them.
    with pytest.raises(PayloadDecryptionError, match=expected_key_id(NEW_KEY)):
        await before.decode([written_after])


async def test_unknown_key_id_is_a_clear_error() -> None:
    (foreign,) = await EncryptionCodec.from_settings(settings_with(OLD_KEY)).encode([plain(1)])
    codec = EncryptionCodec.from_settings(settings_with(NEW_KEY))
    with pytest.raises(PayloadDecryptionError) as caught:
        await codec.decode([foreign])
    assert str(caught.value) == (
        f"payload was encrypted with key id '{expected_key_id(OLD_KEY)}', which is not "
        "configured (add the secret key it was written with to TENDERO_PREVIOUS_SECRET_KEYS)"
    )


async def test_missing_key_id_is_an_error() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    (encoded,) = await codec.encode([plain(1)])
    del encoded.metadata["encryption-key-id"]
    with pytest.raises(PayloadDecryptionError, match="key id ''"):
        await codec.decode([encoded])


@pytest.mark.parametrize("index", [0, 11, 12, -1], ids=["nonce", "nonce-end", "body", "tag"])
async def test_tampered_payload_is_refused(index: int) -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    (encoded,) = await codec.encode([plain({"address": ADDRESS})])
    data = bytearray(encoded.data)
    data[index] ^= 0x01
    encoded.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="failed authentication: it was altered"):
        await codec.decode([encoded])


async def test_key_id_swapped_to_another_known_key_is_refused() -> None:
    # Both keys are configured, so the lookup succeeds; the key id bound as associated data
    # (and the wrong key) make the authentication fail.
    codec = EncryptionCodec.from_settings(settings_with(NEW_KEY, OLD_KEY))
    (encoded,) = await codec.encode([plain(1)])
    encoded.metadata["encryption-key-id"] = expected_key_id(OLD_KEY).encode()
    with pytest.raises(PayloadDecryptionError, match="altered"):
        await codec.decode([encoded])


async def test_truncated_payload_is_refused() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    (encoded,) = await codec.encode([plain(1)])
    encoded.data = encoded.data[:20]
    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await codec.decode([encoded])


async def test_unencrypted_payloads_pass_through_unchanged() -> None:
    codec = EncryptionCodec.from_settings(settings_with(SECRET_KEY))
    old = [plain({"phone": PHONE}), plain(None), Payload(metadata={"encoding": b"binary/null"})]
    (new,) = await codec.encode([plain(2)])
    decoded = await codec.decode([old[0], new, old[1], old[2]])
    assert decoded == [old[0], plain(2), old[1], old[2]]


def test_cipher_refuses_keys_that_are_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PayloadCipher(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        PayloadCipher(NEW_KEY, [b"x" * 16])


async def test_data_converter_round_trips_models_and_hides_failure_messages() -> None:
    converter = data_converter(settings_with(SECRET_KEY))
    value = ConversationInput(
        conversation=ConversationRef(
            tenant_id=uuid.uuid4(), customer_id=uuid.uuid4(), conversation_id=uuid.uuid4()
        )
    )
    (encoded,) = await converter.encode([value])
    assert encoded.metadata["encoding"] == b"binary/encrypted"
    assert str(value.conversation.tenant_id).encode() not in encoded.data
    assert await converter.decode([encoded], [ConversationInput]) == [value]

    # An exception text may quote the customer: it travels encrypted too.
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"no delivery to {ADDRESS}"), failure)
    assert failure.message == "Encoded failure"
    assert ADDRESS.encode() not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    error = await converter.decode_failure(failure)
    assert str(error) == f"no delivery to {ADDRESS}"
