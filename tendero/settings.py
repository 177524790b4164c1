"""Runtime configuration: the only module that reads the environment.

Every value has a name in the ecosystem's habits (``DATABASE_URL``, ``TEMPORAL_ADDRESS``...)
and a development default, so ``tendero dev`` works with no configuration at all. Secrets are
``SecretStr`` so they never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tendero.crypto import Keyring, derive_key

# A fixed key is fine for a local demo and unit tests; production refuses it (see validator).
_DEV_KEY_B64 = base64.urlsafe_b64encode(b"0" * 32).decode()
# Rate-limit counters are swept once they are a day old (workflows/retention.py).
_DAY_S = 24 * 60 * 60
ADMIN_TOKEN_MIN_CHARS = 32


class Settings(BaseSettings):
    """Tendero settings, read from the environment and ``.env``.

    Attributes mirror the environment variable names in lower case (``database_url`` is
    ``DATABASE_URL``). ``None`` for ``database_url`` / ``temporal_address`` means "use the
    embedded server that ``tendero dev`` starts".
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    tendero_env: Literal["dev", "test", "production"] = "dev"
    tendero_data_dir: Path = Path(".tendero")
    tendero_secret_key: SecretStr = SecretStr(_DEV_KEY_B64)
    # Comma-separated older keys, still accepted for reading until `tendero secrets rotate`.
    tendero_previous_secret_keys: SecretStr | None = None
    tendero_sink_enabled: bool = False
    tendero_public_url: str = "http://127.0.0.1:8000"
    tendero_admin_token: SecretStr = SecretStr("dev-admin-token")

    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "tendero"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # Browser origin(s) of the Temporal UI allowed to call /codec (CORS), comma-separated;
    # unset: the origin of TEMPORAL_UI_URL (README: payload encryption and the codec endpoint).
    temporal_ui_origin: str | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    # At most 80 s: a model round (summary + answer) must fit the activity's 3 minutes.
    openai_timeout_s: float = Field(default=30.0, gt=0, le=80)
    agent_max_tool_rounds: int = Field(default=5, ge=1, le=12)
    agent_context_messages: int = Field(default=20, ge=2)
    agent_summary_batch: int = Field(default=20, ge=2)

    whatsapp_app_secret: SecretStr = SecretStr("dev-app-secret")
    whatsapp_verify_token: SecretStr = SecretStr("dev-verify-token")
    whatsapp_graph_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v23.0"
    whatsapp_phone_number_id: str = "100000000000001"
    whatsapp_access_token: SecretStr = SecretStr("dev-access-token")
    webhook_max_body_bytes: int = Field(default=1_000_000, gt=0)

    # Shopify app (OAuth install, webhook HMAC). The previous secret is still accepted on
    # webhooks for the hour Shopify takes to switch after a rotation.
    shopify_client_id: str | None = None
    shopify_client_secret: SecretStr | None = None
    shopify_previous_client_secret: SecretStr | None = None
    shopify_scopes: str = (
        "read_products,read_customers,read_orders,write_orders,write_draft_orders,write_discounts"
    )
    # Where a shop's Admin API lives; tests and simulators point it at a fake.
    shopify_base_url_template: str = "https://{shop}"
    store_max_concurrency: int = Field(default=4, ge=1, le=32)
    store_sync_interval_s: int = Field(default=900, ge=60)
    store_sync_page_size: int = Field(default=250, ge=1, le=250)
    store_http_timeout_s: float = Field(default=30.0, gt=0)

    # E-mail (SMTP). No SMTP_HOST: nothing can be e-mailed (verification codes are refused
    # with a clear message); `tendero dev` points it at its local mail catcher.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS on a plain connection (port 587), or TLS from the first byte (port 465).
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    mail_from: str = "Tendero <no-reply@tendero.localhost>"

    # Identity verification (VerificationWorkflow).
    verification_code_ttl_s: int = Field(default=5 * 60, gt=0)
    verification_max_attempts: int = Field(default=5, ge=1)
    verification_lock_s: int = Field(default=15 * 60, gt=0)
    verification_codes_per_hour: int = Field(default=3, ge=1)
    # Codes one conversation may ask for in an hour, over all the addresses it types.
    verification_codes_per_conversation: int = Field(default=5, ge=1)
    verification_valid_s: int = Field(default=24 * 60 * 60, gt=0)

    # Agent API (/api/v2) access tokens (JWT, HS256).
    tendero_jwt_ttl_s: int = Field(default=8 * 60 * 60, gt=0)

    # Abandoned-cart recovery defaults; each tenant may override them (tenants.cart_recovery).
    # Steps are seconds after the cart's last change: a chat nudge, then up to 3 e-mails.
    cart_recovery_enabled: bool = True
    cart_recovery_nudge_after_s: int = Field(default=5 * 60, gt=0)
    cart_recovery_email_after_s: str = "3600,86400,259200"
    # Discount of each e-mail step, in percent ("0" for none); codes expire after the TTL.
    cart_recovery_discount_percents: str = "0,10,15"
    cart_recovery_code_ttl_s: int = Field(default=7 * 24 * 60 * 60, gt=0)

    # Privacy: default retention of conversations and transcripts (tenants.retention_days),
    # and when the daily retention sweep runs (UTC hour).
    retention_days: int = Field(default=30, ge=1)
    retention_hour_utc: int = Field(default=3, ge=0, le=23)

    # Abuse limits: hits per fixed window (at most a day: older counters are swept daily);
    # over the limit an inbound message is kept but not answered (one slow-down notice per
    # window), an HTTP call gets 429 with Retry-After.
    rate_inbound_per_customer: int = Field(default=20, ge=1)
    rate_inbound_per_tenant: int = Field(default=600, ge=1)
    rate_inbound_window_s: int = Field(default=60, gt=0, le=_DAY_S)
    rate_api_per_principal: int = Field(default=300, ge=1)
    rate_api_window_s: int = Field(default=60, gt=0, le=_DAY_S)
    rate_login_per_account: int = Field(default=10, ge=1)
    # Failed logins from one client IP (all accounts): higher, offices share addresses.
    rate_login_per_ip: int = Field(default=100, ge=1)
    rate_login_window_s: int = Field(default=15 * 60, gt=0, le=_DAY_S)
    rate_verification_per_tenant: int = Field(default=200, ge=1)
    rate_verification_window_s: int = Field(default=60 * 60, gt=0, le=_DAY_S)
    # Messages from one customer arriving within this window of each other are one turn.
    burst_merge_window_ms: int = Field(default=1500, ge=0, le=10_000)

    checkout_confirm_ttl_s: int = Field(default=30 * 60, gt=0)
    conversation_idle_close_s: int = Field(default=24 * 60 * 60, gt=0)
    conversation_turns_per_run: int = Field(default=200, gt=0)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Force the psycopg 3 driver, whatever scheme the operator wrote."""
        if value is None:
            return None
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        raise ValueError("DATABASE_URL must be a postgresql:// URL")

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        """Refuse the built-in development secrets when running in production."""
        if self.tendero_env != "production":
            return self
        weak = {
            "TENDERO_SECRET_KEY": self.tendero_secret_key.get_secret_value() == _DEV_KEY_B64,
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret.get_secret_value() == "dev-app-secret",
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token.get_secret_value()
            == "dev-verify-token",
            "TENDERO_ADMIN_TOKEN": self.tendero_admin_token.get_secret_value() == "dev-admin-token",
        }
        bad = [name for name, is_weak in weak.items() if is_weak]
        if bad:
            raise ValueError(f"set real values for {', '.join(bad)} in production")
        if len(self.tendero_admin_token.get_secret_value()) < ADMIN_TOKEN_MIN_CHARS:
            # It opens every shop's API and decrypts every payload (/codec): never guessable.
            raise ValueError(
                f"TENDERO_ADMIN_TOKEN must be at least {ADMIN_TOKEN_MIN_CHARS} characters in "
                "production"
            )
        if self.tendero_sink_enabled:
            raise ValueError("TENDERO_SINK_ENABLED must be off in production")
        return self

    @property
    def secret_key_bytes(self) -> bytes:
        """The 32-byte AES-256 key decoded from ``TENDERO_SECRET_KEY`` (url-safe base64)."""
        return _decode_key(self.tendero_secret_key.get_secret_value(), "TENDERO_SECRET_KEY")

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (``otp``, ``jwt``...), derived from the secret key.

        Each purpose gets its own key (HKDF-SHA256), so an HMAC or a token of one kind can
        never be replayed as another.
        """
        return derive_key(self.secret_key_bytes, purpose)

    @property
    def keyring(self) -> Keyring:
        """The current key plus ``TENDERO_PREVIOUS_SECRET_KEYS``, for secrets at rest."""
        previous = (
            self.tendero_previous_secret_keys.get_secret_value().split(",")
            if self.tendero_previous_secret_keys
            else []
        )
        return Keyring(
            self.secret_key_bytes,
            [_decode_key(k.strip(), "TENDERO_PREVIOUS_SECRET_KEYS") for k in previous if k.strip()],
        )


def _decode_key(value: str, name: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(value)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{name} must be 32 bytes, url-safe base64 encoded")
    return key


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
