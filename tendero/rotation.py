"""Re-encrypt every secret at rest under the current key (``tendero secrets rotate``).

After ``TENDERO_SECRET_KEY`` changes (the old key moved to ``TENDERO_PREVIOUS_SECRET_KEYS``),
secrets stay readable through the keyring's key ids; this rewrites them under the new key,
after which the old key can be dropped. Rows already under the current key are left alone,
so the command can be run again safely.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.crypto import Keyring
from tendero.db.models import Integration, Tenant


@dataclass
class RotationReport:
    """How many secrets were re-encrypted, and how many were already current."""

    rewritten: int = 0
    current: int = 0


def _rewrap(keyring: Keyring, blob: bytes, context: bytes, report: RotationReport) -> bytes:
    if keyring.is_current(blob):
        report.current += 1
        return blob
    report.rewritten += 1
    return keyring.encrypt(keyring.decrypt(blob, context=context), context=context)


async def rotate_secrets(
    session: AsyncSession, keyring: Keyring, *, tenant_id: uuid.UUID | None = None
) -> RotationReport:
    """Rewrite tenants' WhatsApp and model keys and integrations' credentials; caller commits.

    ``tenant_id`` limits the rotation to one shop (the default is every shop).

    Raises:
        DecryptionError: a secret was sealed with a key that is not configured any more.
    """
    report = RotationReport()
    tenants = select(Tenant).with_for_update()
    integrations = select(Integration).with_for_update()
    if tenant_id is not None:
        tenants = tenants.where(Tenant.id == tenant_id)
        integrations = integrations.where(Integration.tenant_id == tenant_id)
    for tenant in (await session.execute(tenants)).scalars():
        if tenant.whatsapp_access_token_enc is not None:
            tenant.whatsapp_access_token_enc = _rewrap(
                keyring, tenant.whatsapp_access_token_enc, tenant.slug.encode(), report
            )
        if tenant.openai_api_key_enc is not None:
            tenant.openai_api_key_enc = _rewrap(
                keyring, tenant.openai_api_key_enc, f"{tenant.slug}:openai".encode(), report
            )
    for integration in (await session.execute(integrations)).scalars():
        if integration.credentials_enc is not None:
            integration.credentials_enc = _rewrap(
                keyring,
                integration.credentials_enc,
                f"integration:{integration.id}".encode(),
                report,
            )
    return report
