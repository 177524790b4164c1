"""Presets, prompts and the model settings resolution (no servers needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tendero.agent.model import resolve_model_config
from tendero.agent.presets import STORE_TOOLS, SUPPORT_TOOLS, all_presets, get_preset
from tendero.agent.prompts import system_prompt
from tendero.agent.tools import TOOLS, tool_definitions
from tendero.crypto import encrypt_secret
from tendero.db.models import Tenant
from tendero.settings import Settings


def test_every_preset_names_real_tools_and_categories() -> None:
    presets = all_presets()
    assert set(presets) == {"ecommerce", "restaurant", "luxfree", "healthcare", "support"}
    assert presets["ecommerce"].ticket_categories == (
        "product_inquiry",
        "return_exchange",
        "shipping_issue",
        "payment_issue",
        "product_defect",
        "other",
    )
    for preset in presets.values():
        assert set(preset.tools) <= set(TOOLS)
        assert set(SUPPORT_TOOLS) <= set(preset.tools)
        assert bool(set(STORE_TOOLS) & set(preset.tools)) is preset.has_store
        assert preset.noun("es") and preset.focus_in("es")


def test_unknown_preset_falls_back_to_no_store_tools() -> None:
    assert get_preset("casino").name == "support"
    assert get_preset(None).tools == SUPPORT_TOOLS


def test_tool_schemas_are_json_schema_objects() -> None:
    definitions = tool_definitions(get_preset("ecommerce").tools)
    assert [d["function"]["name"] for d in definitions] == list(STORE_TOOLS + SUPPORT_TOOLS)
    search = definitions[0]["function"]["parameters"]
    assert search["type"] == "object" and search["additionalProperties"] is False
    assert search["properties"]["limit"]["maximum"] == 10
    order = next(d for d in definitions if d["function"]["name"] == "get_ecommerce_order")
    assert order["function"]["parameters"]["properties"]["search_type"]["enum"] == [
        "order_id",
        "phone",
        "email",
    ]


def test_system_prompt_is_filled_from_the_preset() -> None:
    text = system_prompt(
        get_preset("healthcare"),
        company_name="Clinica Sol",
        assistant_name=None,
        language="es",
        currency="MXN",
        today=datetime(2026, 11, 21, tzinfo=UTC),
        customer_name="Ana",
    )
    assert text.startswith("You are Tendero, the WhatsApp assistant of Clinica Sol, a healthcare")
    assert "Reply in Spanish (español)." in text
    assert "appointment, prescription, test_results, billing, other" in text
    assert "Today is 2026-11-21 (UTC)" in text and "in MXN" in text
    assert "The customer's name is Ana." in text
    assert "$" not in text  # every placeholder was filled


def _tenant(**values: object) -> Tenant:
    return Tenant(slug="acme", name="Acme", currency="USD", **values)


@pytest.mark.parametrize(
    ("settings", "tenant", "expected"),
    [
        ({}, {}, None),
        ({"openai_model": "gpt-4o-mini"}, {}, None),  # api.openai.com needs a key
        (
            {"openai_model": "gpt-4o-mini", "openai_api_key": "sk-1"},
            {},
            ("gpt-4o-mini", None, "sk-1"),
        ),
        (
            {"openai_model": "m", "openai_base_url": "http://127.0.0.1:11434/v1"},
            {},
            ("m", "http://127.0.0.1:11434/v1", "no-key"),
        ),
        (
            {"openai_model": "gpt-4o-mini", "openai_api_key": "sk-1"},
            {"openai_model": "llama3.1", "openai_base_url": "http://vllm:8000/v1"},
            ("llama3.1", "http://vllm:8000/v1", "no-key"),  # the global key stays home
        ),
    ],
)
def test_model_settings_resolution(settings, tenant, expected) -> None:
    unset = {"openai_model": None, "openai_api_key": None, "openai_base_url": None}
    config = resolve_model_config(_tenant(**tenant), Settings(**{**unset, **settings}), b"k" * 32)
    if expected is None:
        assert config is None
    else:
        assert config is not None
        assert (config.model, config.base_url, config.api_key) == expected
        assert config.api_key not in repr(config)


def test_global_key_never_goes_to_a_shops_own_server() -> None:
    tenant = _tenant(openai_model="llama3.1", openai_base_url="http://shop-llm:8000/v1")
    settings = Settings(openai_api_key="sk-platform", openai_base_url=None, openai_model=None)
    config = resolve_model_config(tenant, settings, b"k" * 32)
    assert config is not None
    assert (config.base_url, config.api_key) == ("http://shop-llm:8000/v1", "no-key")


def test_tenant_key_overrides_the_global_key() -> None:
    key = b"k" * 32
    tenant = _tenant(
        openai_model="m", openai_api_key_enc=encrypt_secret("sk-shop", key, context=b"acme:openai")
    )
    config = resolve_model_config(
        tenant, Settings(openai_api_key="sk-global", openai_base_url=None), key
    )
    assert config is not None and config.api_key == "sk-shop"
