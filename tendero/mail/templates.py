"""Mail templates: Jinja2 files per language, rendered to a subject, a text and an HTML body.

Each template is three files under ``templates/{language}/``: ``{name}.subject.txt``,
``{name}.txt`` and ``{name}.html``. Only ``.html`` files are autoescaped; every value is
required (``StrictUndefined``), so a forgotten value fails loudly instead of mailing a blank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import jinja2
from pydantic import BaseModel

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_LANGUAGE = "en"

# Names become file paths: anything else could walk out of the template folder.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class UnknownTemplate(ValueError):
    """No template of that name exists (in the requested language nor in English)."""


class RenderedMail(BaseModel):
    """A template rendered for one mail.

    Attributes:
        subject: one line, whitespace collapsed (safe as a header).
        text: the text/plain body.
        html: the text/html body, values escaped.
    """

    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment over ``templates/`` (autoescape for ``.html`` only)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def available_templates() -> frozenset[str]:
    """Names of the templates shipped in English (every template exists in English)."""
    folder = TEMPLATE_DIR / DEFAULT_LANGUAGE
    return frozenset(
        path.name.removesuffix(".subject.txt") for path in folder.glob("*.subject.txt")
    )


def _language_folder(template: str, language: str) -> str:
    """The first of ``es-MX`` -> ``es`` -> ``en`` that has the template."""
    base = language.replace("_", "-").split("-")[0].lower()
    for candidate in (base, DEFAULT_LANGUAGE):
        if (
            _LANGUAGE.match(candidate)
            and (TEMPLATE_DIR / candidate / f"{template}.subject.txt").is_file()
        ):
            return candidate
    raise UnknownTemplate(f"no mail template {template!r}")


def render(template: str, language: str, values: Mapping[str, str]) -> RenderedMail:
    """Render ``template`` in ``language`` (falling back to English) with ``values``.

    Args:
        template: the template's name, e.g. ``verification_code``.
        language: a language code (``es``, ``es-MX``); unknown languages use English.
        values: every placeholder the template uses.

    Returns:
        The subject (one line), the text body and the HTML body.

    Raises:
        UnknownTemplate: no such template.
        jinja2.UndefinedError: a value the template needs is missing.
    """
    if not _NAME.match(template):
        raise UnknownTemplate(f"no mail template {template!r}")
    folder = _language_folder(template, language)
    env = environment()
    context = dict(values)

    def part(suffix: str) -> str:
        return env.get_template(f"{folder}/{template}{suffix}").render(context)

    return RenderedMail(
        subject=" ".join(part(".subject.txt").split()),
        text=part(".txt"),
        html=part(".html"),
    )
