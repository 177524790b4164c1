"""Business presets: assistant name, ticket noun and categories, which tools exist.

Presets are data (``presets.toml`` beside this module). A tenant's ``preset`` column names
one; an unknown name falls back to ``support`` (no store tools), so a typo never exposes
the e-commerce tools to a business without a store.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

_FILE = Path(__file__).with_name("presets.toml")
FALLBACK_PRESET = "support"

STORE_TOOLS: tuple[str, ...] = (
    "search_ecommerce_products",
    "get_ecommerce_order",
    "get_active_orders",
    "add_to_cart",
    "view_cart",
    "create_ecommerce_order",
)
SUPPORT_TOOLS: tuple[str, ...] = (
    "create_ticket_report",
    "get_ticket_information",
    "request_human_agent",
)


class Preset(BaseModel):
    """One business type (see ``presets.toml``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    assistant_name: str
    has_store: bool
    ticket_noun: dict[str, str]
    ticket_categories: tuple[str, ...]
    focus: dict[str, str]

    @property
    def tools(self) -> tuple[str, ...]:
        """The tool names this business type offers the model."""
        return (STORE_TOOLS if self.has_store else ()) + SUPPORT_TOOLS

    def noun(self, language: str) -> str:
        """The ticket noun in ``language`` (English when not translated)."""
        return self.ticket_noun.get(language) or self.ticket_noun["en"]

    def focus_in(self, language: str) -> str:
        """What the business does, in ``language`` (English when not translated)."""
        return self.focus.get(language) or self.focus["en"]


@cache
def all_presets() -> dict[str, Preset]:
    """Every preset by name, read once from ``presets.toml``."""
    raw = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    return {name: Preset(name=name, **values) for name, values in raw.items()}


def get_preset(name: str | None) -> Preset:
    """The preset called ``name``, or the tool-less ``support`` preset when unknown."""
    presets = all_presets()
    return presets.get(name or "", presets[FALLBACK_PRESET])
