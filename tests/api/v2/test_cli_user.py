"""``tendero user create`` / ``tendero user list`` against the test database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from tendero.cli import app
from tendero.db.models import Tenant, User
from tendero.settings import get_settings
from tendero.users import verify_password


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    get_settings.cache_clear()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TENDERO_SECRET_KEY", "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=")
    yield
    get_settings.cache_clear()


def _users(database_url: str, slug: str) -> list[User]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(User.email, User.role, User.name, User.password_hash)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(Tenant.slug == slug)
                .order_by(User.email)
            ).all()
            return [User(email=e, role=r, name=n, password_hash=h) for e, r, n, h in rows]
    finally:
        engine.dispose()


def test_user_create_and_list(env: None, database_url: str) -> None:
    runner = CliRunner()
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    made = runner.invoke(
        app,
        [
            "tenant",
            "create",
            "--slug",
            slug,
            "--name",
            "CLI Shop",
            "--phone-number-id",
            str(uuid.uuid4().int)[:15],
            "--access-token",
            "secret-token",
        ],
    )
    assert made.exit_code == 0, made.output
    created = runner.invoke(
        app,
        [
            "user",
            "create",
            slug,
            "Boss@Shop.test",
            "--name",
            "Boss",
            "--role",
            "admin",
            "--password",
            "boss password 1",
        ],
    )
    assert created.exit_code == 0, created.output
    assert "created admin" in created.output and "boss password" not in created.output
    prompted = runner.invoke(
        app,
        ["user", "create", slug, "agent@shop.test", "--name", "Agent", "--role", "agent"],
        input="agent password\nagent password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "agent password" not in prompted.output
    users = _users(database_url, slug)
    assert [(u.email, u.role, u.name) for u in users] == [
        ("agent@shop.test", "agent", "Agent"),
        ("boss@shop.test", "admin", "Boss"),
    ]
    assert verify_password("agent password", users[0].password_hash)
    assert verify_password("boss password 1", users[1].password_hash)

    duplicate = runner.invoke(
        app,
        [
            "user",
            "create",
            slug,
            "boss@shop.test",
            "--name",
            "B",
            "--role",
            "agent",
            "--password",
            "another password",
        ],
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    short = runner.invoke(
        app,
        [
            "user",
            "create",
            slug,
            "x@shop.test",
            "--name",
            "X",
            "--role",
            "agent",
            "--password",
            "short",
        ],
    )
    assert short.exit_code == 1 and "at least 10" in short.output
    bad_role = runner.invoke(
        app,
        [
            "user",
            "create",
            slug,
            "x@shop.test",
            "--name",
            "X",
            "--role",
            "owner",
            "--password",
            "long enough pw",
        ],
    )
    assert bad_role.exit_code == 2
    missing = runner.invoke(
        app,
        [
            "user",
            "create",
            "no-such-shop",
            "x@shop.test",
            "--name",
            "X",
            "--role",
            "agent",
            "--password",
            "long enough pw",
        ],
    )
    assert missing.exit_code == 1
    assert len(_users(database_url, slug)) == 2

    listed = runner.invoke(app, ["user", "list", slug], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "boss@shop.test" in listed.output and "agent@shop.test" in listed.output
    assert "admin" in listed.output and "scrypt" not in listed.output
