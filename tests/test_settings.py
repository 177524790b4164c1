"""Production settings refuse development secrets and a guessable admin token."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr, ValidationError

from tendero.settings import Settings

STRONG = {
    "tendero_env": "production",
    "tendero_secret_key": SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode()),
    "whatsapp_app_secret": SecretStr("a-real-app-secret"),
    "whatsapp_verify_token": SecretStr("a-real-verify-token"),
    "tendero_admin_token": SecretStr("x" * 32),
}


def production(**overrides: object) -> Settings:
    return Settings(**{**STRONG, **overrides})


def test_production_accepts_real_secrets() -> None:
    assert production().tendero_admin_token.get_secret_value() == "x" * 32


def test_production_refuses_the_development_secrets() -> None:
    with pytest.raises(ValidationError, match="set real values for TENDERO_ADMIN_TOKEN"):
        production(tendero_admin_token=SecretStr("dev-admin-token"))


def test_production_refuses_a_short_admin_token() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        production(tendero_admin_token=SecretStr("x" * 31))
    # Development keeps its short default.
    assert Settings().tendero_admin_token.get_secret_value() == "dev-admin-token"
