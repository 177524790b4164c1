"""The ``tendero`` command against the test database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from tendero.cli import app
from tendero.db.models import Product, Tenant
from tendero.settings import get_settings


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    get_settings.cache_clear()
    values = {
        "DATABASE_URL": database_url,
        "TENDERO_SECRET_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values
    get_settings.cache_clear()


def count(database_url: str, statement) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())
    finally:
        engine.dispose()


def test_tenant_create_and_catalog_import(
    env: dict[str, str], fixtures_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(
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
            "--payment-method",
            "cash",
            "--payment-method",
            "bank_transfer",
        ],
    )
    assert created.exit_code == 0, created.output
    assert f"created tenant {slug}" in created.output
    assert "secret-token" not in created.output

    csv_file = fixtures_dir / "woocommerce" / "sample_products.csv"
    imported = runner.invoke(
        app, ["catalog", "import", "--tenant", slug, "--format", "woocommerce-csv", str(csv_file)]
    )
    assert imported.exit_code == 0, imported.output
    assert "products: 16 created, 0 updated" in imported.output
    assert "skipped: 2" in imported.output
    tenant_products = (
        select(func.count())
        .select_from(Product)
        .join(Tenant, Tenant.id == Product.tenant_id)
        .where(Tenant.slug == slug)
    )
    assert count(env["DATABASE_URL"], tenant_products) == 16

    again = runner.invoke(
        app, ["catalog", "import", "--tenant", slug, "--format", "woocommerce-csv", str(csv_file)]
    )
    assert "products: 0 created, 16 updated" in again.output
    assert count(env["DATABASE_URL"], tenant_products) == 16

    bad_csv = tmp_path / "bad.csv"  # the sample with its Type column renamed
    bad_csv.write_text(csv_file.read_text().replace("ID,Type,SKU", "ID,Kind,SKU", 1))
    refused = runner.invoke(app, ["catalog", "import", "--tenant", slug, str(bad_csv)])
    assert refused.exit_code == 1
    assert "import refused, nothing was written" in refused.output
    assert count(env["DATABASE_URL"], tenant_products) == 16


def test_import_errors_are_clear(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Price\nx,1\n")
    unknown = runner.invoke(app, ["catalog", "import", "--tenant", "no-such-shop", str(bad)])
    assert unknown.exit_code != 0
    assert "no tenant 'no-such-shop'" in unknown.output
    wrong_format = runner.invoke(
        app, ["catalog", "import", "--tenant", "x", "--format", "shopify", str(bad)]
    )
    assert wrong_format.exit_code != 0
    assert "only 'woocommerce-csv' is supported" in wrong_format.output
    assert count(env["DATABASE_URL"], text("select 1")) == 1


def test_tenant_assistant_settings(env: dict[str, str]) -> None:
    runner = CliRunner()
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    phone_number_id = str(uuid.uuid4().int)[:15]
    create = ["tenant", "create", "--slug", slug, "--name", "Trattoria"]
    create += ["--phone-number-id", phone_number_id, "--access-token", "t"]
    assert runner.invoke(app, create).exit_code == 0
    result = runner.invoke(
        app,
        [
            "tenant",
            "assistant",
            slug,
            "--preset",
            "restaurant",
            "--language",
            "es",
            "--locale",
            "es_MX",
            "--model",
            "llama3.1",
            "--base-url",
            "http://127.0.0.1:11434/v1",
            "--api-key",
            "sk-local-secret",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "preset restaurant" in result.output and "sk-local-secret" not in result.output
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(
                    Tenant.preset,
                    Tenant.languages,
                    Tenant.locale,
                    Tenant.openai_model,
                    Tenant.openai_base_url,
                    Tenant.openai_api_key_enc,
                ).where(Tenant.slug == slug)
            ).one()
    finally:
        engine.dispose()
    assert row[:5] == ("restaurant", ["en", "es"], "es_MX", "llama3.1", "http://127.0.0.1:11434/v1")
    assert b"sk-local-secret" not in row[5]
    bad = runner.invoke(app, ["tenant", "assistant", slug, "--preset", "casino"])
    assert bad.exit_code == 1 and "preset must be one of" in bad.output
    bad = runner.invoke(app, ["tenant", "assistant", slug, "--language", "fr"])
    assert bad.exit_code == 1 and "languages must be among" in bad.output
    missing = runner.invoke(app, ["tenant", "assistant", "no-such-shop", "--preset", "support"])
    assert missing.exit_code == 1 and "no tenant" in missing.output
