import hashlib
import json
from pathlib import Path

import pytest

from tendero.channels.whatsapp.signature import sign, verify_signature, verify_subscription

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "whatsapp"
VECTORS = json.loads((FIXTURES / "pywa_crypto_test_vectors.json").read_text())["webhook_signature"]
BODY = (FIXTURES / VECTORS["raw_body_file"]).read_bytes()
SECRET: str = VECTORS["app_secret"]
HEADER: str = VECTORS["x_hub_signature_256"]


def test_fixture_is_the_exact_signed_body() -> None:
    assert len(BODY) == VECTORS["raw_body_length"] == 511
    assert hashlib.sha256(BODY).hexdigest() == VECTORS["raw_body_sha256"]


def test_real_meta_signature_verifies() -> None:
    assert verify_signature(BODY, HEADER, SECRET) is True


def test_sign_reproduces_meta_header() -> None:
    assert sign(BODY, SECRET) == HEADER


def test_uppercase_hex_and_surrounding_space_are_accepted() -> None:
    prefix, digest = HEADER.split("=", 1)
    assert verify_signature(BODY, f" {prefix}={digest.upper()} ", SECRET) is True


def test_one_flipped_byte_fails() -> None:
    for index in (0, len(BODY) // 2, len(BODY) - 1):
        tampered = bytearray(BODY)
        tampered[index] ^= 0x01
        assert verify_signature(bytes(tampered), HEADER, SECRET) is False


def test_reserialised_json_fails() -> None:
    # Same JSON, different bytes: the check must run on the raw body.
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert reserialised != BODY
    assert verify_signature(reserialised, HEADER, SECRET) is False


def test_wrong_secret_fails() -> None:
    assert verify_signature(BODY, HEADER, SECRET + "x") is False


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        HEADER.removeprefix("sha256="),
        "sha1=" + HEADER.removeprefix("sha256="),
        "sha256=" + "z" * 64,
        "sha256=" + HEADER.removeprefix("sha256=")[:-2],
        HEADER + "00",
        "sha256=" + "é" * 64,
    ],
    ids=["missing", "empty", "no-prefix", "sha1", "non-hex", "short", "long", "non-ascii"],
)
def test_missing_or_malformed_header_fails(header: str | None) -> None:
    assert verify_signature(BODY, header, SECRET) is False


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_signature(BODY, HEADER, "")
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, "")


def test_subscription_with_right_mode_and_token_returns_challenge() -> None:
    assert verify_subscription("subscribe", "tok3n", "1158201444", "tok3n") == "1158201444"


@pytest.mark.parametrize(
    ("mode", "token", "challenge", "verify_token"),
    [
        ("subscribe", "wrong", "123", "tok3n"),
        ("subscribe", "tok3", "123", "tok3n"),
        ("unsubscribe", "tok3n", "123", "tok3n"),
        (None, "tok3n", "123", "tok3n"),
        ("subscribe", None, "123", "tok3n"),
        ("subscribe", "tok3n", None, "tok3n"),
        ("subscribe", "tok3n", "", "tok3n"),
        ("subscribe", "", "123", ""),
    ],
)
def test_subscription_refused(
    mode: str | None, token: str | None, challenge: str | None, verify_token: str
) -> None:
    assert verify_subscription(mode, token, challenge, verify_token) is None
