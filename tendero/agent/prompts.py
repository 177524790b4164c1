"""Prompts: versioned files beside this module, filled with the tenant's preset.

A prompt file is named ``{name}.v{N}.md``; its version is recorded with every model call
(``agent_steps.prompt_version``), so a change of wording is a new file, never an edit of a
version already in use. Placeholders use ``string.Template`` syntax (``$company_name``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from string import Template

from tendero.agent.presets import Preset

_DIR = Path(__file__).with_name("prompts")
SYSTEM_PROMPT = "system.v1"
SUMMARY_PROMPT = "summary.v1"

LANGUAGE_NAMES = {"en": "English", "es": "Spanish (español)"}


@cache
def _template(version: str) -> Template:
    return Template((_DIR / f"{version}.md").read_text(encoding="utf-8"))


def system_prompt(
    preset: Preset,
    *,
    company_name: str,
    assistant_name: str | None,
    language: str,
    currency: str,
    today: datetime,
    customer_name: str | None,
) -> str:
    """The system prompt for one model call.

    Args:
        preset: the tenant's business preset.
        company_name: the shop's name.
        assistant_name: the tenant's own assistant name, else the preset's.
        language: ISO 639-1 code of the reply language.
        currency: ISO 4217 code of the shop's prices.
        today: aware UTC now (only its date is used).
        customer_name: the customer's profile name, if known.

    Returns:
        The rendered prompt text.
    """
    noun = preset.noun("en")
    return _template(SYSTEM_PROMPT).substitute(
        assistant_name=assistant_name or preset.assistant_name,
        company_name=company_name,
        focus=preset.focus_in("en"),
        language_name=LANGUAGE_NAMES.get(language, language),
        today=today.date().isoformat(),
        currency=currency,
        ticket_noun=noun,
        ticket_noun_plural=f"{noun}s",
        ticket_categories=", ".join(preset.ticket_categories),
        customer_line=f"The customer's name is {customer_name}." if customer_name else "",
    )


def summary_prompt(preset: Preset, *, company_name: str) -> str:
    """The instruction for refreshing a long conversation's running summary."""
    return _template(SUMMARY_PROMPT).substitute(
        company_name=company_name, ticket_noun=preset.noun("en")
    )
