"""Credentials at rest: sealed to their row, readable across a key rotation, then re-sealed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.crypto import DecryptionError, Keyring
from tendero.db.models import Integration
from tendero.rotation import rotate_secrets
from tendero.stores.credentials import CustomCredentials
from tendero.stores.integrations import connect, open_credentials
from tests.stores.conftest import NewTenant

OLD, NEW = b"o" * 32, b"n" * 32


async def test_rotation_rewrites_credentials_under_the_new_key(
    sessionmaker: async_sessionmaker[AsyncSession], store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    credentials = CustomCredentials(username="svc", password=SecretStr("s3cret-pass"))
    async with sessionmaker() as session, session.begin():
        row = await connect(
            session,
            Keyring(OLD),
            tenant_id=tenant.id,
            kind="custom",
            name="Backend",
            credentials=credentials,
            base_url="https://backend.example",
        )
    assert row.credentials_enc is not None and b"s3cret-pass" not in row.credentials_enc

    rotated = Keyring(NEW, [OLD])
    async with sessionmaker() as session, session.begin():
        assert open_credentials(rotated, await session.get_one(Integration, row.id)) == credentials
        report = await rotate_secrets(session, rotated, tenant_id=tenant.id)
        again = await rotate_secrets(session, rotated, tenant_id=tenant.id)
    assert (report.rewritten, again.rewritten, again.current) == (1, 0, 1)

    async with sessionmaker() as session:
        stored = await session.get_one(Integration, row.id)
    assert open_credentials(Keyring(NEW), stored) == credentials
    with pytest.raises(DecryptionError):
        open_credentials(Keyring(OLD), stored)
    # Sealed to its row: the same blob on another integration does not open.
    stored.id = tenant.id
    with pytest.raises(DecryptionError):
        open_credentials(Keyring(NEW), stored)
